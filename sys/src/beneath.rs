//! Path resolution that never leaves a root directory.
//!
//! A container rootfs (or an image layer being unpacked) is untrusted: a
//! symlink `etc -> /etc` or `x -> ../../..` must not redirect a mount target
//! or a write onto the host (CVE-2018-15664 class races, tar-slip). Absolute
//! symlinks are taken relative to the root and `..` stops at the root, the
//! way openat2(RESOLVE_IN_ROOT) does. Kernels before 5.6 lack openat2, so the
//! same rules are implemented here as a component walk with O_NOFOLLOW.

use crate::errno::{Errno, SysResult};
use crate::fd::{dup_cloexec, Fd, OwnedFd};
use crate::fmt::Sink;
use crate::fs::{self, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_NOFOLLOW, O_PATH};
use crate::path::CBuf;

/// The kernel's own limit on symlinks followed in one lookup.
const MAX_LINKS: u32 = 40;

/// Open `path` inside `root` with `flags` (`O_CREAT` allowed). Absolute
/// paths and symlinks are resolved relative to `root`.
pub fn open_in_root(root: Fd, path: &[u8], flags: i32, mode: u32) -> SysResult<OwnedFd> {
    let mut c = CBuf::<4096>::from(path);
    let r = fs::openat2(root, c.cstr()?, flags | O_CLOEXEC, mode, fs::RESOLVE_IN_ROOT | fs::RESOLVE_NO_MAGICLINKS);
    match r {
        Err(Errno::ENOSYS) => open_in_root_walk(root, path, flags, mode),
        r => r,
    }
}

/// `open_in_root` without openat2: the O_NOFOLLOW component walk.
pub fn open_in_root_walk(root: Fd, path: &[u8], flags: i32, mode: u32) -> SysResult<OwnedFd> {
    let follow = flags & O_NOFOLLOW == 0;
    if flags & O_CREAT != 0 {
        let (parent, last) = split_last(path);
        if last.is_empty() || last == b"." || last == b".." {
            return Err(Errno::EISDIR);
        }
        let dir = walk(root, parent, None, true)?;
        let mut name = CBuf::<256>::from(last);
        match fs::openat(dir.fd(), name.cstr()?, flags | O_NOFOLLOW | O_CLOEXEC, mode) {
            // The last component is a symlink: follow it, still inside root.
            Err(Errno::ELOOP) if follow => {}
            r => return r,
        }
    }
    let target = walk(root, path, None, follow)?;
    if flags & O_PATH != 0 {
        if flags & O_DIRECTORY != 0 && !fs::fstat(target.fd())?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        return Ok(target);
    }
    reopen(&target, flags & !(O_CREAT | fs::O_EXCL))
}

/// Open (and with `mode`, create like `mkdir -p`) the directory `path` inside
/// `root`; returns an O_PATH fd, suitable as a mount target through
/// /proc/self/fd.
pub fn mkdir_in_root(root: Fd, path: &[u8], mode: Option<u32>) -> SysResult<OwnedFd> {
    let fd = walk(root, path, mode, true)?;
    if !fs::fstat(fd.fd())?.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok(fd)
}

/// Re-open an O_PATH fd with real access flags through its magic link.
pub fn reopen(fd: &OwnedFd, flags: i32) -> SysResult<OwnedFd> {
    let mut p = CBuf::<64>::new();
    p.s("/proc/self/fd/").u(fd.raw() as u64);
    fs::openat(Fd::CWD, p.cstr()?, flags | O_CLOEXEC, 0)
}

fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    let trimmed = {
        let mut end = path.len();
        while end > 1 && path[end - 1] == b'/' {
            end -= 1;
        }
        &path[..end]
    };
    match trimmed.iter().rposition(|&c| c == b'/') {
        Some(i) => (&trimmed[..i + 1], &trimmed[i + 1..]),
        None => (b"", trimmed),
    }
}

/// The walk: returns an O_PATH fd of what `path` names inside `root`.
/// `create`: mkdir missing components with this mode. `follow_last`:
/// whether a symlink in the last component is followed.
fn walk(root: Fd, path: &[u8], create: Option<u32>, follow_last: bool) -> SysResult<OwnedFd> {
    walk_from(root, path, create, follow_last, false)
}

/// Whether resolving `path` inside `root` climbs above it through `..`,
/// directly or via a relative symlink such as `x -> ../../etc`. Absolute
/// symlinks are paths inside the root and do not escape; a missing component
/// ends the check (it would be created as a directory). openat2 cannot tell
/// this: RESOLVE_IN_ROOT clamps such a climb silently, and RESOLVE_BENEATH
/// refuses absolute symlinks as well.
pub fn escapes(root: Fd, path: &[u8]) -> bool {
    matches!(walk_from(root, path, None, true, true), Err(Errno::EXDEV | Errno::ELOOP | Errno::ENAMETOOLONG))
}

/// An fd of our own for `root`; AT_FDCWD is not an fd and cannot be dup'ed.
fn own_root(root: Fd) -> SysResult<OwnedFd> {
    if root == Fd::CWD {
        return fs::openat(Fd::CWD, c".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    }
    dup_cloexec(root, 3)
}

/// The walk itself; `strict`: `..` at the root is EXDEV instead of a no-op.
fn walk_from(root: Fd, path: &[u8], create: Option<u32>, follow_last: bool, strict: bool) -> SysResult<OwnedFd> {
    let mut cur = own_root(root)?;
    let mut depth = 0usize;
    let mut links = 0u32;
    let mut pending = CBuf::<4096>::from(path);
    let mut pos = 0usize;
    loop {
        let rest = pending.bytes().get(pos..).unwrap_or_default();
        let start = match rest.iter().position(|&c| c != b'/') {
            Some(s) => s,
            None => return Ok(cur),
        };
        let rest = rest.get(start..).unwrap_or_default();
        let len = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
        let comp_end = pos + start + len;
        let is_last = pending.bytes().get(comp_end..).unwrap_or_default().iter().all(|&c| c == b'/');
        let mut comp = CBuf::<256>::from(rest.get(..len).unwrap_or_default());
        pos = comp_end;
        match comp.bytes() {
            b"." => continue,
            b".." => {
                // `..` at the root stays at the root, as in RESOLVE_IN_ROOT.
                if depth == 0 && strict {
                    return Err(Errno::EXDEV);
                }
                if depth > 0 {
                    cur = fs::openat(cur.fd(), c"..", O_PATH | O_DIRECTORY | O_CLOEXEC, 0)?;
                    depth -= 1;
                }
                continue;
            }
            _ => {}
        }
        let name = comp.cstr()?;
        let next = match fs::openat(cur.fd(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0) {
            Err(Errno::ENOENT) if create.is_some() => {
                match fs::mkdirat(cur.fd(), name, create.unwrap_or(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                fs::openat(cur.fd(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0)?
            }
            r => r?,
        };
        let st = fs::fstat(next.fd())?;
        if st.is_lnk() && (!is_last || follow_last) {
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::ELOOP);
            }
            let mut buf = [0u8; 4096];
            let target = fs::readlinkat(next.fd(), c"", &mut buf)?;
            if target.first() == Some(&b'/') {
                cur = own_root(root)?;
                depth = 0;
            }
            let mut np = CBuf::<4096>::new();
            np.b(target).c(b'/').b(pending.bytes().get(pos..).unwrap_or_default());
            np.cstr()?;
            pending = np;
            pos = 0;
            continue;
        }
        if !is_last && !st.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        cur = next;
        depth += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::fs::symlink;

    struct Tree(std::path::PathBuf);
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tree(tag: &str) -> (Tree, OwnedFd) {
        let d = std::env::temp_dir().join(format!("husk-beneath-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("etc/passwd"), b"inside").unwrap();
        symlink("/etc", d.join("abs")).unwrap();
        symlink("../../../../../../etc", d.join("a/b/up")).unwrap();
        symlink("loop2", d.join("loop1")).unwrap();
        symlink("loop1", d.join("loop2")).unwrap();
        let c = CString::new(d.to_str().unwrap()).unwrap();
        let fd = fs::openat(Fd::CWD, &c, O_PATH | O_DIRECTORY | O_CLOEXEC, 0).unwrap();
        (Tree(d), fd)
    }

    fn read(fd: OwnedFd) -> Vec<u8> {
        let mut b = [0u8; 64];
        let n = fs::read(fd.fd(), &mut b).unwrap();
        b[..n].to_vec()
    }

    type Open = fn(Fd, &[u8], i32, u32) -> SysResult<OwnedFd>;

    #[test]
    fn symlinks_and_dotdot_stay_inside_the_root() {
        for (tag, open) in [("openat2", open_in_root as Open), ("walk", open_in_root_walk as Open)] {
            let (_t, root) = tree(tag);
            for p in [&b"abs/passwd"[..], b"/abs/passwd", b"a/b/up/passwd", b"../../etc/passwd", b"/etc/passwd"] {
                let fd = open(root.fd(), p, fs::O_RDONLY, 0).unwrap_or_else(|e| panic!("{tag} {p:?}: {e:?}"));
                assert_eq!(read(fd), b"inside", "{tag} {:?}", std::str::from_utf8(p));
            }
            assert_eq!(open(root.fd(), b"loop1", fs::O_RDONLY, 0).unwrap_err(), Errno::ELOOP, "{tag}");
            assert_eq!(open(root.fd(), b"etc/passwd/x", fs::O_RDONLY, 0).unwrap_err(), Errno::ENOTDIR, "{tag}");
        }
    }

    #[test]
    fn escapes_reports_a_climb_above_the_root_only() {
        let (_t, root) = tree("escapes");
        assert!(escapes(root.fd(), b"a/b/up/passwd")); // relative link climbs out
        assert!(escapes(root.fd(), b"/../x"));
        assert!(escapes(root.fd(), b"loop1"));
        assert!(!escapes(root.fd(), b"abs/passwd")); // absolute: inside the root
        assert!(!escapes(root.fd(), b"a/b/../b/missing/dir"));
    }

    #[test]
    fn create_through_a_symlink_lands_inside() {
        let (t, root) = tree("create");
        let fd = open_in_root_walk(root.fd(), b"abs/newfile", O_CREAT | fs::O_WRONLY, 0o644).unwrap();
        fs::write_all(fd.fd(), b"x").unwrap();
        assert!(t.0.join("etc/newfile").exists());
        let d = mkdir_in_root(root.fd(), b"a/b/up/new/dir", Some(0o755)).unwrap();
        assert!(fs::fstat(d.fd()).unwrap().is_dir());
        assert!(t.0.join("etc/new/dir").is_dir());
    }
}
