//! Formatting without `core::fmt`: byte pieces and integers into a `Sink`.
//!
//! `core::fmt` costs several KiB of code and a vtable walk per call; husk-init
//! must stay under 16 KiB, so everything prints through these few functions.

use crate::fd::Fd;

/// Something bytes can be appended to.
pub trait Sink {
    /// Append raw bytes.
    fn put(&mut self, bytes: &[u8]);

    /// Append a string.
    fn s(&mut self, s: &str) -> &mut Self {
        self.put(s.as_bytes());
        self
    }
    /// Append raw bytes (chainable).
    fn b(&mut self, b: &[u8]) -> &mut Self {
        self.put(b);
        self
    }
    /// Append an unsigned decimal.
    fn u(&mut self, n: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let len = fmt_u64(n, &mut tmp);
        self.put(&tmp[20 - len..]);
        self
    }
    /// Append a signed decimal.
    fn i(&mut self, n: i64) -> &mut Self {
        if n < 0 {
            self.put(b"-");
        }
        self.u(n.unsigned_abs())
    }
    /// Append lower-case hex, at least `width` digits.
    fn hex(&mut self, n: u64, width: usize) -> &mut Self {
        let mut tmp = [b'0'; 16];
        let mut v = n;
        let mut i = 16;
        while v != 0 {
            i -= 1;
            tmp[i] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
        }
        let start = i.min(16 - width.clamp(1, 16));
        self.put(&tmp[start..]);
        self
    }
    /// Append one byte.
    fn c(&mut self, c: u8) -> &mut Self {
        self.put(&[c]);
        self
    }
}

/// Write `n` in decimal at the end of `out`; returns how many bytes it used.
pub fn fmt_u64(mut n: u64, out: &mut [u8; 20]) -> usize {
    let mut i = 20;
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return 20 - i;
        }
    }
}

/// Parse an unsigned decimal with no sign, no spaces and no overflow.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(n)
}

/// A buffered writer to a file descriptor. Flushes when full and on drop.
/// The buffer starts uninitialised (a memset per writer built cost code at
/// every call site); `buf[..len]` is what has been written.
pub struct Writer<const N: usize = 256> {
    fd: Fd,
    len: usize,
    buf: [core::mem::MaybeUninit<u8>; N],
}

impl<const N: usize> Writer<N> {
    pub const fn new(fd: Fd) -> Self {
        Writer { fd, len: 0, buf: [core::mem::MaybeUninit::uninit(); N] }
    }
    /// Write out what is buffered. Errors are ignored: a diagnostic that
    /// cannot be printed has nowhere else to go.
    pub fn flush(&mut self) {
        let _ = crate::fs::write_all(self.fd, crate::path::initialised(&self.buf, self.len));
        self.len = 0;
    }
}

impl<const N: usize> Sink for Writer<N> {
    // Out of line: inlined, this loop was repeated at every `.s()` on a
    // writer (measured 1.5 KB of husk).
    #[inline(never)]
    fn put(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.len == N {
                self.flush();
            }
            let (now, later) = bytes.split_at(bytes.len().min(N - self.len));
            crate::path::copy_into(&mut self.buf, self.len, now);
            self.len += now.len();
            bytes = later;
        }
    }
}

impl<const N: usize> Drop for Writer<N> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A writer to standard error.
pub fn stderr() -> Writer<256> {
    Writer::new(Fd::STDERR)
}

/// A writer to standard output.
pub fn stdout() -> Writer<1024> {
    Writer::new(Fd::STDOUT)
}

#[cfg(feature = "alloc")]
impl Sink for alloc::vec::Vec<u8> {
    // Out of line: inlined, Vec's growth path is repeated at every `.s()`
    // (measured 320 B of husk).
    #[inline(never)]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::CBuf;

    #[test]
    fn integers_format_like_printf() {
        let mut b = CBuf::<64>::new();
        b.u(0).c(b' ').u(u64::MAX).c(b' ').i(-42).c(b' ').i(i64::MIN);
        assert_eq!(b.bytes(), b"0 18446744073709551615 -42 -9223372036854775808");
        let mut h = CBuf::<64>::new();
        h.hex(0xbeef, 1).c(b' ').hex(0xab, 4).c(b' ').hex(0, 2);
        assert_eq!(h.bytes(), b"beef 00ab 00");
    }

    #[test]
    fn parse_u64_rejects_junk_and_overflow() {
        assert_eq!(parse_u64(b"123"), Some(123));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"1 "), None);
    }

    #[test]
    fn writer_writes_through_a_pipe() {
        let (r, w) = crate::fs::pipe2(crate::fs::O_CLOEXEC).unwrap();
        {
            let mut out: Writer<8> = Writer::new(w.fd());
            out.s("hello, ").u(1234).s(" world");
        }
        let mut buf = [0u8; 64];
        let n = crate::fs::read(r.fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello, 1234 world");
    }
}
