//! Directory-tree helpers shared by the commands: remove a tree, list a
//! directory in a stable order, copy file data, read and write xattrs.
//!
//! Everything works on directory fds plus one name and opens with
//! O_NOFOLLOW, so a symlink planted in a tree (a layer, a rootfs being
//! packed) is handled as a symlink and never followed out of the tree.

use alloc::vec::Vec;
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, O_CLOEXEC, O_DIRECTORY, O_NOFOLLOW, O_RDONLY};
use husk_sys::{CBuf, CStr, Errno, Fd, OwnedFd, SysResult};

/// The C string of a name held in bytes (one path component or a path).
pub fn cpath(bytes: &[u8]) -> CBuf<4096> {
    CBuf::from(bytes)
}

/// Open the directory `name` under `dir` without following a symlink.
pub fn open_dir(dir: Fd, name: &CStr) -> SysResult<OwnedFd> {
    fs::openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)
}

/// The names in the directory `fd`, without `.` and `..`, sorted bytewise
/// (the order `pack` promises and `LC_ALL=C ls` shows).
pub fn list_sorted(fd: Fd) -> SysResult<Vec<Vec<u8>>> {
    let dup = husk_sys::fd::dup_cloexec(fd, 3)?;
    // A dup shares the file offset: rewind so the listing starts at the top.
    fs::lseek(dup.fd(), 0, fs::SEEK_SET)?;
    let mut d = fs::Dir::new(dup);
    let mut names = Vec::new();
    while let Some(e) = d.next_entry()? {
        if !e.is_dot() {
            names.push(e.name().to_vec());
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Remove `name` under `dir`, recursively if it is a directory (`rm -rf`).
/// A missing name is not an error.
pub fn remove_tree(dir: Fd, name: &CStr) -> SysResult<()> {
    match fs::unlinkat(dir, name, 0) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e),
    }
    let sub = match open_dir(dir, name) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    clear_dir(sub.fd())?;
    drop(sub);
    match fs::unlinkat(dir, name, fs::AT_REMOVEDIR) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Remove everything inside the directory `fd`, keeping the directory.
pub fn clear_dir(fd: Fd) -> SysResult<()> {
    for name in list_sorted(fd)? {
        let mut c = cpath(&name);
        remove_tree(fd, c.cstr()?)?;
    }
    Ok(())
}

/// Copy everything readable from `src` to `dst`: copy_file_range first
/// (reflinks or in-kernel copies), read/write where that is refused.
pub fn copy_data(src: Fd, dst: Fd, buf: &mut [u8]) -> SysResult<u64> {
    let mut total = 0u64;
    loop {
        match fs::copy_file_range(src, dst, 1 << 30) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            // Cross-filesystem before 5.3, or a filesystem without support.
            Err(Errno::EXDEV) | Err(Errno::EINVAL) | Err(Errno::ENOSYS) | Err(Errno::EOPNOTSUPP) if total == 0 => break,
            Err(e) => return Err(e),
        }
    }
    loop {
        let n = fs::read(src, buf)?;
        if n == 0 {
            return Ok(total);
        }
        fs::write_all(dst, &buf[..n])?;
        total += n as u64;
    }
}

/// `/proc/self/fd/DIR/NAME`: a path for the l*xattr calls, which have no
/// fd-relative form. The magic link is a middle component, so it is
/// followed; NAME itself is not (l-variants), and `.` names DIR.
pub fn fd_path(dir: Fd, name: &[u8]) -> CBuf<4096> {
    let mut p = CBuf::new();
    p.s("/proc/self/fd/").u(dir.raw() as u64).c(b'/').b(name);
    p
}

/// The extended attributes of `name` under `dir`, as (name, value) pairs
/// sorted by name; empty where the filesystem has none.
pub fn read_xattrs(dir: Fd, name: &[u8]) -> SysResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut path = fd_path(dir, name);
    let path = path.cstr()?;
    let mut list = alloc::vec![0u8; 65536];
    let names = match fs::llistxattr(path, &mut list) {
        Ok(n) => n.to_vec(),
        Err(Errno::EOPNOTSUPP) | Err(Errno::ENODATA) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for key in names.split(|&c| c == 0).filter(|k| !k.is_empty()) {
        let mut ck = CBuf::<256>::from(key);
        match fs::lgetxattr(path, ck.cstr()?, &mut list) {
            Ok(v) => out.push((key.to_vec(), v.to_vec())),
            Err(Errno::ENODATA) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort();
    Ok(out)
}

/// Set one extended attribute on `name` under `dir` (symlinks not followed).
pub fn set_xattr(dir: Fd, name: &[u8], key: &[u8], value: &[u8]) -> SysResult<()> {
    let mut path = fd_path(dir, name);
    let mut ck = CBuf::<256>::from(key);
    fs::lsetxattr(path.cstr()?, ck.cstr()?, value, 0)
}

/// True for the xattrs overlayfs keeps for itself. A layer must not carry
/// them in (a planted `trusted.overlay.redirect` or `metacopy` would make the
/// kernel look up other paths), and they are not copied out of a layer.
pub fn is_overlay_xattr(key: &[u8]) -> bool {
    key.starts_with(b"trusted.overlay.") || key.starts_with(b"user.overlay.")
}

/// True for a path component that is one name: not empty, `.`, `..`, and
/// without `/` or NUL. Used to check names that come from image metadata.
pub fn is_plain_name(name: &[u8]) -> bool {
    !matches!(name, b"" | b"." | b"..") && !name.contains(&b'/') && !name.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_exclude_dots_and_slashes() {
        assert!(is_plain_name(b"abc"));
        assert!(is_plain_name(b"a:b"));
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0"] {
            assert!(!is_plain_name(bad));
        }
    }

    #[test]
    fn remove_tree_removes_nested_dirs_and_keeps_symlink_targets() {
        let d = std::env::temp_dir().join(format!("husk-tree-{}", std::process::id()));
        let outside = d.join("outside");
        std::fs::create_dir_all(d.join("t/a/b")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        std::fs::write(d.join("t/a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, d.join("t/a/link")).unwrap();
        let c = std::ffi::CString::new(d.to_str().unwrap()).unwrap();
        let root = fs::openat(Fd::CWD, &c, O_RDONLY | O_DIRECTORY, 0).unwrap();
        assert_eq!(list_sorted(root.fd()).unwrap(), vec![b"outside".to_vec(), b"t".to_vec()]);
        remove_tree(root.fd(), c"t").unwrap();
        assert!(!d.join("t").exists());
        assert!(outside.join("keep").exists());
        remove_tree(root.fd(), c"missing").unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
