//! Mounts: mount, umount2, pivot_root, mount_setattr.

use crate::errno::SysResult;
use crate::fd::Fd;
use crate::macros::sc;
use core::ffi::CStr;

pub use libc::{
    MNT_DETACH, MS_BIND, MS_MOVE, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME,
    MS_REMOUNT, MS_SHARED, MS_SILENT, MS_SLAVE, MS_STRICTATIME,
};

/// `int mount(const char *src, const char *target, const char *fstype,
/// unsigned long flags, const void *data)`; `None` passes NULL.
pub fn mount(
    src: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> SysResult<()> {
    let p = |s: Option<&CStr>| s.map_or(0usize, |s| s.as_ptr() as usize);
    // SAFETY: every non-NULL pointer is a NUL-terminated string that outlives the call.
    unsafe { sc!(mount, p(src), target.as_ptr(), p(fstype), flags, p(data)) }.map(|_| ())
}

/// `int umount2(const char *target, int flags)`
pub fn umount2(target: &CStr, flags: i32) -> SysResult<()> {
    // SAFETY: target is NUL-terminated.
    unsafe { sc!(umount2, target.as_ptr(), flags) }.map(|_| ())
}

/// `int pivot_root(const char *new_root, const char *put_old)`
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult<()> {
    // SAFETY: both are NUL-terminated.
    unsafe { sc!(pivot_root, new_root.as_ptr(), put_old.as_ptr()) }.map(|_| ())
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const AT_RECURSIVE: u32 = 0x8000;

/// `int mount_setattr(int dirfd, const char *path, unsigned flags, struct mount_attr *attr, size_t size)`:
/// with AT_RECURSIVE this makes a whole bind tree read-only at once (5.12+).
pub fn mount_setattr(dir: Fd, path: &CStr, flags: u32, set: u64, clear: u64) -> SysResult<()> {
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    // SAFETY: path is NUL-terminated; attr is valid for the size passed.
    unsafe {
        sc!(mount_setattr, dir.0, path.as_ptr(), flags, &attr as *const MountAttr, core::mem::size_of::<MountAttr>())
    }
    .map(|_| ())
}
