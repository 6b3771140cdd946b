//! File descriptors: `Fd` is a borrowed number, `OwnedFd` closes on drop.

use crate::macros::sc;

/// A file descriptor number that this value does not own.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fd(pub i32);

impl Fd {
    pub const STDIN: Fd = Fd(0);
    pub const STDOUT: Fd = Fd(1);
    pub const STDERR: Fd = Fd(2);
    /// `AT_FDCWD`: resolve relative paths against the working directory.
    pub const CWD: Fd = Fd(libc::AT_FDCWD);
    pub fn raw(self) -> i32 {
        self.0
    }
}

/// A file descriptor that is closed when dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnedFd(i32);

impl OwnedFd {
    /// Take ownership of `fd`; it will be closed on drop.
    pub fn from_raw(fd: i32) -> OwnedFd {
        OwnedFd(fd)
    }
    pub fn fd(&self) -> Fd {
        Fd(self.0)
    }
    pub fn raw(&self) -> i32 {
        self.0
    }
    /// Give up ownership without closing.
    pub fn into_raw(self) -> i32 {
        let fd = self.0;
        core::mem::forget(self);
        fd
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        // close(2) errors are not actionable here: the fd is gone either way.
        let _ = close(self.0);
    }
}

/// `int close(int fd)`
pub fn close(fd: i32) -> crate::SysResult<()> {
    // SAFETY: close takes no pointers.
    unsafe { sc!(close, fd) }.map(|_| ())
}

/// `int close_range(unsigned first, unsigned last, unsigned flags)`
pub fn close_range(first: u32, last: u32, flags: u32) -> crate::SysResult<()> {
    // SAFETY: close_range takes no pointers.
    unsafe { sc!(close_range, first, last, flags) }.map(|_| ())
}
pub const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;

/// `int dup3(int old, int new, int flags)`
pub fn dup3(old: Fd, new: i32, flags: i32) -> crate::SysResult<OwnedFd> {
    // SAFETY: dup3 takes no pointers.
    unsafe { sc!(dup3, old.0, new, flags) }.map(|fd| OwnedFd(fd as i32))
}

/// `int dup2(int old, int new)` spelled as dup3, which refuses old == new.
pub fn dup2(old: Fd, new: i32) -> crate::SysResult<()> {
    if old.0 == new {
        return fcntl_getfd(old).map(|_| ());
    }
    dup3(old, new, 0).map(OwnedFd::into_raw).map(|_| ())
}

/// `fcntl(fd, F_DUPFD_CLOEXEC, min)`
pub fn dup_cloexec(fd: Fd, min: i32) -> crate::SysResult<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an integer argument.
    unsafe { sc!(fcntl, fd.0, libc::F_DUPFD_CLOEXEC, min) }.map(|fd| OwnedFd(fd as i32))
}

/// `fcntl(fd, F_GETFD)`
pub fn fcntl_getfd(fd: Fd) -> crate::SysResult<i32> {
    // SAFETY: F_GETFD takes no argument.
    unsafe { sc!(fcntl, fd.0, libc::F_GETFD) }.map(|v| v as i32)
}

/// `fcntl(fd, F_SETFD, flags)`: set or clear FD_CLOEXEC.
pub fn fcntl_setfd(fd: Fd, flags: i32) -> crate::SysResult<()> {
    // SAFETY: F_SETFD takes an integer argument.
    unsafe { sc!(fcntl, fd.0, libc::F_SETFD, flags) }.map(|_| ())
}

/// `fcntl(fd, F_GETFL)`
pub fn fcntl_getfl(fd: Fd) -> crate::SysResult<i32> {
    // SAFETY: F_GETFL takes no argument.
    unsafe { sc!(fcntl, fd.0, libc::F_GETFL) }.map(|v| v as i32)
}

/// `fcntl(fd, F_SETFL, flags)`
pub fn fcntl_setfl(fd: Fd, flags: i32) -> crate::SysResult<()> {
    // SAFETY: F_SETFL takes an integer argument.
    unsafe { sc!(fcntl, fd.0, libc::F_SETFL, flags) }.map(|_| ())
}

/// `fcntl(fd, F_ADD_SEALS, seals)`
pub fn fcntl_add_seals(fd: Fd, seals: i32) -> crate::SysResult<()> {
    // SAFETY: F_ADD_SEALS takes an integer argument.
    unsafe { sc!(fcntl, fd.0, libc::F_ADD_SEALS, seals) }.map(|_| ())
}

/// `fcntl(fd, F_GET_SEALS)`
pub fn fcntl_get_seals(fd: Fd) -> crate::SysResult<i32> {
    // SAFETY: F_GET_SEALS takes no argument.
    unsafe { sc!(fcntl, fd.0, libc::F_GET_SEALS) }.map(|v| v as i32)
}

/// `int flock(int fd, int op)`
pub fn flock(fd: Fd, op: i32) -> crate::SysResult<()> {
    // SAFETY: flock takes no pointers.
    unsafe { sc!(flock, fd.0, op) }.map(|_| ())
}
pub use libc::{LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN};

/// `int ppoll(struct pollfd *fds, 1, const struct timespec *t, NULL, 0)` for
/// one fd: the events that arrived, 0 on timeout; `None` waits forever.
pub fn ppoll(fd: Fd, events: i16, timeout_ns: Option<u64>) -> crate::SysResult<i16> {
    let mut p = libc::pollfd { fd: fd.0, events, revents: 0 };
    let ts = timeout_ns
        .map(|ns| libc::timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 });
    let tp = match &ts {
        Some(t) => t as *const libc::timespec as usize,
        None => 0,
    };
    // SAFETY: p is one writable pollfd, the count passed; tp is NULL or a
    // valid timespec; the signal mask is NULL.
    let n = unsafe { sc!(ppoll, &mut p as *mut libc::pollfd, 1usize, tp, 0usize, 0usize) }?;
    Ok(if n == 0 { 0 } else { p.revents })
}
pub use libc::{POLLHUP, POLLIN};
