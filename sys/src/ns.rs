//! Namespaces: unshare, setns, and the UTS names.

use crate::errno::SysResult;
use crate::fd::Fd;
use crate::macros::sc;

pub use libc::{
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS,
};

/// `int unshare(int flags)`
pub fn unshare(flags: i32) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(unshare, flags) }.map(|_| ())
}

/// `int setns(int fd, int nstype)`
pub fn setns(fd: Fd, nstype: i32) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(setns, fd.0, nstype) }.map(|_| ())
}

/// `int sethostname(const char *name, size_t len)`
pub fn sethostname(name: &[u8]) -> SysResult<()> {
    // SAFETY: name is readable for its length (no NUL needed).
    unsafe { sc!(sethostname, name.as_ptr(), name.len()) }.map(|_| ())
}

/// `int setdomainname(const char *name, size_t len)`
pub fn setdomainname(name: &[u8]) -> SysResult<()> {
    // SAFETY: name is readable for its length (no NUL needed).
    unsafe { sc!(setdomainname, name.as_ptr(), name.len()) }.map(|_| ())
}

/// Namespace kinds by the names /proc/PID/ns uses.
pub const KINDS: [(&str, i32); 8] = [
    ("user", CLONE_NEWUSER),
    ("mnt", CLONE_NEWNS),
    ("pid", CLONE_NEWPID),
    ("net", CLONE_NEWNET),
    ("ipc", CLONE_NEWIPC),
    ("uts", CLONE_NEWUTS),
    ("cgroup", CLONE_NEWCGROUP),
    ("time", CLONE_NEWTIME),
];

/// The CLONE_NEW* flag for a /proc/PID/ns name.
pub fn kind_flag(name: &[u8]) -> Option<i32> {
    KINDS.iter().find(|(n, _)| n.as_bytes() == name).map(|&(_, f)| f)
}
