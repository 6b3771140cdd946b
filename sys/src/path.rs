//! `CBuf`: a fixed, NUL-terminated path builder on the stack.
//!
//! Paths are built here instead of in a heap `String` so husk-init needs no
//! allocator. A path that does not fit fails with ENAMETOOLONG rather than
//! being truncated.

use crate::errno::{Errno, SysResult};
use crate::fmt::Sink;
use core::ffi::CStr;

pub struct CBuf<const N: usize = 4096> {
    len: usize,
    overflow: bool,
    buf: [u8; N],
}

impl<const N: usize> Default for CBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> CBuf<N> {
    pub const fn new() -> Self {
        CBuf { len: 0, overflow: false, buf: [0; N] }
    }
    /// A buffer holding `bytes`.
    pub fn from(bytes: &[u8]) -> Self {
        let mut b = Self::new();
        b.put(bytes);
        b
    }
    /// The bytes so far, without the NUL.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
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
        if self.overflow || self.len >= N {
            return Err(Errno::ENAMETOOLONG);
        }
        if self.buf[..self.len].contains(&0) {
            return Err(Errno::EINVAL);
        }
        self.buf[self.len] = 0;
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).map_err(|_| Errno::EINVAL)
    }
}

impl<const N: usize> Sink for CBuf<N> {
    fn put(&mut self, bytes: &[u8]) {
        // Keep one byte for the NUL.
        if self.len + bytes.len() >= N {
            self.overflow = true;
            return;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
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
