//! The layer store: where imported images live, and the one function the
//! launcher needs from it, [`read_image`].
//!
//! ```text
//! STORE/lock                 flock(2): LOCK_EX while importing, rm, gc
//! STORE/layers/<hex>/        a layer's files, hex = sha256 of its tar (the
//!                            config's diff_id); an overlayfs lowerdir as is
//! STORE/images/<NAME:TAG>    the image record, '/' written as %2F
//! STORE/tmp/                 unpacks in progress, renamed into layers/
//! ```
//!
//! An image record is in husk's line format (record.rs), so the launcher
//! reads it without a JSON parser; lists repeat their key, top layer first:
//!
//! ```text
//! husk-image 1
//! name example.com/app:1
//! id sha256:<hex of the image config>
//! layer sha256:<diff_id of the top layer>
//! layer sha256:<diff_id of the base layer>
//! env PATH=/usr/bin:/bin
//! entrypoint /bin/sh
//! cmd -c
//! workdir /srv
//! user 1000:1000
//! end
//! ```
//!
//! Layers are shared: an image whose base is already stored only adds its
//! own layers. Records and layers appear by rename(2), so a reader never
//! sees half of one; the lock orders the writers, and whoever holds it
//! empties tmp/ of what an interrupted import left.

use crate::json::Value;
use crate::record::{self, put, Damage};
use crate::tree;
use alloc::string::String;
use alloc::vec::Vec;
use husk_sys::fd::{flock, LOCK_EX, LOCK_NB, LOCK_SH};
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_PATH, O_RDONLY, O_RDWR};
use husk_sys::{CBuf, Context, Errno, Error, Fd, OwnedFd};

/// Where images go without `--store`.
pub const DEFAULT_STORE: &[u8] = b"/var/lib/husk";

/// The parts of an image's config a container start applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `KEY=VALUE` strings.
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
    /// `user`, `uid`, `user:group` or `uid:gid`, as the image says.
    pub user: String,
}

/// An image as the launcher sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    /// `NAME:TAG`.
    pub name: String,
    /// Absolute layer directories, top first (overlayfs lowerdir order).
    pub layers: Vec<Vec<u8>>,
    /// The layers' diff_ids (`sha256:<hex>`), top first.
    pub diff_ids: Vec<String>,
    /// `sha256:<hex>` of the image config: the image ID.
    pub id: String,
    pub config: ImageConfig,
}

/// Read the record of `name_tag` (`:latest` implied) from the store at
/// `store_dir`. Takes no lock: records are replaced by rename.
pub fn read_image(store_dir: &[u8], name_tag: &[u8]) -> Result<ImageRecord, Error> {
    let name = normalize_name(name_tag)?;
    let store = absolute(store_dir)?;
    let mut path = CBuf::<4096>::new();
    path.b(&store).s("/images/").b(&record_file_name(&name));
    let at = path.bytes().to_vec();
    let text = match fs::read_to_vec(Fd::CWD, path.cstr().at("read image record", &at)?) {
        Err(Errno::ENOENT) => return Err(Error::msg("image", &name, "no such image in the store")),
        r => r.at("read image record", &at)?,
    };
    parse_record(&text, &store).map_err(|d| Error::msg("image record", &at, d))
}

/// `name` with `:latest` added when it has no tag (a `:` after the last
/// `/`) and no digest; refused when empty, too long, or holding spaces or
/// control characters.
pub fn normalize_name(name: &[u8]) -> Result<Vec<u8>, Error> {
    if name.is_empty() || name.len() > 200 || name.iter().any(|&c| c <= b' ' || c == 0x7f) {
        return Err(Error::msg("image name", name, "invalid (want NAME[:TAG])"));
    }
    let last = name.rsplit(|&c| c == b'/').next().unwrap_or(name);
    if last.is_empty() || name.first() == Some(&b'/') {
        return Err(Error::msg("image name", name, "invalid (want NAME[:TAG])"));
    }
    let mut out = name.to_vec();
    if !last.contains(&b':') && !name.contains(&b'@') {
        out.extend_from_slice(b":latest");
    }
    Ok(out)
}

/// The file name of an image record: the name with every byte outside
/// `[A-Za-z0-9._:@+-]` (notably `/`) as `%XX`, and a leading `.` escaped,
/// so that no name can be `..` or reach outside images/.
pub fn record_file_name(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for (i, &c) in name.iter().enumerate() {
        let plain = c.is_ascii_alphanumeric() || b"_:@+-".contains(&c) || (c == b'.' && i > 0);
        if plain {
            out.push(c);
        } else {
            out.push(b'%');
            out.extend_from_slice(&[b"0123456789ABCDEF"[(c >> 4) as usize], b"0123456789ABCDEF"[(c & 15) as usize]]);
        }
    }
    out
}

/// `path` made absolute against the working directory (the launcher hands
/// the layer paths to mount(2) from another directory).
pub fn absolute(path: &[u8]) -> Result<Vec<u8>, Error> {
    if path.first() == Some(&b'/') {
        return Ok(path.to_vec());
    }
    let mut buf = [0u8; 4096];
    let cwd = fs::getcwd(&mut buf).ctx("getcwd")?;
    let mut out = cwd.to_vec();
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(path);
    Ok(out)
}

/// True for 64 lowercase hex digits: a layer directory name.
pub fn is_hex64(s: &[u8]) -> bool {
    s.len() == 64 && s.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

fn strings(v: Option<&Value>) -> Result<Vec<String>, &'static str> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            a.iter().map(|s| s.as_str().map(String::from).ok_or("expected an array of strings")).collect()
        }
        _ => Err("expected an array of strings"),
    }
}

fn string(v: Option<&Value>) -> Result<String, &'static str> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err("expected a string"),
    }
}

/// The fields of an image config's `config` object (OCI image-spec
/// config.md: Env, Entrypoint, Cmd, WorkingDir, User); null or absent
/// fields are empty.
pub fn parse_config(c: Option<&Value>) -> Result<ImageConfig, &'static str> {
    let Some(c) = c.filter(|v| !v.is_null()) else {
        return Ok(ImageConfig::default());
    };
    if c.as_object().is_none() {
        return Err("image config: \"config\" is not an object");
    }
    Ok(ImageConfig {
        env: strings(c.get("Env"))?,
        entrypoint: strings(c.get("Entrypoint"))?,
        cmd: strings(c.get("Cmd"))?,
        working_dir: string(c.get("WorkingDir"))?,
        user: string(c.get("User"))?,
    })
}

/// The text of a record (the format in the module comment).
pub fn record_text(name: &str, id: &str, diff_ids_top_first: &[String], c: &ImageConfig) -> Vec<u8> {
    let mut out = Vec::from(IMAGE_HEAD);
    out.push(b'\n');
    put(&mut out, "name", name.as_bytes());
    put(&mut out, "id", id.as_bytes());
    for (key, list) in [("layer", diff_ids_top_first), ("env", &c.env), ("entrypoint", &c.entrypoint), ("cmd", &c.cmd)]
    {
        for v in list {
            put(&mut out, key, v.as_bytes());
        }
    }
    put(&mut out, "workdir", c.working_dir.as_bytes());
    put(&mut out, "user", c.user.as_bytes());
    out.extend_from_slice(b"end\n");
    out
}

/// The old name of [`record_text`], still called by import.rs.
pub fn record_json(name: &str, id: &str, diff_ids_top_first: &[String], c: &ImageConfig) -> Vec<u8> {
    record_text(name, id, diff_ids_top_first, c)
}

const IMAGE_HEAD: &[u8] = b"husk-image 1";

/// Parse a record; layer paths are made under `store` (absolute). Every
/// layer must be `sha256:<64 hex>`, so a tampered record cannot name a
/// directory outside layers/.
pub fn parse_record(text: &[u8], store: &[u8]) -> Result<ImageRecord, &'static str> {
    let mut r = ImageRecord {
        name: String::new(),
        layers: Vec::new(),
        diff_ids: Vec::new(),
        id: String::new(),
        config: ImageConfig::default(),
    };
    let mut why = "corrupt image record";
    let read = record::fields(text, IMAGE_HEAD, &mut |key, v| {
        let Ok(v) = String::from_utf8(v) else {
            return false;
        };
        let c = &mut r.config;
        // A key table and a match on its index: a match on byte strings
        // compiles to a length test and a compare per arm.
        const KEYS: [&[u8]; 7] = [b"name", b"id", b"layer", b"env", b"entrypoint", b"cmd", b"workdir"];
        match KEYS.iter().position(|k| *k == key) {
            Some(0) => r.name = v,
            Some(1) => r.id = v,
            Some(2) => {
                let Some(hex) = v.strip_prefix("sha256:").filter(|h| is_hex64(h.as_bytes())) else {
                    why = "bad layer digest";
                    return false;
                };
                let mut p = store.to_vec();
                p.extend_from_slice(b"/layers/");
                p.extend_from_slice(hex.as_bytes());
                r.layers.push(p);
                r.diff_ids.push(v);
            }
            Some(3) => c.env.push(v),
            Some(4) => c.entrypoint.push(v),
            Some(5) => c.cmd.push(v),
            Some(6) => c.working_dir = v,
            _ if key == b"user" => c.user = v,
            _ => {}
        }
        true
    });
    match read {
        Ok(()) => Ok(r),
        Err(Damage::Truncated) => Err("truncated image record"),
        Err(Damage::Corrupt) => Err(why),
    }
}

/// An open store, locked for the caller's purpose.
pub struct Store {
    /// The store's absolute path.
    pub path: Vec<u8>,
    pub dir: OwnedFd,
    pub layers: OwnedFd,
    pub images: OwnedFd,
    pub tmp: OwnedFd,
    _lock: OwnedFd,
}

fn open_sub(dir: Fd, name: &core::ffi::CStr, create: bool) -> Result<OwnedFd, Errno> {
    if create {
        match fs::mkdirat(dir, name, 0o755) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    fs::openat(dir, name, O_RDONLY | O_DIRECTORY | fs::O_NOFOLLOW | O_CLOEXEC, 0)
}

impl Store {
    /// Open the store at `path` (created, with its parents, if `exclusive`:
    /// only writers need it to exist). `exclusive` takes LOCK_EX and then
    /// clears tmp/; otherwise LOCK_SH, so gc waits for readers.
    pub fn open(path: &[u8], exclusive: bool) -> Result<Store, Error> {
        let abs = absolute(path)?;
        let root = if exclusive {
            // mkdir -p from the real root; the walk treats `abs` as relative to it.
            let slash = fs::openat(Fd::CWD, c"/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0).ctx("open /")?;
            husk_sys::beneath::mkdir_in_root(slash.fd(), &abs, Some(0o755))
        } else {
            let mut c = CBuf::<4096>::from(&abs);
            fs::openat(Fd::CWD, c.cstr().at("open store", &abs)?, O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
        };
        let root = match root {
            Err(Errno::ENOENT) => return Err(Error::msg("store", &abs, "no such store (nothing imported yet)")),
            r => r.at("open store", &abs)?,
        };
        let lock =
            fs::openat(root.fd(), c"lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600).at("open lock of store", &abs)?;
        let op = if exclusive { LOCK_EX } else { LOCK_SH };
        if flock(lock.fd(), op | LOCK_NB) == Err(Errno::EAGAIN) {
            husk_sys::fmt::stderr().s("husk-rootfs: waiting for the lock of store ").b(&abs).c(b'\n');
            flock(lock.fd(), op).at("lock store", &abs)?;
        }
        let sub = |name: &core::ffi::CStr, what: &'static str| open_sub(root.fd(), name, exclusive).at(what, &abs);
        let store = Store {
            layers: sub(c"layers", "open layers/ of store")?,
            images: sub(c"images", "open images/ of store")?,
            tmp: sub(c"tmp", "open tmp/ of store")?,
            dir: root,
            path: abs,
            _lock: lock,
        };
        if exclusive {
            // Whatever is in tmp/ belongs to an import that died: we hold
            // the only write lock, so no live import owns it.
            tree::clear_dir(store.tmp.fd()).at("clean tmp/ of store", &store.path)?;
        }
        Ok(store)
    }

    /// `STORE/SUB/NAME` for messages.
    pub fn path_of(&self, sub: &str, name: &[u8]) -> Vec<u8> {
        let mut p = self.path.clone();
        p.push(b'/');
        p.extend_from_slice(sub.as_bytes());
        p.push(b'/');
        p.extend_from_slice(name);
        p
    }

    pub fn has_layer(&self, hex: &[u8]) -> bool {
        let mut c = CBuf::<128>::from(hex);
        c.cstr().is_ok_and(|c| fs::fstatat(self.layers.fd(), c, fs::AT_SYMLINK_NOFOLLOW).is_ok_and(|s| s.is_dir()))
    }

    /// Every record: (file name, parsed record), sorted by file name.
    pub fn images(&self) -> Result<Vec<(Vec<u8>, ImageRecord)>, Error> {
        let mut out = Vec::new();
        for file in tree::list_sorted(self.images.fd()).at("list images/ of store", &self.path)? {
            if file.starts_with(b".") {
                continue; // a record being written
            }
            let mut c = CBuf::<512>::from(&file);
            let at = self.path_of("images", &file);
            let text = fs::read_to_vec(self.images.fd(), c.cstr().at("read", &at)?).at("read", &at)?;
            let rec = parse_record(&text, &self.path).map_err(|d| Error::msg("image record", &at, d))?;
            out.push((file, rec));
        }
        Ok(out)
    }

    /// Write the record of `name` (normalized) by rename, replacing any.
    pub fn write_record(&self, name: &[u8], json: &[u8]) -> Result<(), Error> {
        let file = record_file_name(name);
        let at = self.path_of("images", &file);
        let mut tmp = CBuf::<512>::new();
        tmp.s(".new-").u(husk_sys::process::getpid() as u64);
        let tmp_name = tmp.cstr().at("write", &at)?;
        let fd = fs::openat(self.images.fd(), tmp_name, fs::O_WRONLY | O_CREAT | fs::O_TRUNC | O_CLOEXEC, 0o644)
            .at("create", &at)?;
        let written = fs::write_all(fd.fd(), json).and_then(|_| fs::fsync(fd.fd()));
        drop(fd);
        let mut dst = CBuf::<512>::from(&file);
        let r = written.and_then(|_| fs::renameat2(self.images.fd(), tmp_name, self.images.fd(), dst.cstr()?, 0));
        if let Err(e) = r {
            let _ = fs::unlinkat(self.images.fd(), tmp_name, 0);
            return Err(Error::sys("write", &at, e));
        }
        Ok(())
    }

    /// Remove the record of `name`; its layers stay until `gc`.
    pub fn remove_image(&self, name: &[u8]) -> Result<(), Error> {
        let name = normalize_name(name)?;
        let file = record_file_name(&name);
        let mut c = CBuf::<512>::from(&file);
        match fs::unlinkat(self.images.fd(), c.cstr().at("remove", &name)?, 0) {
            Err(Errno::ENOENT) => Err(Error::msg("image", &name, "no such image in the store")),
            r => r.at("remove image record", &self.path_of("images", &file)),
        }
    }

    /// Remove every layer no record refers to; returns how many went.
    pub fn gc(&self) -> Result<u64, Error> {
        let mut used: Vec<Vec<u8>> = Vec::new();
        for (_, rec) in self.images()? {
            for l in rec.layers {
                let hex = l.rsplit(|&c| c == b'/').next().unwrap_or(&l).to_vec();
                used.push(hex);
            }
        }
        used.sort_unstable();
        let mut removed = 0;
        for name in tree::list_sorted(self.layers.fd()).at("list layers/ of store", &self.path)? {
            if used.binary_search(&name).is_ok() {
                continue;
            }
            let mut c = CBuf::<512>::from(&name);
            let at = self.path_of("layers", &name);
            tree::remove_tree(self.layers.fd(), c.cstr().at("remove", &at)?).at("remove", &at)?;
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;

    #[test]
    fn names_get_latest_unless_tagged_or_pinned() {
        assert_eq!(normalize_name(b"alpine").unwrap(), b"alpine:latest");
        assert_eq!(normalize_name(b"alpine:3.19").unwrap(), b"alpine:3.19");
        assert_eq!(normalize_name(b"localhost:5000/x").unwrap(), b"localhost:5000/x:latest");
        assert_eq!(normalize_name(b"x@sha256:ab").unwrap(), b"x@sha256:ab");
        for bad in [&b""[..], b"a b", b"x/", b"/x", b"a\nb"] {
            assert!(normalize_name(bad).is_err(), "{:?}", bad);
        }
    }

    #[test]
    fn record_file_names_cannot_escape() {
        assert_eq!(record_file_name(b"alpine:3.19"), b"alpine:3.19");
        assert_eq!(record_file_name(b"docker.io/library/x:1"), b"docker.io%2Flibrary%2Fx:1");
        assert_eq!(record_file_name(b"..:latest"), b"%2E.:latest");
        assert_eq!(record_file_name(b"a%b"), b"a%25b");
    }

    #[test]
    fn records_round_trip_and_refuse_bad_layers() {
        let c = ImageConfig {
            env: vec!["PATH=/bin".into(), "Q=\"x\"".into()],
            entrypoint: vec!["/bin/sh".into(), "-c".into()],
            cmd: vec!["echo hi".into()],
            working_dir: "/srv".into(),
            user: "1000:1000".into(),
        };
        let top = format!("sha256:{}", "b".repeat(64));
        let base = format!("sha256:{}", "a".repeat(64));
        let text = record_text("x:1", "sha256:00", &[top.clone(), base.clone()], &c);
        let r = parse_record(&text, b"/store").unwrap();
        assert_eq!((r.name.as_str(), r.id.as_str()), ("x:1", "sha256:00"));
        assert_eq!(r.config, c);
        assert_eq!(r.diff_ids, vec![top, base]);
        assert_eq!(r.layers[0], format!("/store/layers/{}", "b".repeat(64)).into_bytes());
        let bad = b"husk-image 1\nname x\nlayer sha256:../../etc\nend\n";
        assert_eq!(parse_record(bad, b"/s").unwrap_err(), "bad layer digest");
        assert_eq!(parse_record(&text[..text.len() - 2], b"/s").unwrap_err(), "truncated image record");
        let old_json = br#"{"name":"x","layers":[],"config":null}"#;
        assert_eq!(parse_record(old_json, b"/s").unwrap_err(), "corrupt image record");
    }

    #[test]
    fn config_nulls_are_empty() {
        let v = json::parse(br#"{"Env":null,"Cmd":["a"],"User":""}"#).unwrap();
        let c = parse_config(Some(&v)).unwrap();
        assert!(c.env.is_empty() && c.entrypoint.is_empty());
        assert_eq!(c.cmd, vec!["a".to_string()]);
        assert!(parse_config(Some(&json::parse(br#"{"Env":"x"}"#).unwrap())).is_err());
    }
}
