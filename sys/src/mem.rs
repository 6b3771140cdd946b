//! Memory: anonymous mmap for the allocator, memfd_create for sealed images.

use crate::errno::SysResult;
use crate::fd::OwnedFd;
use crate::macros::sc;
use core::ffi::CStr;

pub use libc::{F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, MFD_ALLOW_SEALING, MFD_CLOEXEC};
pub const MFD_EXEC: u32 = 0x10;

/// `int memfd_create(const char *name, unsigned flags)`
pub fn memfd_create(name: &CStr, flags: u32) -> SysResult<OwnedFd> {
    // SAFETY: name is NUL-terminated.
    unsafe { sc!(memfd_create, name.as_ptr(), flags) }.map(|fd| OwnedFd::from_raw(fd as i32))
}

/// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1i32, 0)`:
/// the address of fresh zeroed pages.
pub fn mmap_anon(len: usize) -> SysResult<usize> {
    // SAFETY: an anonymous mapping at a kernel-chosen address aliases nothing.
    unsafe {
        sc!(mmap, 0usize, len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1i32, 0)
    }
}

/// `int munmap(void *addr, size_t len)`.
/// # Safety
/// `addr..addr+len` must be a mapping this process no longer references.
pub unsafe fn munmap(addr: usize, len: usize) -> SysResult<()> {
    // SAFETY: the caller promises the range is unused.
    unsafe { sc!(munmap, addr, len) }.map(|_| ())
}

/// `void *mremap(void *old, size_t old_len, size_t new_len, MREMAP_MAYMOVE)`.
/// # Safety
/// `addr..addr+old` must be a mapping owned by the caller, which must use the
/// returned address from now on.
pub unsafe fn mremap(addr: usize, old: usize, new: usize) -> SysResult<usize> {
    // SAFETY: the caller owns the range and forgets the old address.
    unsafe { sc!(mremap, addr, old, new, libc::MREMAP_MAYMOVE, 0usize) }
}
