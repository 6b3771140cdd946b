//! Files and directories: open/read/write, the *at family, stat, getdents64.
//!
//! Everything takes a directory fd plus a `&CStr`, so callers can work
//! relative to a container root they hold open rather than to host paths.

use crate::errno::{retry, Errno, SysResult};
use crate::fd::{Fd, OwnedFd};
use crate::macros::sc;
use core::ffi::CStr;

pub use libc::{
    AT_EMPTY_PATH, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOCTTY,
    O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK,
    S_IFMT, S_IFREG, S_IFSOCK,
};

/// `buf[..n]` without a panic path: n comes from the kernel and is never
/// larger, and a bounds check per call site cost husk half a kilobyte.
fn head(buf: &[u8], n: usize) -> &[u8] {
    buf.get(..n).unwrap_or(buf)
}

/// `int openat(int dirfd, const char *path, int flags, mode_t mode)`
pub fn openat(dir: Fd, path: &CStr, flags: i32, mode: u32) -> SysResult<OwnedFd> {
    // SAFETY: path is a valid NUL-terminated string for the call's duration.
    retry(|| unsafe { sc!(openat, dir.0, path.as_ptr(), flags, mode) }).map(|fd| OwnedFd::from_raw(fd as i32))
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}
pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// `int openat2(int dirfd, const char *path, struct open_how *how, size_t size)`
pub fn openat2(dir: Fd, path: &CStr, flags: i32, mode: u32, resolve: u64) -> SysResult<OwnedFd> {
    let how = OpenHow { flags: flags as u64, mode: mode as u64, resolve };
    // SAFETY: path is NUL-terminated; how lives across the call and its size is passed.
    retry(|| unsafe { sc!(openat2, dir.0, path.as_ptr(), &how as *const OpenHow, core::mem::size_of::<OpenHow>()) })
        .map(|fd| OwnedFd::from_raw(fd as i32))
}

/// `ssize_t read(int fd, void *buf, size_t count)`
pub fn read(fd: Fd, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: buf is writable for buf.len() bytes.
    retry(|| unsafe { sc!(read, fd.0, buf.as_mut_ptr(), buf.len()) })
}

/// `ssize_t pread64(int fd, void *buf, size_t count, off_t offset)`
pub fn pread(fd: Fd, buf: &mut [u8], offset: u64) -> SysResult<usize> {
    // SAFETY: buf is writable for buf.len() bytes.
    retry(|| unsafe { sc!(pread64, fd.0, buf.as_mut_ptr(), buf.len(), offset) })
}

/// `ssize_t write(int fd, const void *buf, size_t count)`
pub fn write(fd: Fd, buf: &[u8]) -> SysResult<usize> {
    // SAFETY: buf is readable for buf.len() bytes.
    retry(|| unsafe { sc!(write, fd.0, buf.as_ptr(), buf.len()) })
}

/// write(2) until all of `buf` is written.
pub fn write_all(fd: Fd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        let n = write(fd, buf)?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        buf = buf.get(n..).unwrap_or_default();
    }
    Ok(())
}

/// read(2) until `buf` is full or end of file; returns the bytes read.
pub fn read_full(fd: Fd, buf: &mut [u8]) -> SysResult<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = read(fd, buf.get_mut(got..).unwrap_or_default())?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// `off_t lseek(int fd, off_t offset, int whence)`
pub fn lseek(fd: Fd, offset: i64, whence: i32) -> SysResult<u64> {
    // SAFETY: lseek takes no pointers.
    unsafe { sc!(lseek, fd.0, offset, whence) }.map(|v| v as u64)
}
pub use libc::{SEEK_CUR, SEEK_END, SEEK_SET};

/// `int ftruncate(int fd, off_t length)`
pub fn ftruncate(fd: Fd, len: u64) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(ftruncate, fd.0, len) }.map(|_| ())
}

/// `int fsync(int fd)`
pub fn fsync(fd: Fd) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(fsync, fd.0) }.map(|_| ())
}

/// `int pipe2(int fds[2], int flags)`: (read end, write end).
pub fn pipe2(flags: i32) -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two ints the kernel writes.
    unsafe { sc!(pipe2, fds.as_mut_ptr(), flags) }?;
    Ok((OwnedFd::from_raw(fds[0]), OwnedFd::from_raw(fds[1])))
}

/// `int mkdirat(int dirfd, const char *path, mode_t mode)`
pub fn mkdirat(dir: Fd, path: &CStr, mode: u32) -> SysResult<()> {
    // SAFETY: path is NUL-terminated.
    unsafe { sc!(mkdirat, dir.0, path.as_ptr(), mode) }.map(|_| ())
}

/// `int symlinkat(const char *target, int dirfd, const char *linkpath)`
pub fn symlinkat(target: &CStr, dir: Fd, path: &CStr) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated.
    unsafe { sc!(symlinkat, target.as_ptr(), dir.0, path.as_ptr()) }.map(|_| ())
}

/// `int linkat(int olddirfd, const char *old, int newdirfd, const char *new, int flags)`
pub fn linkat(odir: Fd, old: &CStr, ndir: Fd, new: &CStr, flags: i32) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated.
    unsafe { sc!(linkat, odir.0, old.as_ptr(), ndir.0, new.as_ptr(), flags) }.map(|_| ())
}

/// `int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)`
pub fn mknodat(dir: Fd, path: &CStr, mode: u32, dev: u64) -> SysResult<()> {
    // SAFETY: path is NUL-terminated.
    unsafe { sc!(mknodat, dir.0, path.as_ptr(), mode, dev) }.map(|_| ())
}

/// The kernel's dev_t encoding of (major, minor).
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (major as u64, minor as u64);
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

/// `int unlinkat(int dirfd, const char *path, int flags)`
pub fn unlinkat(dir: Fd, path: &CStr, flags: i32) -> SysResult<()> {
    // SAFETY: path is NUL-terminated.
    unsafe { sc!(unlinkat, dir.0, path.as_ptr(), flags) }.map(|_| ())
}

/// `int renameat2(int olddir, const char *old, int newdir, const char *new, unsigned flags)`
pub fn renameat2(odir: Fd, old: &CStr, ndir: Fd, new: &CStr, flags: u32) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated.
    unsafe { sc!(renameat2, odir.0, old.as_ptr(), ndir.0, new.as_ptr(), flags) }.map(|_| ())
}
pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;

/// `ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size)`
pub fn readlinkat<'a>(dir: Fd, path: &CStr, buf: &'a mut [u8]) -> SysResult<&'a [u8]> {
    // SAFETY: path is NUL-terminated; buf is writable for its length.
    let n = unsafe { sc!(readlinkat, dir.0, path.as_ptr(), buf.as_mut_ptr(), buf.len()) }?;
    if n == buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(head(buf, n))
}

/// `int fchmodat(int dirfd, const char *path, mode_t mode, 0)`
pub fn fchmodat(dir: Fd, path: &CStr, mode: u32) -> SysResult<()> {
    // SAFETY: path is NUL-terminated.
    unsafe { sc!(fchmodat, dir.0, path.as_ptr(), mode) }.map(|_| ())
}

/// `int fchmod(int fd, mode_t mode)`
pub fn fchmod(fd: Fd, mode: u32) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(fchmod, fd.0, mode) }.map(|_| ())
}

/// `int fchownat(int dirfd, const char *path, uid_t, gid_t, int flags)`
pub fn fchownat(dir: Fd, path: &CStr, uid: u32, gid: u32, flags: i32) -> SysResult<()> {
    // SAFETY: path is NUL-terminated.
    unsafe { sc!(fchownat, dir.0, path.as_ptr(), uid, gid, flags) }.map(|_| ())
}

/// `int utimensat(int dirfd, const char *path, const struct timespec t[2], int flags)`:
/// sets atime and mtime to `(sec, nsec)`.
pub fn utimensat(dir: Fd, path: &CStr, sec: i64, nsec: i64, flags: i32) -> SysResult<()> {
    let ts = [libc::timespec { tv_sec: sec, tv_nsec: nsec }, libc::timespec { tv_sec: sec, tv_nsec: nsec }];
    // SAFETY: path is NUL-terminated; ts holds the two timespecs the kernel reads.
    unsafe { sc!(utimensat, dir.0, path.as_ptr(), ts.as_ptr(), flags) }.map(|_| ())
}

/// `int utimensat(int fd, NULL, const struct timespec t[2], 0)`, futimens(3):
/// sets atime and mtime of the open file `fd` to `(sec, nsec)`.
pub fn futimens(fd: Fd, sec: i64, nsec: i64) -> SysResult<()> {
    let ts = [libc::timespec { tv_sec: sec, tv_nsec: nsec }, libc::timespec { tv_sec: sec, tv_nsec: nsec }];
    // SAFETY: a NULL path makes the kernel act on fd itself; ts holds the
    // two timespecs it reads.
    unsafe { sc!(utimensat, fd.0, core::ptr::null::<u8>(), ts.as_ptr(), 0) }.map(|_| ())
}

/// `int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)`
pub fn fsetxattr(fd: Fd, name: &CStr, value: &[u8], flags: i32) -> SysResult<()> {
    // SAFETY: name is NUL-terminated; value is readable for its length.
    unsafe { sc!(fsetxattr, fd.0, name.as_ptr(), value.as_ptr(), value.len(), flags) }.map(|_| ())
}

/// `int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)`
pub fn lsetxattr(path: &CStr, name: &CStr, value: &[u8], flags: i32) -> SysResult<()> {
    // SAFETY: strings are NUL-terminated; value is readable for its length.
    unsafe { sc!(lsetxattr, path.as_ptr(), name.as_ptr(), value.as_ptr(), value.len(), flags) }.map(|_| ())
}

/// `ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)`
pub fn lgetxattr<'a>(path: &CStr, name: &CStr, buf: &'a mut [u8]) -> SysResult<&'a [u8]> {
    // SAFETY: strings are NUL-terminated; buf is writable for its length.
    let n = unsafe { sc!(lgetxattr, path.as_ptr(), name.as_ptr(), buf.as_mut_ptr(), buf.len()) }?;
    Ok(head(buf, n))
}

/// What husk needs of `struct stat`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
}

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    pub fn is_reg(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
    pub fn is_lnk(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }
}

/// `int newfstatat(int dirfd, const char *path, struct stat *st, int flags)`
pub fn fstatat(dir: Fd, path: &CStr, flags: i32) -> SysResult<Stat> {
    // SAFETY: all-zero bytes are a valid `struct stat`.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: path is NUL-terminated; st is a writable struct stat.
    unsafe { sc!(newfstatat, dir.0, path.as_ptr(), &mut st as *mut libc::stat, flags) }?;
    Ok(Stat {
        dev: st.st_dev,
        ino: st.st_ino,
        mode: st.st_mode,
        nlink: st.st_nlink,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev,
        size: st.st_size as u64,
        mtime: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
    })
}

/// fstat(2) through `fstatat(fd, "", AT_EMPTY_PATH)`.
pub fn fstat(fd: Fd) -> SysResult<Stat> {
    fstatat(fd, c"", AT_EMPTY_PATH)
}

/// `int fstatfs(int fd, struct statfs *buf)`: the filesystem magic (`f_type`).
pub fn fstatfs_type(fd: Fd) -> SysResult<i64> {
    // SAFETY: all-zero bytes are a valid `struct statfs`.
    let mut st: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: st is a writable struct statfs.
    unsafe { sc!(fstatfs, fd.0, &mut st as *mut libc::statfs) }?;
    Ok(st.f_type)
}
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
pub const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
pub const TMPFS_MAGIC: i64 = 0x0102_1994;
pub const RAMFS_MAGIC: i64 = 0x8584_58f6;
pub const PROC_SUPER_MAGIC: i64 = 0x9fa0;
pub const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// `int chdir(const char *path)`
pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: path is NUL-terminated.
    unsafe { sc!(chdir, path.as_ptr()) }.map(|_| ())
}

/// `int fchdir(int fd)`
pub fn fchdir(fd: Fd) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(fchdir, fd.0) }.map(|_| ())
}

/// `int chroot(const char *path)`
pub fn chroot(path: &CStr) -> SysResult<()> {
    // SAFETY: path is NUL-terminated.
    unsafe { sc!(chroot, path.as_ptr()) }.map(|_| ())
}

/// `char *getcwd(char *buf, size_t size)`: the bytes of the path, no NUL.
/// The kernel prefixes `(unreachable)` when the cwd is outside our root.
pub fn getcwd(buf: &mut [u8]) -> SysResult<&[u8]> {
    // SAFETY: buf is writable for its length.
    let n = unsafe { sc!(getcwd, buf.as_mut_ptr(), buf.len()) }?;
    Ok(head(buf, n.saturating_sub(1)))
}

/// `mode_t umask(mode_t mask)`
pub fn umask(mask: u32) -> u32 {
    // SAFETY: no pointers; umask cannot fail.
    unsafe { sc!(umask, mask) }.unwrap_or(0) as u32
}

/// One entry of a directory read with getdents64.
pub struct DirEntry {
    pub ino: u64,
    pub kind: u8,
    name_len: u8,
    name: [u8; 256],
}

impl DirEntry {
    pub fn name(&self) -> &[u8] {
        head(&self.name, self.name_len as usize)
    }
    /// The name as a C string (names never contain NUL).
    pub fn cname(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.name).unwrap_or(c"")
    }
    pub fn is_dot(&self) -> bool {
        matches!(self.name(), b"." | b"..")
    }
}
pub use libc::{DT_BLK, DT_CHR, DT_DIR, DT_FIFO, DT_LNK, DT_REG, DT_SOCK, DT_UNKNOWN};

/// `ssize_t getdents64(int fd, void *dirp, size_t count)`
pub fn getdents64(fd: Fd, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: buf is writable for its length.
    unsafe { sc!(getdents64, fd.0, buf.as_mut_ptr(), buf.len()) }
}

/// A directory being read, entry by entry, with a fixed buffer.
pub struct Dir {
    fd: OwnedFd,
    pos: usize,
    len: usize,
    buf: [u8; 2048],
}

impl Dir {
    /// Read the directory `fd` (opened with O_DIRECTORY).
    pub fn new(fd: OwnedFd) -> Dir {
        Dir { fd, pos: 0, len: 0, buf: [0; 2048] }
    }
    /// Open `path` under `dir` and read it.
    pub fn open(dir: Fd, path: &CStr) -> SysResult<Dir> {
        openat(dir, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0).map(Dir::new)
    }
    pub fn fd(&self) -> Fd {
        self.fd.fd()
    }
    /// The next entry, `.` and `..` included; `None` at the end.
    pub fn next_entry(&mut self) -> SysResult<Option<DirEntry>> {
        if self.pos >= self.len {
            self.len = getdents64(self.fd.fd(), &mut self.buf)?;
            self.pos = 0;
            if self.len == 0 {
                return Ok(None);
            }
        }
        // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
        let rec = self.buf.get(self.pos..self.len).unwrap_or_default();
        let (Some(ino), Some(&[r0, r1, kind]), Some(names)) = (rec.get(..8), rec.get(16..19), rec.get(19..)) else {
            return Err(Errno::EIO);
        };
        let ino = u64::from_ne_bytes(ino.try_into().unwrap_or([0; 8]));
        let reclen = u16::from_ne_bytes([r0, r1]) as usize;
        let name_area = names.get(..reclen.saturating_sub(19)).unwrap_or(names);
        let n = name_area.iter().position(|&c| c == 0).unwrap_or(name_area.len()).min(255);
        let mut e = DirEntry { ino, kind, name_len: n as u8, name: [0; 256] };
        e.name.get_mut(..n).unwrap_or_default().copy_from_slice(head(name_area, n));
        self.pos += reclen.max(1);
        Ok(Some(e))
    }
}

/// Read a whole small file into `buf` (e.g. /proc files); returns the bytes.
pub fn read_file<'a>(dir: Fd, path: &CStr, buf: &'a mut [u8]) -> SysResult<&'a [u8]> {
    let fd = openat(dir, path, O_RDONLY | O_CLOEXEC, 0)?;
    let n = read_full(fd.fd(), buf)?;
    Ok(head(buf, n))
}

/// Write `data` to an existing file (cgroup and /proc knobs): one write(2),
/// because kernel knobs take one value per write.
pub fn write_file(dir: Fd, path: &CStr, data: &[u8]) -> SysResult<()> {
    let fd = openat(dir, path, O_WRONLY | O_CLOEXEC, 0)?;
    write_all(fd.fd(), data)
}

/// Read a whole file into a Vec.
#[cfg(feature = "alloc")]
pub fn read_to_vec(dir: Fd, path: &CStr) -> SysResult<alloc::vec::Vec<u8>> {
    let fd = openat(dir, path, O_RDONLY | O_CLOEXEC, 0)?;
    let mut v = alloc::vec::Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = read(fd.fd(), &mut chunk)?;
        if n == 0 {
            return Ok(v);
        }
        v.extend_from_slice(head(&chunk, n));
    }
}

/// `ssize_t llistxattr(const char *path, char *list, size_t size)`: the
/// NUL-separated attribute names of `path` itself (symlinks not followed).
pub fn llistxattr<'a>(path: &CStr, buf: &'a mut [u8]) -> SysResult<&'a [u8]> {
    // SAFETY: path is NUL-terminated; buf is writable for its length.
    let n = unsafe { sc!(llistxattr, path.as_ptr(), buf.as_mut_ptr(), buf.len()) }?;
    Ok(head(buf, n))
}

/// `ssize_t copy_file_range(int in, NULL, int out, NULL, size_t len, 0)`:
/// copy from the current offsets, inside the kernel.
pub fn copy_file_range(src: Fd, dst: Fd, len: usize) -> SysResult<usize> {
    // SAFETY: NULL offsets mean "use and advance the file offsets"; no other pointers.
    retry(|| unsafe {
        sc!(copy_file_range, src.0, core::ptr::null_mut::<i64>(), dst.0, core::ptr::null_mut::<i64>(), len, 0u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_readdir_see_a_real_directory() {
        let dir = std::env::temp_dir().join(format!("husk-sys-fs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("file"), b"abc").unwrap();
        let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
        let mut d = Dir::open(Fd::CWD, &c).unwrap();
        let mut names = Vec::new();
        while let Some(e) = d.next_entry().unwrap() {
            if !e.is_dot() {
                names.push((String::from_utf8(e.name().to_vec()).unwrap(), e.kind));
            }
        }
        names.sort();
        assert_eq!(names, vec![("file".into(), DT_REG), ("sub".into(), DT_DIR)]);
        let st = fstatat(d.fd(), c"file", 0).unwrap();
        assert!(st.is_reg());
        assert_eq!(st.size, 3);
        assert_eq!(openat(d.fd(), c"missing", O_RDONLY, 0).unwrap_err(), Errno::ENOENT);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn makedev_matches_the_kernel_encoding() {
        assert_eq!(makedev(1, 3), 0x103); // /dev/null
        assert_eq!(makedev(136, 0), 0x8800);
        assert_eq!(makedev(259, 70000), 0x1111_0370);
    }
}
