//! gzip framing (RFC 1952) around [`crate::inflate`]: the member header with
//! its optional FEXTRA, FNAME, FCOMMENT and FHCRC fields, the CRC-32 and
//! ISIZE trailer, and any number of members one after the other (as `cat
//! a.gz b.gz` and pigz produce).
//!
//! Strict on purpose, because a layer is untrusted: anything after a member
//! that is not another member is an error (Go's gzip reader, which made most
//! layers, is as strict), and so is a header or trailer cut short.
//!
//! Also the sniffing helpers the importer uses to tell gzip, zstd and plain
//! tar layers apart.

use crate::crc32::Crc32;
use crate::inflate::{self, Inflater};
use crate::stream::{Source, StreamError};
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

/// True if the data starts like a gzip member.
pub fn is_gzip(prefix: &[u8]) -> bool {
    prefix.len() >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b
}

/// True if the data starts with the zstd frame magic (28 B5 2F FD), which
/// husk-rootfs recognises only to refuse clearly.
pub fn is_zstd(prefix: &[u8]) -> bool {
    prefix.len() >= 4 && prefix[..4] == [0x28, 0xb5, 0x2f, 0xfd]
}

/// Why a gzip stream was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input ended inside a member (header, data or trailer), or held
    /// no member at all.
    Truncated,
    /// A member does not start with 1F 8B.
    BadMagic,
    /// Compression method other than 8 (deflate), or reserved flag bits.
    BadHeader,
    /// FHCRC does not match the header.
    HeaderCrc,
    /// The deflate data is corrupt.
    Inflate(inflate::Error),
    /// The CRC-32 of the output does not match the trailer.
    Crc,
    /// The output length does not match ISIZE.
    Size,
    /// Bytes after the last member that are not a gzip member.
    TrailingGarbage,
}

impl Error {
    pub fn message(&self) -> &'static str {
        match self {
            Error::Truncated => "truncated gzip stream",
            Error::BadMagic => "not in gzip format",
            Error::BadHeader => "unsupported gzip header (method or flags)",
            Error::HeaderCrc => "corrupt gzip header: header CRC mismatch",
            Error::Inflate(e) => e.message(),
            Error::Crc => "corrupt gzip stream: CRC-32 mismatch",
            Error::Size => "corrupt gzip stream: length mismatch",
            Error::TrailingGarbage => "trailing garbage after gzip data",
        }
    }

    pub fn is_truncated(&self) -> bool {
        matches!(self, Error::Truncated | Error::Inflate(inflate::Error::Truncated))
    }
}

impl From<inflate::Error> for Error {
    fn from(e: inflate::Error) -> Self {
        match e {
            inflate::Error::Truncated => Error::Truncated,
            e => Error::Inflate(e),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The fixed 10 bytes; the count read so far.
    Fixed(u8),
    ExtraLen(u8),
    Extra(u16),
    Name,
    Comment,
    HeaderCrc(u8),
    Body,
    Trailer(u8),
    /// A member ended; more input must be another member.
    Between,
}

/// A push decoder: feed compressed chunks, get decompressed bytes.
pub struct GzDecoder {
    inflater: Box<Inflater>,
    state: State,
    flags: u8,
    field: [u8; 10],
    extra_len: u16,
    header_crc: Crc32,
    crc: Crc32,
    size: u32,
    /// Bytes the inflater read past the deflate data: the trailer's start.
    unused: [u8; 8],
    unused_len: usize,
    unused_pos: usize,
    members: u32,
}

impl Default for GzDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl GzDecoder {
    pub fn new() -> Self {
        GzDecoder {
            inflater: Inflater::new(),
            state: State::Fixed(0),
            flags: 0,
            field: [0; 10],
            extra_len: 0,
            header_crc: Crc32::new(),
            crc: Crc32::new(),
            size: 0,
            unused: [0; 8],
            unused_len: 0,
            unused_pos: 0,
            members: 0,
        }
    }

    /// Number of complete members decoded so far.
    pub fn members(&self) -> u32 {
        self.members
    }

    /// For a caller whose input has ended: `Ok` if it ended after a whole
    /// member, otherwise [`Error::Truncated`].
    pub fn finish(&self) -> Result<(), Error> {
        if self.state == State::Between {
            Ok(())
        } else {
            Err(Error::Truncated)
        }
    }

    fn next_byte(&mut self, input: &[u8], ip: &mut usize) -> Option<u8> {
        if self.unused_pos < self.unused_len {
            self.unused_pos += 1;
            return Some(self.unused[self.unused_pos - 1]);
        }
        let b = *input.get(*ip)?;
        *ip += 1;
        Some(b)
    }

    /// Decodes from `input` into `out`; returns (consumed, produced). It
    /// stops when `out` is full or the input is used up.
    pub fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), Error> {
        let (mut ip, mut op) = (0usize, 0usize);
        loop {
            if self.state == State::Body {
                let p = self.inflater.inflate(&input[ip..], &mut out[op..])?;
                self.crc.update(&out[op..op + p.produced]);
                self.size = self.size.wrapping_add(p.produced as u32);
                ip += p.consumed;
                op += p.produced;
                if !p.done {
                    break;
                }
                self.unused_len = self.inflater.take_unused(&mut self.unused);
                self.unused_pos = 0;
                self.state = State::Trailer(0);
                continue;
            }
            if self.state == State::Between {
                // Peek: the byte belongs to the next member's header.
                match input.get(ip) {
                    None => break,
                    Some(0x1f) => self.start_member(),
                    Some(_) => return Err(Error::TrailingGarbage),
                }
            }
            let Some(b) = self.next_byte(input, &mut ip) else {
                break;
            };
            self.header_byte(b)?;
        }
        Ok((ip, op))
    }

    fn start_member(&mut self) {
        self.state = State::Fixed(0);
        self.header_crc = Crc32::new();
        self.crc = Crc32::new();
        self.size = 0;
        self.inflater.reset();
    }

    /// Advances the header or trailer state machine by one byte.
    fn header_byte(&mut self, b: u8) -> Result<(), Error> {
        if !matches!(self.state, State::HeaderCrc(_) | State::Trailer(_)) {
            self.header_crc.update(&[b]);
        }
        self.state = match self.state {
            State::Fixed(n) => {
                self.field[n as usize] = b;
                match n {
                    0 | 1 if b != [0x1f, 0x8b][n as usize] => return Err(Error::BadMagic),
                    2 if b != 8 => return Err(Error::BadHeader),
                    3 if b & 0xe0 != 0 => return Err(Error::BadHeader),
                    _ => {}
                }
                if n < 9 {
                    State::Fixed(n + 1)
                } else {
                    self.flags = self.field[3];
                    self.after(FEXTRA - 1)
                }
            }
            State::ExtraLen(0) => {
                self.extra_len = b as u16;
                State::ExtraLen(1)
            }
            State::ExtraLen(_) => {
                self.extra_len |= (b as u16) << 8;
                if self.extra_len == 0 {
                    self.after(FEXTRA)
                } else {
                    State::Extra(self.extra_len)
                }
            }
            State::Extra(n) => {
                if n > 1 {
                    State::Extra(n - 1)
                } else {
                    self.after(FEXTRA)
                }
            }
            State::Name if b == 0 => self.after(FNAME),
            State::Comment if b == 0 => self.after(FCOMMENT),
            s @ (State::Name | State::Comment) => s,
            State::HeaderCrc(0) => {
                self.field[0] = b;
                State::HeaderCrc(1)
            }
            State::HeaderCrc(_) => {
                let want = u16::from_le_bytes([self.field[0], b]);
                if want != self.header_crc.value() as u16 {
                    return Err(Error::HeaderCrc);
                }
                State::Body
            }
            State::Trailer(n) => {
                self.field[n as usize] = b;
                if n < 7 {
                    State::Trailer(n + 1)
                } else {
                    let f = &self.field;
                    if u32::from_le_bytes([f[0], f[1], f[2], f[3]]) != self.crc.value() {
                        return Err(Error::Crc);
                    }
                    if u32::from_le_bytes([f[4], f[5], f[6], f[7]]) != self.size {
                        return Err(Error::Size);
                    }
                    self.members += 1;
                    State::Between
                }
            }
            State::Body | State::Between => unreachable!(),
        };
        Ok(())
    }

    /// The state after the optional field `done` (or after the fixed part
    /// when `done` is FEXTRA - 1): the next field the flags announce.
    fn after(&self, done: u8) -> State {
        let f = self.flags;
        if done < FEXTRA && f & FEXTRA != 0 {
            State::ExtraLen(0)
        } else if done < FNAME && f & FNAME != 0 {
            State::Name
        } else if done < FCOMMENT && f & FCOMMENT != 0 {
            State::Comment
        } else if f & FHCRC != 0 {
            State::HeaderCrc(0)
        } else {
            State::Body
        }
    }
}

/// A pull adapter: reads gzip data from `inner` and yields the
/// decompressed bytes. Its input buffer is 32 KiB; with the inflater that
/// makes about 100 KiB per layer being imported.
pub struct GzReader<S> {
    inner: S,
    dec: GzDecoder,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl<S: Source> GzReader<S> {
    pub fn new(inner: S) -> Self {
        GzReader { inner, dec: GzDecoder::new(), buf: vec![0; 32768], start: 0, end: 0, eof: false }
    }

    /// The underlying source (e.g. to read its digest once done).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Source> Source for GzReader<S> {
    fn read(&mut self, out: &mut [u8]) -> Result<usize, StreamError> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.start == self.end && !self.eof {
                self.start = 0;
                self.end = self.inner.read(&mut self.buf)?;
                self.eof = self.end == 0;
            }
            let (used, made) = self.dec.decompress(&self.buf[self.start..self.end], out).map_err(StreamError::Gzip)?;
            self.start += used;
            if made > 0 {
                return Ok(made);
            }
            if self.eof && self.start == self.end {
                self.dec.finish().map_err(StreamError::Gzip)?;
                return Ok(0);
            }
        }
    }
}

/// Decompresses a whole gzip file held in memory.
pub fn gunzip_all(data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut dec = GzDecoder::new();
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 65536];
    let mut rest = data;
    loop {
        let (used, made) = dec.decompress(rest, &mut chunk)?;
        out.extend_from_slice(&chunk[..made]);
        rest = &rest[used..];
        if rest.is_empty() && made == 0 {
            dec.finish()?;
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::read_full;
    use std::process::Command;

    /// A fixture path of its own (tests run in parallel).
    fn tmp(name: &str) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::env::temp_dir().join(format!("husk-gzip-{}-{n}-{name}", std::process::id()))
    }

    fn gzip(data: &[u8], args: &[&str]) -> Vec<u8> {
        let p = tmp(&args.join(""));
        std::fs::write(&p, data).unwrap();
        let out = Command::new("gzip").args(args).arg("-c").arg(&p).output().unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(out.status.success());
        out.stdout
    }

    fn sample(n: usize) -> Vec<u8> {
        let mut s = 99u32;
        (0..n)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if i % 3 == 0 {
                    (s >> 24) as u8
                } else {
                    b"husk-rootfs "[i % 12]
                }
            })
            .collect()
    }

    /// Reads everything through GzReader with a small output buffer.
    fn read_all<S: Source>(mut r: GzReader<S>) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        let mut b = [0u8; 1000];
        loop {
            let n = r.read(&mut b)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&b[..n]);
        }
    }

    /// A source that returns at most `step` bytes per read.
    struct Dribble<'a>(&'a [u8], usize);
    impl Source for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn sniffing() {
        assert!(is_gzip(&[0x1f, 0x8b, 8]));
        assert!(!is_gzip(&[0x1f]));
        assert!(is_zstd(&[0x28, 0xb5, 0x2f, 0xfd, 0]));
        assert!(!is_zstd(b"ustar"));
        let z = Command::new("sh").args(["-c", "echo hi | zstd -c"]).output().unwrap();
        if z.status.success() {
            assert!(is_zstd(&z.stdout));
            assert_eq!(gunzip_all(&z.stdout), Err(Error::BadMagic));
        }
    }

    #[test]
    fn matches_gzip_dc_with_names_and_members() {
        let data = sample(150_000);
        // With FNAME (gzip stores the file name by default).
        let named = gzip(&data, &["-9"]);
        assert_ne!(named[3] & FNAME, 0);
        assert!(gunzip_all(&named).unwrap() == data);
        // Two members concatenated decode to both payloads, like gzip -dc.
        let mut two = gzip(&data[..1000], &["-1", "-n"]);
        two.extend_from_slice(&gzip(&data[1000..], &["-6", "-n"]));
        let p = tmp("two.gz");
        std::fs::write(&p, &two).unwrap();
        let dc = Command::new("gzip").arg("-dc").arg(&p).output().unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(dc.stdout == data);
        assert!(read_all(GzReader::new(Dribble(&two, 7))).unwrap() == data);
        let mut d = GzDecoder::new();
        let mut out = vec![0u8; 200_000];
        let (used, made) = d.decompress(&two, &mut out).unwrap();
        assert_eq!((used, made, d.members()), (two.len(), data.len(), 2));
    }

    #[test]
    fn all_header_fields() {
        // Built by hand: FTEXT|FHCRC|FEXTRA|FNAME|FCOMMENT, then a stored
        // deflate block "hi".
        let mut h = vec![0x1f, 0x8b, 8, 1 | FHCRC | FEXTRA | FNAME | FCOMMENT, 1, 2, 3, 4, 0, 3];
        h.extend_from_slice(&[4, 0, b'A', b'B', 2, 0]);
        h.extend_from_slice(b"name\0comment\0");
        let hcrc = crate::crc32::crc32(&h) as u16;
        h.extend_from_slice(&hcrc.to_le_bytes());
        h.extend_from_slice(&[1, 2, 0, 0xfd, 0xff, b'h', b'i']);
        h.extend_from_slice(&crate::crc32::crc32(b"hi").to_le_bytes());
        h.extend_from_slice(&2u32.to_le_bytes());
        assert_eq!(gunzip_all(&h).unwrap(), b"hi");
        for step in 1..4 {
            assert_eq!(read_all(GzReader::new(Dribble(&h, step))).unwrap(), b"hi");
        }
        // A wrong header CRC is caught.
        let at = h.len() - 17;
        h[at] ^= 1;
        assert_eq!(gunzip_all(&h), Err(Error::HeaderCrc));
    }

    #[test]
    fn corrupt_and_truncated() {
        let data = sample(100_000);
        let gz = gzip(&data, &["-6", "-n"]);
        // Truncated anywhere: in the header, the data, the trailer.
        for cut in [0, 1, 5, 11, gz.len() / 2, gz.len() - 8, gz.len() - 1] {
            let e = gunzip_all(&gz[..cut]).unwrap_err();
            assert!(e.is_truncated(), "cut at {cut}: {e:?}");
            let e = read_all(GzReader::new(&gz[..cut])).unwrap_err();
            assert!(matches!(e, StreamError::Gzip(g) if g.is_truncated()), "{e:?}");
        }
        // Corrupt trailer CRC and size.
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 8] ^= 0xff;
        assert_eq!(gunzip_all(&bad), Err(Error::Crc));
        let mut bad = gz.clone();
        bad[n - 1] ^= 0x01;
        assert_eq!(gunzip_all(&bad), Err(Error::Size));
        // Garbage after the member.
        let mut bad = gz.clone();
        bad.extend_from_slice(b"junk");
        assert_eq!(gunzip_all(&bad), Err(Error::TrailingGarbage));
        // Bit flips through the deflate data: an error every time (the CRC
        // catches what the decoder does not), and never a panic.
        for i in (10..n - 8).step_by(97) {
            let mut bad = gz.clone();
            bad[i] ^= 1 << (i % 8);
            assert!(gunzip_all(&bad).is_err(), "flip at {i}");
        }
        // Method other than deflate.
        let mut bad = gz.clone();
        bad[2] = 7;
        assert_eq!(gunzip_all(&bad), Err(Error::BadHeader));
    }

    #[test]
    fn reader_short_reads_match() {
        let data = sample(70_000);
        let gz = gzip(&data, &["-1"]);
        let mut r = GzReader::new(&gz[..]);
        let mut out = vec![0u8; 100_000];
        assert_eq!(read_full(&mut r, &mut out).unwrap(), data.len());
        assert_eq!(&out[..data.len()], &data[..]);
    }

    /// Throughput against `gzip -dc`; prints the ratio. Run with
    /// `cargo test --release -p husk-rootfs --lib -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput_vs_gzip() {
        use std::time::Instant;
        let mut data = Vec::new();
        for e in std::fs::read_dir("/usr/bin").unwrap().flatten() {
            if data.len() > 50_000_000 {
                break;
            }
            if let Ok(b) = std::fs::read(e.path()) {
                data.extend_from_slice(&b);
            }
        }
        let gz = gzip(&data, &["-6", "-n"]);
        let p = tmp("bench.gz");
        std::fs::write(&p, &gz).unwrap();
        let t = Instant::now();
        let st = Command::new("sh").arg("-c").arg(format!("gzip -dc {} >/dev/null", p.display())).status().unwrap();
        let ref_time = t.elapsed();
        assert!(st.success());
        std::fs::remove_file(&p).unwrap();
        let t = Instant::now();
        let mut r = GzReader::new(&gz[..]);
        let mut buf = vec![0u8; 65536];
        let mut total = 0;
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        let ours = t.elapsed();
        assert_eq!(total, data.len());
        println!(
            "{} MB: gzip -dc {:?}, husk {:?}, ratio {:.2}",
            data.len() / 1_000_000,
            ref_time,
            ours,
            ours.as_secs_f64() / ref_time.as_secs_f64()
        );
    }
}
