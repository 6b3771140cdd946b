//! `CBuf`: a fixed, NUL-terminated path builder on the stack.
//!
//! Paths are built here instead of in a heap `String` so husk-init needs no
//! allocator. A path that does not fit fails with ENAMETOOLONG rather than
//! being truncated. The storage starts uninitialised: zeroing 4 KiB for
//! every path built cost a memset call per construction site in the code
//! and in time.

use crate::errno::{Errno, SysResult};
use crate::fmt::Sink;
use core::ffi::CStr;
use core::mem::MaybeUninit;

/// Invariant: `buf[..len]` is initialised.
pub struct CBuf<const N: usize = 4096> {
    len: usize,
    overflow: bool,
    buf: [MaybeUninit<u8>; N],
}

impl<const N: usize> Default for CBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> CBuf<N> {
    pub const fn new() -> Self {
        CBuf { len: 0, overflow: false, buf: [MaybeUninit::uninit(); N] }
    }
    /// A buffer holding `bytes`.
    pub fn from(bytes: &[u8]) -> Self {
        let mut b = Self::new();
        b.put(bytes);
        b
    }
    /// The bytes so far, without the NUL.
    pub fn bytes(&self) -> &[u8] {
        initialised(&self.buf, self.len)
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }
    /// Shorten to `len` bytes (to reuse a prefix).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.overflow = false;
        }
    }
    /// The path as a C string; ENAMETOOLONG if it did not fit, EINVAL if it
    /// holds a NUL byte (a path the kernel would silently cut short).
    pub fn cstr(&mut self) -> SysResult<&CStr> {
        terminate(&mut self.buf, self.len, self.overflow)
    }
}

impl<const N: usize> Sink for CBuf<N> {
    fn put(&mut self, bytes: &[u8]) {
        append(&mut self.buf, &mut self.len, &mut self.overflow, bytes);
    }
}

// The work of CBuf<N> in functions that are not generic over N: husk uses a
// dozen buffer sizes, and each would otherwise get its own copy.
#[inline(never)]
fn append(buf: &mut [MaybeUninit<u8>], len: &mut usize, overflow: &mut bool, bytes: &[u8]) {
    // Keep one byte for the NUL.
    if *len + bytes.len() >= buf.len() {
        *overflow = true;
        return;
    }
    copy_into(buf, *len, bytes);
    *len += bytes.len();
}

/// Copy `bytes` into `buf` at `at`; nothing if it does not fit.
pub(crate) fn copy_into(buf: &mut [MaybeUninit<u8>], at: usize, bytes: &[u8]) {
    if at + bytes.len() > buf.len() {
        return;
    }
    // SAFETY: the range at..at+len is inside buf (checked above); a `&[u8]`
    // never overlaps the `&mut` buffer.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.as_mut_ptr().add(at).cast::<u8>(), bytes.len());
    }
}

pub(crate) fn initialised(buf: &[MaybeUninit<u8>], len: usize) -> &[u8] {
    let len = len.min(buf.len());
    // SAFETY: CBuf's invariant: the first `len` bytes have been written.
    unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) }
}

#[inline(never)]
fn terminate(buf: &mut [MaybeUninit<u8>], len: usize, overflow: bool) -> SysResult<&CStr> {
    if overflow || len >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    buf[len].write(0);
    CStr::from_bytes_with_nul(initialised(buf, len + 1)).map_err(|_| Errno::EINVAL)
}

/// Bytes of a C string, without the NUL.
pub fn bytes(s: &CStr) -> &[u8] {
    s.to_bytes()
}

/// Run `f` with `bytes` as a C string built on the stack.
pub fn with_cstr<T>(bytes: &[u8], f: impl FnOnce(&CStr) -> SysResult<T>) -> SysResult<T> {
    let mut b = CBuf::<4096>::new();
    b.put(bytes);
    f(b.cstr()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_is_enametoolong_not_truncation() {
        let mut b = CBuf::<8>::new();
        b.s("/proc/");
        assert_eq!(b.cstr().unwrap().to_bytes(), b"/proc/");
        b.u(12);
        assert_eq!(b.cstr(), Err(Errno::ENAMETOOLONG));
    }

    #[test]
    fn interior_nul_is_rejected() {
        let mut b = CBuf::<16>::from(b"a\0b");
        assert_eq!(b.cstr(), Err(Errno::EINVAL));
    }
}
