//! The two small I/O traits the format modules are written against, so that
//! they stay free of syscalls: a [`Source`] of bytes (a file, a gzip
//! decoder, a hashing tee, a byte slice in tests) and a [`Sink`] for bytes.
//! The commands implement them over file descriptors.

use alloc::vec::Vec;

/// Why a read or write failed: an errno from the layer that made the system
/// call, or a decoding failure of a layer in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// A system call failed with this errno.
    Errno(i32),
    /// The gzip stream is corrupt or truncated.
    Gzip(crate::gzip::Error),
}

/// Something bytes can be read from. `Ok(0)` means end of stream; a short
/// read is not an error.
pub trait Source {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError>;
}

/// Something bytes can be written to, all of them or an error.
pub trait Sink {
    fn write_all(&mut self, data: &[u8]) -> Result<(), StreamError>;
}

impl Source for &[u8] {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        let n = buf.len().min(self.len());
        buf[..n].copy_from_slice(&self[..n]);
        *self = &self[n..];
        Ok(n)
    }
}

impl<S: Source + ?Sized> Source for &mut S {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        (**self).read(buf)
    }
}

impl Sink for Vec<u8> {
    fn write_all(&mut self, data: &[u8]) -> Result<(), StreamError> {
        self.extend_from_slice(data);
        Ok(())
    }
}

/// Reads until `buf` is full or the source ends; returns how much was read.
pub fn read_full<S: Source + ?Sized>(src: &mut S, buf: &mut [u8]) -> Result<usize, StreamError> {
    let mut got = 0;
    while got < buf.len() {
        let n = src.read(&mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}
