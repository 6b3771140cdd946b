//! `husk-rootfs import`: an OCI image layout (a directory or a tar of one)
//! or a `docker save` archive into the layer store.
//!
//! Trust flows from the top: the index names the manifest by digest, the
//! manifest names the config and the compressed layers by digest, and the
//! config names each uncompressed layer by diff_id. Every blob is checked
//! against the digest that names it, and each layer is checked twice in the
//! one streaming pass that unpacks it:
//!
//! ```text
//! blob -> sha256 (digest) -> gunzip -> sha256 (diff_id) -> untar -> STORE/tmp/
//! ```
//!
//! Only when every layer has passed are they renamed into STORE/layers/ and
//! the record written, so a failed or interrupted import leaves the store as
//! it was. Layers already in the store are not read at all.

use crate::gzip::{self, GzReader};
use crate::json::{self, Value};
use crate::sha256::{self, HashingSource, Sha256};
use crate::store::{self, ImageConfig, Store};
use crate::stream::{Source, StreamError};
use crate::tar::{self, Kind};
use crate::tree;
use crate::unpack::Unpacker;
use alloc::string::String;
use alloc::vec::Vec;
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, O_CLOEXEC, O_DIRECTORY, O_PATH, O_RDONLY};
use husk_sys::{CBuf, Context, Errno, Error, Fd, OwnedFd};

/// Manifests, configs and docker's manifest.json are read whole; none
/// comes near this, and a hostile one must not make us allocate without end.
const MAX_SMALL_BLOB: u64 = 16 << 20;

pub struct Options<'a> {
    pub store: &'a [u8],
    /// `--name`: the name to record (and to pick among several images).
    pub name: Option<&'a [u8]>,
    /// Show progress on stderr (the caller checks that it is a terminal).
    pub progress: bool,
}

/// What was imported, for the summary line.
pub struct Summary {
    pub name: Vec<u8>,
    pub layers: usize,
    pub new_layers: usize,
}

/// One layer to import, as the manifest and the config describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerPlan {
    /// Path of the blob inside the source.
    pub blob: Vec<u8>,
    /// The compressed digest, where the source has one.
    pub digest: Option<[u8; 32]>,
    pub size: Option<u64>,
    pub diff_id: [u8; 32],
    pub media_type: String,
}

/// An image found in the source: everything checked before the store is
/// touched.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The name the source gives the image, if any.
    pub name: Option<Vec<u8>>,
    /// `sha256:<hex>` of the config.
    pub id: String,
    pub config: ImageConfig,
    /// Bottom first, as manifests list them.
    pub layers: Vec<LayerPlan>,
}

pub fn import(source: &[u8], opts: &Options) -> Result<Summary, Error> {
    let src = Container::new(source)?;
    let plan = if src.exists(b"index.json") {
        plan_oci(&src, opts.name)?
    } else if src.exists(b"manifest.json") {
        plan_docker(&src, opts.name)?
    } else {
        return Err(Error::msg(
            "import",
            source,
            "not an OCI layout or docker archive (no index.json or manifest.json)",
        ));
    };
    let name = match (opts.name, &plan.name) {
        (Some(n), _) => store::normalize_name(n)?,
        (None, Some(n)) => store::normalize_name(n)?,
        (None, None) => return Err(Error::msg("import", source, "the image has no name: give --name NAME[:TAG]")),
    };
    for l in &plan.layers {
        if l.media_type.contains("zstd") {
            return Err(Error::msg("layer", &l.blob, "zstd-compressed layers are not supported (use gzip)"));
        }
    }
    let store = Store::open(opts.store, true)?;
    let mut work_name = CBuf::<64>::new();
    work_name.s("import-").u(husk_sys::process::getpid() as u64);
    let work_at = store.path_of("tmp", work_name.bytes());
    let wn = work_name.cstr().at("create", &work_at)?;
    fs::mkdirat(store.tmp.fd(), wn, 0o700).at("create", &work_at)?;
    let work = tree::open_dir(store.tmp.fd(), wn).at("open", &work_at)?;
    let r = stage_layers(&src, &plan, &store, work.fd(), opts.progress)
        .and_then(|staged| commit(&store, work.fd(), &plan, &name, &staged).map(|_| staged.len()));
    // Nothing of a failed import stays; after success only the empty
    // directory is left to remove.
    let cleanup = tree::remove_tree(store.tmp.fd(), wn).at("remove", &work_at);
    let new_layers = r?;
    cleanup?;
    Ok(Summary { name, layers: plan.layers.len(), new_layers })
}

/// Unpack and verify the layers the store lacks into `work/<i>`; returns
/// (i, diff_id hex) of each.
fn stage_layers(
    src: &Container,
    plan: &Plan,
    store: &Store,
    work: Fd,
    progress: bool,
) -> Result<Vec<(usize, [u8; 64])>, Error> {
    let mut staged: Vec<(usize, [u8; 64])> = Vec::new();
    for (i, l) in plan.layers.iter().enumerate() {
        let hex = sha256::hex(&l.diff_id);
        // A base shared with an image already imported, or a layer listed
        // twice (empty layers often are): stored once.
        if store.has_layer(&hex) || staged.iter().any(|(_, h)| *h == hex) {
            continue;
        }
        let mut dn = CBuf::<32>::new();
        dn.u(i as u64);
        let dn = dn.cstr().ctx("mkdir")?;
        fs::mkdirat(work, dn, 0o755).at("create layer directory for", &l.blob)?;
        let dir = fs::openat(work, dn, O_PATH | O_DIRECTORY | O_CLOEXEC, 0).at("open layer directory for", &l.blob)?;
        let meter = progress.then(|| Meter::new(i + 1, plan.layers.len(), &hex));
        unpack_layer(src, l, dir, meter)?;
        staged.push((i, hex));
    }
    Ok(staged)
}

/// Rename the staged layers into layers/ and write the record.
fn commit(store: &Store, work: Fd, plan: &Plan, name: &[u8], staged: &[(usize, [u8; 64])]) -> Result<(), Error> {
    for (i, hex) in staged {
        let mut from = CBuf::<32>::new();
        from.u(*i as u64);
        let mut to = CBuf::<80>::from(hex);
        let at = store.path_of("layers", hex);
        fs::renameat2(
            work,
            from.cstr().ctx("rename")?,
            store.layers.fd(),
            to.cstr().ctx("rename")?,
            fs::RENAME_NOREPLACE,
        )
        .at("rename layer into", &at)?;
    }
    let diff_ids: Vec<String> = plan
        .layers
        .iter()
        .rev()
        .map(|l| {
            let mut s = String::from("sha256:");
            s.push_str(core::str::from_utf8(&sha256::hex(&l.diff_id)).unwrap_or(""));
            s
        })
        .collect();
    let text = store::record_json(core::str::from_utf8(name).unwrap_or(""), &plan.id, &diff_ids, &plan.config);
    store.write_record(name, &text)
}

/// Stream one layer blob through both hashes and the unpacker.
fn unpack_layer(src: &Container, l: &LayerPlan, dir: OwnedFd, meter: Option<Meter>) -> Result<(), Error> {
    let mut region = src.open(&l.blob)?;
    region.meter = meter;
    let mut magic = [0u8; 4];
    let got = fs::pread(region.fd.fd(), &mut magic, region.pos).at("read", &l.blob)?;
    if gzip::is_zstd(&magic[..got]) {
        return Err(Error::msg("layer", &l.blob, "zstd-compressed layers are not supported (use gzip)"));
    }
    let mut unpacker = Unpacker::new(dir);
    let (blob_hash, blob_size, diff) = if gzip::is_gzip(&magic[..got]) {
        let compressed = HashingSource::new(region);
        let plain = HashingSource::new(GzReader::new(compressed));
        let mut t = tar::Reader::new(Buffered::new(plain));
        unpacker.unpack(&mut t, &l.blob)?;
        let plain = t.into_inner().inner;
        let compressed = plain.inner.into_inner();
        finish_meter(compressed.inner.meter);
        (compressed.hasher.finish(), compressed.count, plain.hasher.finish())
    } else {
        let mut t = tar::Reader::new(Buffered::new(HashingSource::new(region)));
        unpacker.unpack(&mut t, &l.blob)?;
        let h = t.into_inner().inner;
        finish_meter(h.inner.meter);
        let d = h.hasher.finish();
        (d, h.count, d)
    };
    if l.size.is_some_and(|s| s != blob_size) {
        return Err(Error::msg("verify blob", &l.blob, "size does not match the manifest"));
    }
    if l.digest.is_some_and(|d| d != blob_hash) {
        return Err(Error::msg("verify blob", &l.blob, "sha256 does not match its digest"));
    }
    if diff != l.diff_id {
        return Err(Error::msg("verify layer", &l.blob, "uncompressed sha256 does not match the config's diff_id"));
    }
    if unpacker.stats.skipped_devices > 0 {
        husk_sys::fmt::stderr()
            .s("husk-rootfs: layer ")
            .b(&l.blob)
            .s(": skipped ")
            .u(unpacker.stats.skipped_devices)
            .s(" device nodes (creating them needs CAP_MKNOD)\n");
    }
    Ok(())
}

fn finish_meter(m: Option<Meter>) {
    if let Some(m) = m {
        m.done();
    }
}

// ---------------------------------------------------------------------------
// Reading the source: a directory, or members of a tar archive.

/// Where the image's files are.
enum Container {
    Dir(OwnedFd),
    Tar { fd: OwnedFd, members: Vec<Member> },
}

/// A member of an archive: its cleaned name and where its data is.
struct Member {
    name: Vec<u8>,
    kind: Kind,
    link: Vec<u8>,
    offset: u64,
    size: u64,
}

impl Container {
    fn new(source: &[u8]) -> Result<Container, Error> {
        let mut c = CBuf::<4096>::from(source);
        let fd = fs::openat(Fd::CWD, c.cstr().at("open", source)?, O_RDONLY | O_CLOEXEC, 0).at("open", source)?;
        let st = fs::fstat(fd.fd()).at("stat", source)?;
        if st.is_dir() {
            return Ok(Container::Dir(fd));
        }
        let mut magic = [0u8; 4];
        let n = fs::pread(fd.fd(), &mut magic, 0).at("read", source)?;
        if gzip::is_gzip(&magic[..n]) || gzip::is_zstd(&magic[..n]) {
            return Err(Error::msg("import", source, "compressed archive: decompress it first (gunzip)"));
        }
        let members = index_tar(fd.fd()).map_err(|d| Error::msg("read archive", source, d))?;
        Ok(Container::Tar { fd, members })
    }

    fn exists(&self, name: &[u8]) -> bool {
        match self {
            Container::Dir(d) => husk_sys::beneath::open_in_root(d.fd(), name, O_PATH, 0).is_ok(),
            Container::Tar { members, .. } => members.iter().any(|m| m.name == name),
        }
    }

    /// The blob `name` as a readable region. Symlinks and hard links in an
    /// archive are followed within the archive (docker save links layers
    /// that two images share); a directory's are resolved inside it.
    fn open(&self, name: &[u8]) -> Result<Region, Error> {
        let missing = || Error::msg("blob", name, "missing from the image");
        match self {
            Container::Dir(d) => {
                let fd = match husk_sys::beneath::open_in_root(d.fd(), name, O_RDONLY, 0) {
                    Err(Errno::ENOENT) => return Err(missing()),
                    r => r.at("open", name)?,
                };
                let st = fs::fstat(fd.fd()).at("stat", name)?;
                if !st.is_reg() {
                    return Err(Error::msg("blob", name, "not a regular file"));
                }
                Ok(Region { fd, pos: 0, end: st.size, meter: None })
            }
            Container::Tar { fd, members } => {
                let mut want = tar::clean_entry_path(name).map_err(|_| missing())?;
                for _ in 0..8 {
                    let m = members.iter().rev().find(|m| m.name == want).ok_or_else(missing)?;
                    match m.kind {
                        Kind::Regular => {
                            let fd = husk_sys::fd::dup_cloexec(fd.fd(), 3).ctx("dup")?;
                            return Ok(Region { fd, pos: m.offset, end: m.offset + m.size, meter: None });
                        }
                        Kind::HardLink => want = tar::clean_entry_path(&m.link).map_err(|_| missing())?,
                        Kind::Symlink => want = resolve_link(&m.name, &m.link).ok_or_else(missing)?,
                        _ => return Err(Error::msg("blob", name, "not a regular file")),
                    }
                }
                Err(Error::msg("blob", name, "too many links"))
            }
        }
    }

    /// A small blob read whole.
    fn read(&self, name: &[u8]) -> Result<Vec<u8>, Error> {
        let mut r = self.open(name)?;
        if r.end - r.pos > MAX_SMALL_BLOB {
            return Err(Error::msg("read", name, "too large for a manifest or config"));
        }
        let mut out = alloc::vec![0u8; (r.end - r.pos) as usize];
        let n = crate::stream::read_full(&mut r, &mut out).map_err(|_| Error::sys("read", name, Errno::EIO))?;
        out.truncate(n);
        Ok(out)
    }

    /// A blob named by `digest`, read whole and checked against it.
    fn read_verified(&self, digest: &str, size: Option<u64>) -> Result<Vec<u8>, Error> {
        let (name, want) = blob_path(digest).map_err(|d| Error::msg("digest", digest.as_bytes(), d))?;
        let data = self.read(&name)?;
        if size.is_some_and(|s| s != data.len() as u64) {
            return Err(Error::msg("verify blob", &name, "size does not match its descriptor"));
        }
        if Sha256::digest(&data) != want {
            return Err(Error::msg("verify blob", &name, "sha256 does not match its digest"));
        }
        Ok(data)
    }
}

/// The member a symlink member points to, resolved lexically against the
/// symlink's directory; `None` if it climbs out of the archive.
fn resolve_link(member: &[u8], target: &[u8]) -> Option<Vec<u8>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    if target.first() != Some(&b'/') {
        parts.extend(member.split(|&c| c == b'/'));
        parts.pop();
    }
    for comp in target.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join(&b'/'))
}

/// Index a tar archive by seeking from header to header (the blobs are not
/// read, so indexing a large `docker save` costs a few reads).
fn index_tar(fd: Fd) -> Result<Vec<Member>, &'static str> {
    let mut members = Vec::new();
    let mut off = 0u64;
    let mut pax = tar::Pax::default();
    let mut long: Option<Vec<u8>> = None;
    let mut block = [0u8; tar::BLOCK];
    loop {
        let n = fs::pread(fd, &mut block, off).map_err(|_| "read error")?;
        if n < tar::BLOCK {
            return Err("truncated tar archive");
        }
        if tar::is_zero_block(&block) {
            return Ok(members);
        }
        let h = tar::parse_header(&block).map_err(|_| "not a tar archive (bad header)")?;
        let size = pax.size.unwrap_or(h.size);
        let data = off + tar::BLOCK as u64;
        off = data + size + tar::pad_len(size) as u64;
        let meta = |n: u64| -> Result<Vec<u8>, &'static str> {
            if n > 1 << 20 {
                return Err("pax header or long name too large");
            }
            let mut v = alloc::vec![0u8; n as usize];
            match fs::pread(fd, &mut v, data) {
                Ok(got) if got == v.len() => Ok(v),
                _ => Err("truncated tar archive"),
            }
        };
        match h.flag {
            b'x' => tar::parse_pax(&meta(h.size)?, &mut pax).map_err(|_| "malformed pax header")?,
            b'g' => {}
            b'L' => {
                let mut v = meta(h.size)?;
                v.truncate(v.iter().position(|&c| c == 0).unwrap_or(v.len()));
                long = Some(v);
            }
            _ => {
                let raw = pax.path.take().or(long.take()).unwrap_or(h.name);
                let link = pax.link.take().unwrap_or(h.link);
                if let Ok(name) = tar::clean_entry_path(&raw) {
                    members.push(Member { name, kind: Kind::from_flag(h.flag), link, offset: data, size });
                }
                pax = tar::Pax::default();
            }
        }
    }
}

/// A byte range of a file, read with pread(2).
struct Region {
    fd: OwnedFd,
    pos: u64,
    end: u64,
    meter: Option<Meter>,
}

impl Source for Region {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        let want = (buf.len() as u64).min(self.end - self.pos) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = fs::pread(self.fd.fd(), &mut buf[..want], self.pos).map_err(|e| StreamError::Errno(e.0))?;
        if n == 0 {
            // The file is shorter than its tar header or fstat said.
            return Err(StreamError::Errno(Errno::EIO.0));
        }
        self.pos += n as u64;
        if let Some(m) = &mut self.meter {
            m.add(n as u64);
        }
        Ok(n)
    }
}

/// Reads its inner source in 64 KiB chunks, so that the decoder and the
/// hashes below work on big buffers while tar asks for 512-byte headers.
struct Buffered<S> {
    inner: S,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

impl<S: Source> Buffered<S> {
    fn new(inner: S) -> Self {
        Buffered { inner, buf: alloc::vec![0u8; 64 * 1024], pos: 0, len: 0 }
    }
}

impl<S: Source> Source for Buffered<S> {
    fn read(&mut self, out: &mut [u8]) -> Result<usize, StreamError> {
        if self.pos == self.len {
            // A big read goes straight through, without the copy.
            if out.len() >= self.buf.len() {
                return self.inner.read(out);
            }
            self.len = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Progress of one layer on stderr: `layer 2/5 3f2a9c0d1e7b: 12 MiB`.
struct Meter {
    label: [u8; 12],
    index: usize,
    count: usize,
    bytes: u64,
    shown: u64,
}

impl Meter {
    fn new(index: usize, count: usize, hex: &[u8; 64]) -> Meter {
        let mut label = [0u8; 12];
        label.copy_from_slice(&hex[..12]);
        Meter { label, index, count, bytes: 0, shown: 0 }
    }
    fn add(&mut self, n: u64) {
        self.bytes += n;
        if self.bytes - self.shown >= 1 << 20 || self.shown == 0 {
            self.shown = self.bytes.max(1);
            self.show(b"");
        }
    }
    fn show(&self, end: &[u8]) {
        husk_sys::fmt::stderr()
            .s("\rlayer ")
            .u(self.index as u64)
            .c(b'/')
            .u(self.count as u64)
            .c(b' ')
            .b(&self.label)
            .s(": ")
            .u(self.bytes >> 20)
            .s(" MiB")
            .b(end);
    }
    fn done(self) {
        self.show(b", done\n");
    }
}

// ---------------------------------------------------------------------------
// The image formats: plain functions over the JSON documents.

/// `blobs/sha256/<hex>` and the digest bytes of `sha256:<hex>`.
pub fn blob_path(digest: &str) -> Result<(Vec<u8>, [u8; 32]), &'static str> {
    let hex = digest.strip_prefix("sha256:").ok_or("only sha256 digests are supported")?;
    let want = sha256::parse_hex(hex.as_bytes()).ok_or("malformed sha256 digest")?;
    let mut name = b"blobs/sha256/".to_vec();
    name.extend_from_slice(&sha256::hex(&want));
    Ok((name, want))
}

/// The Go name of the architecture we run on, as OCI platforms spell it.
fn our_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else if cfg!(target_arch = "x86") {
        "386"
    } else if cfg!(target_arch = "arm") {
        "arm"
    } else {
        "amd64"
    }
}

const ANN_CONTAINERD_NAME: &str = "io.containerd.image.name";
const ANN_REF_NAME: &str = "org.opencontainers.image.ref.name";

fn annotation<'a>(desc: &'a Value, key: &str) -> Option<&'a str> {
    desc.get("annotations")?.get(key)?.as_str()
}

/// The name a descriptor's annotations give: containerd's full reference,
/// or an OCI ref.name that is a reference (a bare tag like `latest` is not).
pub fn descriptor_name(desc: &Value) -> Option<&str> {
    annotation(desc, ANN_CONTAINERD_NAME)
        .or_else(|| annotation(desc, ANN_REF_NAME).filter(|n| n.contains(':') || n.contains('/')))
}

/// Pick the manifest (or nested index) descriptor from an index: one named
/// `want` if given and present, else the first for linux on our
/// architecture (or with no platform). Attestation manifests, whose platform
/// is unknown/unknown, never match.
pub fn choose_descriptor<'a>(index: &'a Value, want: Option<&[u8]>) -> Result<&'a Value, &'static str> {
    let list = index.get("manifests").and_then(|m| m.as_array()).ok_or("index without \"manifests\"")?;
    let platform_ok = |d: &Value| match d.get("platform") {
        None => true,
        Some(p) => {
            p.get("os").and_then(|o| o.as_str()).is_none_or(|o| o == "linux")
                && p.get("architecture").and_then(|a| a.as_str()).is_none_or(|a| a == our_arch())
        }
    };
    let named = |d: &Value| {
        let Some(w) = want else { return false };
        let w = store::normalize_name(w).unwrap_or_default();
        let tag = w.rsplit(|&c| c == b':').next().unwrap_or(&w);
        descriptor_name(d).is_some_and(|n| store::normalize_name(n.as_bytes()).is_ok_and(|n| n == w))
            || annotation(d, ANN_REF_NAME).is_some_and(|r| r.as_bytes() == tag)
    };
    let usable: Vec<&Value> = list.iter().filter(|d| platform_ok(d)).collect();
    usable
        .iter()
        .find(|d| named(d))
        .or(usable.first())
        .copied()
        .ok_or("no image for linux/this architecture in the index")
}

fn descriptor_size(d: &Value) -> Option<u64> {
    d.get("size").and_then(|s| s.as_u64())
}

fn descriptor_digest(d: &Value) -> Result<&str, &'static str> {
    d.get("digest").and_then(|s| s.as_str()).ok_or("descriptor without a digest")
}

/// The diff_ids and the run config of an image config document.
pub fn parse_image_config(text: &[u8]) -> Result<(Vec<[u8; 32]>, ImageConfig), &'static str> {
    let v = json::parse(text).map_err(|e| e.message())?;
    let ids = v
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(|d| d.as_array())
        .ok_or("image config without rootfs.diff_ids")?;
    let mut diff_ids = Vec::new();
    for id in ids {
        let (_, d) = blob_path(id.as_str().ok_or("diff_id is not a string")?)?;
        diff_ids.push(d);
    }
    Ok((diff_ids, store::parse_config(v.get("config"))?))
}

fn plan_oci(src: &Container, want: Option<&[u8]>) -> Result<Plan, Error> {
    let bad = |d: &'static str| Error::msg("image index", b"index.json", d);
    let index = json::parse(&src.read(b"index.json")?).map_err(|e| bad(e.message()))?;
    let top = choose_descriptor(&index, want).map_err(bad)?;
    let name = descriptor_name(top).map(|n| n.as_bytes().to_vec());
    let mut desc = top.clone();
    // Nested indexes (docker's own OCI export, multi-platform images).
    for _ in 0..4 {
        let digest = descriptor_digest(&desc).map_err(bad)?;
        let text = src.read_verified(digest, descriptor_size(&desc))?;
        let doc = json::parse(&text).map_err(|e| Error::msg("manifest", digest.as_bytes(), e.message()))?;
        if doc.get("manifests").is_some() {
            desc = choose_descriptor(&doc, want).map_err(|d| Error::msg("image index", digest.as_bytes(), d))?.clone();
            continue;
        }
        return plan_manifest(src, &doc, digest, name);
    }
    Err(bad("indexes nested too deep"))
}

fn plan_manifest(src: &Container, m: &Value, digest: &str, name: Option<Vec<u8>>) -> Result<Plan, Error> {
    let bad = |d: &'static str| Error::msg("manifest", digest.as_bytes(), d);
    let cdesc = m.get("config").ok_or(bad("no config"))?;
    let cdigest = descriptor_digest(cdesc).map_err(bad)?;
    let ctext = src.read_verified(cdigest, descriptor_size(cdesc))?;
    let (diff_ids, config) =
        parse_image_config(&ctext).map_err(|d| Error::msg("image config", cdigest.as_bytes(), d))?;
    let layers = m.get("layers").and_then(|l| l.as_array()).ok_or(bad("no layers"))?;
    if layers.len() != diff_ids.len() {
        return Err(bad("layer count differs from the config's diff_ids"));
    }
    let mut plan = Plan { name, id: String::from(cdigest), config, layers: Vec::new() };
    for (l, diff_id) in layers.iter().zip(diff_ids) {
        let (blob, d) = blob_path(descriptor_digest(l).map_err(bad)?).map_err(bad)?;
        let media_type = l.get("mediaType").and_then(|t| t.as_str()).unwrap_or("").into();
        plan.layers.push(LayerPlan { blob, digest: Some(d), size: descriptor_size(l), diff_id, media_type });
    }
    Ok(plan)
}

/// The entry of docker's manifest.json to import: the one tagged `want`,
/// else the only or first one. Returns (Config, RepoTags[0], Layers).
pub fn parse_docker_manifest(
    text: &[u8],
    want: Option<&[u8]>,
) -> Result<(String, Option<String>, Vec<String>), &'static str> {
    let v = json::parse(text).map_err(|e| e.message())?;
    let list = v.as_array().filter(|l| !l.is_empty()).ok_or("manifest.json is not a list of images")?;
    let want = want.and_then(|w| store::normalize_name(w).ok());
    let tags = |e: &Value| -> Vec<String> {
        e.get("RepoTags")
            .and_then(|t| t.as_array())
            .unwrap_or(&[])
            .iter()
            .filter_map(|t| t.as_str())
            .map(String::from)
            .collect()
    };
    let chosen = list
        .iter()
        .find(|e| {
            want.as_ref()
                .is_some_and(|w| tags(e).iter().any(|t| store::normalize_name(t.as_bytes()).is_ok_and(|t| &t == w)))
        })
        .unwrap_or(&list[0]);
    let config = chosen.get("Config").and_then(|c| c.as_str()).ok_or("manifest.json entry without Config")?;
    let layers = chosen
        .get("Layers")
        .and_then(|l| l.as_array())
        .ok_or("manifest.json entry without Layers")?
        .iter()
        .map(|l| l.as_str().map(String::from).ok_or("layer path is not a string"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((config.into(), tags(chosen).into_iter().next(), layers))
}

/// The digest a docker archive's file name carries: `<hex>.json`,
/// `<hex>/layer.tar` is not one (that hex is a v1 layer ID), and
/// `blobs/sha256/<hex>` (docker 25 and later).
fn digest_of_docker_name(name: &str, config: bool) -> Option<[u8; 32]> {
    if let Some(h) = name.strip_prefix("blobs/sha256/") {
        return sha256::parse_hex(h.as_bytes());
    }
    let h = name.strip_suffix(".json").filter(|_| config)?;
    sha256::parse_hex(h.as_bytes())
}

fn plan_docker(src: &Container, want: Option<&[u8]>) -> Result<Plan, Error> {
    let (config_name, tag, layer_names) = parse_docker_manifest(&src.read(b"manifest.json")?, want)
        .map_err(|d| Error::msg("read", b"manifest.json", d))?;
    let ctext = src.read(config_name.as_bytes())?;
    let id = Sha256::digest(&ctext);
    if digest_of_docker_name(&config_name, true).is_some_and(|d| d != id) {
        return Err(Error::msg("verify blob", config_name.as_bytes(), "sha256 does not match its name"));
    }
    let (diff_ids, config) =
        parse_image_config(&ctext).map_err(|d| Error::msg("image config", config_name.as_bytes(), d))?;
    if layer_names.len() != diff_ids.len() {
        return Err(Error::msg("read", b"manifest.json", "layer count differs from the config's diff_ids"));
    }
    let mut idstr = String::from("sha256:");
    idstr.push_str(core::str::from_utf8(&sha256::hex(&id)).unwrap_or(""));
    let layers = layer_names
        .iter()
        .zip(diff_ids)
        .map(|(n, diff_id)| LayerPlan {
            blob: n.as_bytes().to_vec(),
            digest: digest_of_docker_name(n, false),
            size: None,
            diff_id,
            media_type: String::new(),
        })
        .collect();
    Ok(Plan { name: tag.map(String::into_bytes), id: idstr, config, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_archives_resolve_lexically() {
        assert_eq!(resolve_link(b"a/layer.tar", b"../b/layer.tar").unwrap(), b"b/layer.tar");
        assert_eq!(resolve_link(b"a/x", b"/c").unwrap(), b"c");
        assert_eq!(resolve_link(b"x", b"../../y"), None);
    }

    #[test]
    fn blob_paths_need_sha256_hex() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(blob_path(&d).unwrap().0, format!("blobs/sha256/{}", "ab".repeat(32)).into_bytes());
        assert!(blob_path("sha512:abc").is_err());
        assert!(blob_path("sha256:../../etc/passwd").is_err());
        assert!(blob_path(&format!("sha256:{}", "AB".repeat(32))).is_ok());
    }

    #[test]
    fn index_choice_prefers_name_then_platform_and_skips_attestations() {
        let idx = json::parse(
            br#"{"manifests":[
              {"digest":"sha256:1","platform":{"os":"unknown","architecture":"unknown"}},
              {"digest":"sha256:2","platform":{"os":"linux","architecture":"s390x"}},
              {"digest":"sha256:3","annotations":{"org.opencontainers.image.ref.name":"1.0"}},
              {"digest":"sha256:4","annotations":{"io.containerd.image.name":"docker.io/x/y:2"}}]}"#,
        )
        .unwrap();
        let pick =
            |w: Option<&[u8]>| choose_descriptor(&idx, w).unwrap().get("digest").unwrap().as_str().unwrap().to_string();
        assert_eq!(pick(None), "sha256:3");
        assert_eq!(pick(Some(b"docker.io/x/y:2")), "sha256:4");
        assert_eq!(pick(Some(b"anything:1.0")), "sha256:3");
        assert_eq!(descriptor_name(idx.get("manifests").unwrap().as_array().unwrap().get(2).unwrap()), None);
    }

    #[test]
    fn docker_manifest_picks_the_tagged_entry() {
        let m = br#"[{"Config":"a.json","RepoTags":["one:1"],"Layers":["l1/layer.tar"]},
                     {"Config":"b.json","RepoTags":["two"],"Layers":["l1/layer.tar","l2/layer.tar"]}]"#;
        let (c, t, l) = parse_docker_manifest(m, Some(b"two:latest")).unwrap();
        assert_eq!((c.as_str(), t.as_deref(), l.len()), ("b.json", Some("two"), 2));
        assert_eq!(parse_docker_manifest(m, None).unwrap().0, "a.json");
        assert!(parse_docker_manifest(b"{}", None).is_err());
    }

    #[test]
    fn image_config_gives_diff_ids_and_run_config() {
        let c = format!(
            r#"{{"rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}},"config":{{"Env":["A=1"],"Cmd":["sh"],"WorkingDir":"/w"}}}}"#,
            "00".repeat(32)
        );
        let (ids, cfg) = parse_image_config(c.as_bytes()).unwrap();
        assert_eq!(ids, vec![[0u8; 32]]);
        assert_eq!(cfg.env, vec!["A=1".to_string()]);
        assert_eq!(cfg.working_dir, "/w");
        assert!(parse_image_config(br#"{"config":{}}"#).is_err());
    }
}
