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
    /// The directories from the root down to the previous entry's parent:
    /// layers list a tree in order, so the next parent is mostly one of
    /// them or one level below. They are always the ancestors of the
    /// current entry, and only children of the current parent are ever
    /// removed, so they cannot go stale.
    parents: DirStack,
    /// Regular files are created with their final mode when the umask
    /// keeps it whole, instead of a chmod after.
    umask: u32,
    /// The owner a new file gets by itself, when no directory of the layer
    /// can be setgid yet (their modes are applied last): chown to it is a
    /// no-op we skip.
    own: Option<(u32, u32)>,
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

/// Open directories along one cleaned relative path: entry i is the
/// directory `path[..ends[i]]`.
#[derive(Default)]
struct DirStack {
    path: Vec<u8>,
    ends: Vec<usize>,
    fds: Vec<OwnedFd>,
}

impl DirStack {
    fn clear(&mut self) {
        self.path.clear();
        self.ends.clear();
        self.fds.clear();
    }

    /// Keep only the directories that are ancestors of `target` (or it).
    fn truncate_to(&mut self, target: &[u8]) {
        let keep = self
            .ends
            .iter()
            .take_while(|&&end| {
                target.len() >= end && target[..end] == self.path[..end] && target.get(end).is_none_or(|&c| c == b'/')
            })
            .count();
        self.ends.truncate(keep);
        self.fds.truncate(keep);
        let end = self.ends.last().copied().unwrap_or(0);
        self.path.truncate(end);
    }

    fn push(&mut self, path: &[u8], fd: OwnedFd) {
        self.path.clear();
        self.path.extend_from_slice(path);
        self.ends.push(path.len());
        self.fds.push(fd);
    }
}

impl Unpacker {
    /// Unpack into the directory `root` (any fd of it, O_PATH is enough).
    pub fn new(root: OwnedFd) -> Unpacker {
        let umask = fs::umask(0o022);
        fs::umask(umask);
        let (uid, gid) = (husk_sys::process::geteuid(), husk_sys::process::getegid());
        let own = match fs::fstat(root.fd()) {
            Ok(st) if st.mode & 0o2000 == 0 => Some((uid, gid)),
            _ => None,
        };
        Unpacker {
            root,
            privileged: uid == 0,
            parents: DirStack::default(),
            umask,
            own,
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
                self.set_owner(root.fd(), c".", e, fs::AT_SYMLINK_NOFOLLOW).at("chown", &e.path)?;
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
        self.resolve(parent, true)
    }

    /// The directory `path` (relative, cleaned) inside the root, from the
    /// deepest directory already open on the way. Plain directories are
    /// walked one component at a time with O_NOFOLLOW; a symlink on the way
    /// (ENOTDIR, ELOOP) hands the whole path to the in-root resolution.
    fn resolve(&mut self, path: &[u8], create: bool) -> SysResult<Fd> {
        self.parents.truncate_to(path);
        while self.parents.path.len() < path.len() {
            let start = if self.parents.path.is_empty() { 0 } else { self.parents.path.len() + 1 };
            let end = path[start..].iter().position(|&c| c == b'/').map_or(path.len(), |i| start + i);
            let at = self.parents.fds.last().map_or(self.root.fd(), |fd| fd.fd());
            let mut c = CBuf::<256>::from(&path[start..end]);
            let name = c.cstr()?;
            let flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
            let fd = match fs::openat(at, name, flags, 0) {
                Err(Errno::ENOENT) if create => match fs::mkdirat(at, name, 0o755) {
                    Ok(()) | Err(Errno::EEXIST) => fs::openat(at, name, flags, 0),
                    Err(e) => Err(e),
                },
                r => r,
            };
            match fd {
                Ok(fd) => self.parents.push(&path[..end], fd),
                Err(Errno::ENOTDIR | Errno::ELOOP) => return self.resolve_in_root(path, create),
                Err(e) => return Err(e),
            }
        }
        Ok(self.parents.fds.last().map_or(self.root.fd(), |fd| fd.fd()))
    }

    fn resolve_in_root(&mut self, path: &[u8], create: bool) -> SysResult<Fd> {
        self.parents.clear();
        let root = self.root.fd();
        let fd = match open_parent(root, path) {
            Err(Errno::ENOENT) if create => mkdir_in_root(root, path, Some(0o755))?,
            r => r?,
        };
        let raw = fd.fd();
        self.parents.push(path, fd);
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
        // The open that creates a file returns a writable fd whatever its
        // mode, so it can be created with its final one. Not with setuid or
        // setgid: the chown below would clear them.
        let mode = e.mode & 0o7777;
        let exact = mode & 0o7000 == 0 && mode & self.umask == 0;
        let create_mode = if exact { mode } else { 0o600 };
        let fd = match fs::openat(pfd, name, flags, create_mode) {
            Err(Errno::EEXIST) => {
                tree::remove_tree(pfd, name).at("replace", &e.path)?;
                fs::openat(pfd, name, flags, create_mode)
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
        // The same steps as set_meta, on the open file instead of its name.
        let f = fd.fd();
        let r = (|| {
            if self.own != Some((e.uid, e.gid)) {
                self.set_owner(f, c"", e, fs::AT_EMPTY_PATH)?;
            }
            if !exact {
                fs::fchmod(f, mode)?;
            }
            self.set_xattrs(pfd, name, e)?;
            fs::futimens(f, e.mtime, 0)
        })();
        r.at("set attributes of", &e.path)
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

    fn set_owner(&self, pfd: Fd, name: &CStr, e: &Entry, flags: i32) -> SysResult<()> {
        if !self.privileged {
            return Ok(());
        }
        match fs::fchownat(pfd, name, e.uid, e.gid, flags) {
            // An id with no mapping in our user namespace.
            Err(Errno::EINVAL) => Ok(()),
            r => r,
        }
    }

    /// Owner, then mode (chown clears setuid and setgid, so it goes first),
    /// xattrs and mtime. Directories get mode and mtime at the end.
    fn set_meta(&self, pfd: Fd, name: &CStr, e: &Entry) -> SysResult<()> {
        self.set_owner(pfd, name, e, fs::AT_SYMLINK_NOFOLLOW)?;
        if !matches!(e.kind, Kind::Symlink | Kind::Dir | Kind::HardLink) {
            fs::fchmodat(pfd, name, e.mode & 0o7777)?;
        }
        self.set_xattrs(pfd, name, e)?;
        if !matches!(e.kind, Kind::Dir | Kind::HardLink) {
            fs::utimensat(pfd, name, e.mtime, 0, fs::AT_SYMLINK_NOFOLLOW)?;
        }
        Ok(())
    }

    fn set_xattrs(&self, pfd: Fd, name: &CStr, e: &Entry) -> SysResult<()> {
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
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<(), Error> {
        let dirs = core::mem::take(&mut self.dirs);
        for d in dirs.iter().rev() {
            let (parent, name) = split_parent(&d.path);
            let name: &[u8] = if d.path.is_empty() { b"." } else { name };
            let pfd = match self.resolve(parent, false) {
                Ok(fd) => fd,
                // Replaced by a later entry: nothing to fix.
                Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => continue,
                Err(e) => return Err(Error::sys("open", &d.path, e)),
            };
            let mut c = CBuf::<256>::from(name);
            let c = c.cstr().at("open", &d.path)?;
            match fs::fstatat(pfd, c, fs::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if st.is_dir() => {}
                _ => continue,
            }
            fs::fchmodat(pfd, c, d.mode & 0o7777).at("chmod", &d.path)?;
            fs::utimensat(pfd, c, d.mtime, 0, fs::AT_SYMLINK_NOFOLLOW).at("set mtime of", &d.path)?;
        }
        self.parents.clear();
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

    #[test]
    fn dir_stack_keeps_only_the_ancestors_of_the_next_path() {
        let mut st = DirStack::default();
        for p in [&b"a"[..], b"a/b", b"a/b/c"] {
            st.push(p, fs::openat(Fd::CWD, c"/", O_PATH | O_CLOEXEC, 0).unwrap());
        }
        for (target, keep, path) in [
            (&b"a/b/c/d"[..], 3, &b"a/b/c"[..]),
            (b"a/b/c", 3, b"a/b/c"),
            (b"a/b", 2, b"a/b"),
            (b"a/bc", 1, b"a"),
            (b"x", 0, b""),
        ] {
            st.truncate_to(target);
            assert_eq!((st.fds.len(), st.ends.len(), &st.path[..]), (keep, keep, path), "{target:?}");
        }
    }
}
