//! Extracting one layer's tar stream into a directory, safely.
//!
//! A layer is untrusted input, so every write goes through three guards:
//! 1. [`tar::clean_entry_path`] refuses absolute names and any `..`.
//! 2. The parent directory of each entry is resolved inside the layer root
//!    (openat2 RESOLVE_IN_ROOT, or sys's O_NOFOLLOW walk): a symlink
//!    `a -> /etc` followed by `a/passwd` writes the layer's own `etc/passwd`,
//!    never the host's (tar-slip, CVE-2018-15664 class).
//! 3. The last component is created with O_EXCL/O_NOFOLLOW or the *at call
//!    that never follows it (mknodat, symlinkat, linkat without
//!    AT_SYMLINK_FOLLOW), after removing whatever was there.
//!
//! Hard links are resolved inside the same root, so they cannot reach a
//! file of another layer or of the host. Whiteouts become overlayfs's own
//! form, which the kernel reads when the layers are stacked: `.wh.NAME` a
//! 0:0 character device NAME, `.wh..wh..opq` the opaque xattr on its
//! directory. Directory modes and mtimes are applied last, because creating
//! the entries inside changes the mtime and a 0555 directory would refuse
//! them to an unprivileged user.

use crate::stream::{Source, StreamError};
use crate::tar::{self, Entry, ErrorKind, Kind, Reader};
use crate::tree;
use alloc::vec::Vec;
use husk_sys::beneath::{mkdir_in_root, open_in_root};
use husk_sys::fd::dup_cloexec;
use husk_sys::fs::{self, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH, O_WRONLY};
use husk_sys::{CBuf, CStr, Context, Errno, Error, Fd, OwnedFd, SysResult};

/// What an unpack did besides writing files, for the caller to report.
#[derive(Default, Clone, Copy, Debug)]
pub struct Stats {
    pub entries: u64,
    /// Device nodes not created because we lack CAP_MKNOD.
    pub skipped_devices: u64,
}

struct DirMeta {
    path: Vec<u8>,
    mode: u32,
    mtime: i64,
}

pub struct Unpacker {
    root: OwnedFd,
    privileged: bool,
    /// The parent directory of the previous entry: layers list a
    /// directory's files together, so this saves most lookups. It is always
    /// the parent of the current entry, and only children of it are ever
    /// removed, so it cannot go stale.
    parent: Option<(Vec<u8>, OwnedFd)>,
    dirs: Vec<DirMeta>,
    buf: Vec<u8>,
    pub stats: Stats,
}

/// Split a cleaned relative path into its parent and its last component.
pub fn split_parent(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&c| c == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (b"", rel),
    }
}

/// A tar reader error as the user sees it: the blob and what went wrong.
pub fn stream_error(e: tar::Error, blob: &[u8]) -> Error {
    match e.kind {
        ErrorKind::Source(StreamError::Errno(n)) => Error::sys("read layer", blob, Errno(n)),
        _ => Error::msg("layer", blob, e.message()),
    }
}

impl Unpacker {
    /// Unpack into the directory `root` (any fd of it, O_PATH is enough).
    pub fn new(root: OwnedFd) -> Unpacker {
        Unpacker {
            root,
            privileged: husk_sys::process::geteuid() == 0,
            parent: None,
            dirs: Vec::new(),
            buf: alloc::vec![0u8; 64 * 1024],
            stats: Stats::default(),
        }
    }

    /// Unpack every entry of `tar`, read it to its very end (the diff_id
    /// covers the whole stream), then fix up the directories.
    pub fn unpack<S: Source>(&mut self, tar: &mut Reader<S>, blob: &[u8]) -> Result<Stats, Error> {
        while let Some(e) = tar.next_entry().map_err(|e| stream_error(e, blob))? {
            self.stats.entries += 1;
            self.entry(&e, tar, blob)?;
        }
        tar.drain().map_err(|e| stream_error(e, blob))?;
        self.finish_dirs()?;
        Ok(self.stats)
    }

    fn entry<S: Source>(&mut self, e: &Entry, tar: &mut Reader<S>, blob: &[u8]) -> Result<(), Error> {
        let rel = tar::clean_entry_path(&e.path).map_err(|pe| Error::msg("unpack", &e.path, pe.message()))?;
        let (parent, name) = split_parent(&rel);
        if name.starts_with(b".wh.") {
            return self.whiteout(parent, name).at("unpack whiteout", &e.path);
        }
        if rel.is_empty() {
            // `./`: the layer root itself.
            if e.kind == Kind::Dir {
                let root = dup_cloexec(self.root.fd(), 3).at("unpack", &e.path)?;
                self.set_owner(root.fd(), c".", e).at("chown", &e.path)?;
                self.dirs.push(DirMeta { path: rel, mode: e.mode, mtime: e.mtime });
            }
            return Ok(());
        }
        let pfd = self.parent_dir(parent).at("unpack", &e.path)?;
        let mut cn = CBuf::<256>::from(name);
        let cname = cn.cstr().at("unpack", &e.path)?;
        match e.kind {
            Kind::Regular => return self.file(pfd, cname, e, tar, blob),
            Kind::Dir => {
                self.mkdir(pfd, cname).at("mkdir", &e.path)?;
                self.dirs.push(DirMeta { path: rel.clone(), mode: e.mode, mtime: e.mtime });
            }
            Kind::Symlink => {
                let mut target = CBuf::<4096>::from(&e.link);
                let target = target.cstr().at("symlink", &e.path)?;
                replace(pfd, cname, || fs::symlinkat(target, pfd, cname)).at("symlink", &e.path)?;
            }
            Kind::HardLink => return self.hardlink(pfd, cname, &rel, e),
            Kind::Fifo => {
                replace(pfd, cname, || fs::mknodat(pfd, cname, fs::S_IFIFO | 0o600, 0)).at("mkfifo", &e.path)?
            }
            Kind::Char | Kind::Block => {
                let kind = if e.kind == Kind::Char { fs::S_IFCHR } else { fs::S_IFBLK };
                let dev = fs::makedev(e.dev_major, e.dev_minor);
                match replace(pfd, cname, || fs::mknodat(pfd, cname, kind | 0o600, dev)) {
                    // Only CAP_MKNOD in the initial user namespace may
                    // create devices; without it the import goes on without
                    // them (the runtime provides /dev).
                    Err(Errno::EPERM) => {
                        self.stats.skipped_devices += 1;
                        return Ok(());
                    }
                    r => r.at("mknod", &e.path)?,
                }
            }
            Kind::Other(_) => return Err(Error::msg("unpack", &e.path, "unsupported tar entry type")),
        }
        self.set_meta(pfd, cname, e).at("set attributes of", &e.path)
    }

    /// The parent directory `parent` (relative, cleaned) inside the root,
    /// created with mode 0755 where the layer did not list it.
    fn parent_dir(&mut self, parent: &[u8]) -> SysResult<Fd> {
        if let Some((p, fd)) = &self.parent {
            if p == parent {
                return Ok(fd.fd());
            }
        }
        let root = self.root.fd();
        let fd = match open_parent(root, parent) {
            Err(Errno::ENOENT) => mkdir_in_root(root, parent, Some(0o755))?,
            r => r?,
        };
        let raw = fd.fd();
        self.parent = Some((parent.to_vec(), fd));
        Ok(raw)
    }

    fn file<S: Source>(
        &mut self,
        pfd: Fd,
        name: &CStr,
        e: &Entry,
        tar: &mut Reader<S>,
        blob: &[u8],
    ) -> Result<(), Error> {
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
        let fd = match fs::openat(pfd, name, flags, 0o600) {
            Err(Errno::EEXIST) => {
                tree::remove_tree(pfd, name).at("replace", &e.path)?;
                fs::openat(pfd, name, flags, 0o600)
            }
            r => r,
        }
        .at("create", &e.path)?;
        loop {
            let n = tar.read_data(&mut self.buf).map_err(|err| stream_error(err, blob))?;
            if n == 0 {
                break;
            }
            fs::write_all(fd.fd(), &self.buf[..n]).at("write", &e.path)?;
        }
        self.set_meta(pfd, name, e).at("set attributes of", &e.path)
    }

    fn mkdir(&mut self, pfd: Fd, name: &CStr) -> SysResult<()> {
        match fs::mkdirat(pfd, name, 0o700) {
            Err(Errno::EEXIST) => {
                if fs::fstatat(pfd, name, fs::AT_SYMLINK_NOFOLLOW)?.is_dir() {
                    return Ok(());
                }
                tree::remove_tree(pfd, name)?;
                fs::mkdirat(pfd, name, 0o700)
            }
            r => r,
        }
    }

    fn hardlink(&mut self, pfd: Fd, name: &CStr, rel: &[u8], e: &Entry) -> Result<(), Error> {
        let target = tar::clean_entry_path(&e.link).map_err(|pe| Error::msg("link", &e.path, pe.message()))?;
        if target == rel {
            return Ok(());
        }
        let (tparent, tname) = split_parent(&target);
        if tname.is_empty() {
            return Err(Error::msg("link", &e.path, "hard link to the layer root"));
        }
        // The target's directory is resolved inside the root like any other
        // path, and linkat does not follow its last component: the link can
        // only name a file of this layer.
        let tdir = open_parent(self.root.fd(), tparent).at("link", &e.link)?;
        let mut tn = CBuf::<256>::from(tname);
        let tn = tn.cstr().at("link", &e.link)?;
        replace(pfd, name, || fs::linkat(tdir.fd(), tn, pfd, name, 0)).at("link", &e.path)
    }

    fn whiteout(&mut self, parent: &[u8], name: &[u8]) -> SysResult<()> {
        let pfd = self.parent_dir(parent)?;
        if name == b".wh..wh..opq" {
            // trusted.* needs CAP_SYS_ADMIN in the initial user namespace;
            // overlay mounts made in a user namespace (userxattr) read the
            // user.* twin instead.
            return match tree::set_xattr(pfd, b".", b"trusted.overlay.opaque", b"y") {
                Err(Errno::EPERM) => tree::set_xattr(pfd, b".", b"user.overlay.opaque", b"y"),
                r => r,
            };
        }
        if name.starts_with(b".wh..wh.") {
            // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): meaningless here.
            return Ok(());
        }
        let target = &name[4..];
        if !tree::is_plain_name(target) {
            return Err(Errno::EINVAL);
        }
        let mut c = CBuf::<256>::from(target);
        let c = c.cstr()?;
        replace(pfd, c, || fs::mknodat(pfd, c, fs::S_IFCHR, 0))
    }

    fn set_owner(&self, pfd: Fd, name: &CStr, e: &Entry) -> SysResult<()> {
        if !self.privileged {
            return Ok(());
        }
        match fs::fchownat(pfd, name, e.uid, e.gid, fs::AT_SYMLINK_NOFOLLOW) {
            // An id with no mapping in our user namespace.
            Err(Errno::EINVAL) => Ok(()),
            r => r,
        }
    }

    /// Owner, then mode (chown clears setuid and setgid, so it goes first),
    /// xattrs and mtime. Directories get mode and mtime at the end.
    fn set_meta(&self, pfd: Fd, name: &CStr, e: &Entry) -> SysResult<()> {
        self.set_owner(pfd, name, e)?;
        if !matches!(e.kind, Kind::Symlink | Kind::Dir | Kind::HardLink) {
            fs::fchmodat(pfd, name, e.mode & 0o7777)?;
        }
        for (k, v) in &e.xattrs {
            if tree::is_overlay_xattr(k) {
                continue;
            }
            match tree::set_xattr(pfd, name.to_bytes(), k, v) {
                // trusted.* and security.* need privileges a user
                // namespace does not give; user.* is refused on symlinks
                // and devices. Such xattrs are dropped, as GNU tar does.
                Err(Errno::EPERM) => {}
                r => r?,
            }
        }
        if !matches!(e.kind, Kind::Dir | Kind::HardLink) {
            fs::utimensat(pfd, name, e.mtime, 0, fs::AT_SYMLINK_NOFOLLOW)?;
        }
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<(), Error> {
        self.parent = None;
        for d in self.dirs.iter().rev() {
            let (parent, name) = split_parent(&d.path);
            let name: &[u8] = if d.path.is_empty() { b"." } else { name };
            let pfd = match open_parent(self.root.fd(), parent) {
                Ok(fd) => fd,
                // Replaced by a later entry: nothing to fix.
                Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => continue,
                Err(e) => return Err(Error::sys("open", &d.path, e)),
            };
            let mut c = CBuf::<256>::from(name);
            let c = c.cstr().at("open", &d.path)?;
            match fs::fstatat(pfd.fd(), c, fs::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if st.is_dir() => {}
                _ => continue,
            }
            fs::fchmodat(pfd.fd(), c, d.mode & 0o7777).at("chmod", &d.path)?;
            fs::utimensat(pfd.fd(), c, d.mtime, 0, fs::AT_SYMLINK_NOFOLLOW).at("set mtime of", &d.path)?;
        }
        self.dirs.clear();
        Ok(())
    }
}

/// The directory `parent` (relative, cleaned; empty for the root itself)
/// resolved inside `root`. openat2 refuses an empty path, hence the dup.
fn open_parent(root: Fd, parent: &[u8]) -> SysResult<OwnedFd> {
    if parent.is_empty() {
        return dup_cloexec(root, 3);
    }
    open_in_root(root, parent, O_PATH | O_DIRECTORY, 0)
}

/// Run `create`; if the name is taken, remove what is there (a whole tree
/// if need be, as a later tar entry replaces an earlier one) and retry.
fn replace(dir: Fd, name: &CStr, mut create: impl FnMut() -> SysResult<()>) -> SysResult<()> {
    match create() {
        Err(Errno::EEXIST) => {
            tree::remove_tree(dir, name)?;
            create()
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_parent_takes_the_last_component() {
        assert_eq!(split_parent(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split_parent(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(split_parent(b""), (&b""[..], &b""[..]));
    }
}
