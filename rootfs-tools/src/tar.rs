//! tar archives: a streaming reader for layers and a writer for `pack`.
//!
//! Reader: ustar, GNU and v7 headers; pax extended headers (`path`,
//! `linkpath`, `size`, `uid`, `gid`, `mtime`, `SCHILY.xattr.*`); pax global
//! headers, which are skipped; GNU long names and long link names (`L`,
//! `K`); base-256 numbers. Header checksums are checked (unsigned or signed
//! sum, as historic tars differ). Entries come out with their names exactly
//! as stored: turning a name into a safe relative path is a separate step,
//! [`clean_entry_path`], so the policy sits in one place.
//!
//! The archive must end with a zero block: input that stops anywhere else,
//! even between entries, is [`ErrorKind::Truncated`]. GNU sparse files and
//! the other GNU extensions (`S`, `M`, `V`, `D`) are not understood: their
//! type comes out as [`Kind::Other`] and pax sparse keys are an error.
//!
//! Writer: ustar headers plus a pax extended header when a name or link is
//! longer than 100 bytes, a number does not fit its octal field, or there
//! are xattrs. Output depends only on the entries given: no user or group
//! names, no time stamps other than the entry's, a fixed pax header name.

use crate::stream::{read_full, Source, StreamError};
use alloc::vec::Vec;

pub const BLOCK: usize = 512;

/// Longest pax extended header accepted: room for big xattrs (64 KiB each
/// in Linux) without letting a layer make us allocate without bound.
const MAX_PAX: u64 = 1 << 20;
/// Longest GNU long name or link accepted (PATH_MAX is 4096).
const MAX_LONG_NAME: u64 = 65536;

/// The entry types that can be unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Regular,
    HardLink,
    Symlink,
    Char,
    Block,
    Dir,
    Fifo,
    /// Any other type flag; its data (if any) is skipped by the reader.
    Other(u8),
}

impl Kind {
    pub fn from_flag(flag: u8) -> Kind {
        match flag {
            b'0' | 0 | b'7' => Kind::Regular,
            b'1' => Kind::HardLink,
            b'2' => Kind::Symlink,
            b'3' => Kind::Char,
            b'4' => Kind::Block,
            b'5' => Kind::Dir,
            b'6' => Kind::Fifo,
            f => Kind::Other(f),
        }
    }

    pub fn flag(self) -> u8 {
        match self {
            Kind::Regular => b'0',
            Kind::HardLink => b'1',
            Kind::Symlink => b'2',
            Kind::Char => b'3',
            Kind::Block => b'4',
            Kind::Dir => b'5',
            Kind::Fifo => b'6',
            Kind::Other(f) => f,
        }
    }

    /// Types whose header is the whole entry: POSIX says no data follows
    /// them whatever the size field says (Go's archive/tar agrees).
    fn header_only(self) -> bool {
        matches!(self, Kind::HardLink | Kind::Symlink | Kind::Char | Kind::Block | Kind::Dir | Kind::Fifo)
    }
}

/// One archive member, after pax and GNU long-name records are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name as stored (not cleaned; see [`clean_entry_path`]).
    pub path: Vec<u8>,
    /// Hard link target (a member name) or symlink target.
    pub link: Vec<u8>,
    pub kind: Kind,
    /// Permission bits including setuid, setgid and sticky (07777).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Bytes of data that follow (0 for header-only types).
    pub size: u64,
    /// Seconds since the epoch (pax fractions dropped).
    pub mtime: i64,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// `SCHILY.xattr.NAME` records: (NAME, value).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Reading the underlying stream failed (errno or gzip).
    Source(StreamError),
    /// The archive ends before its end-of-archive block.
    Truncated,
    /// The header checksum does not match.
    BadChecksum,
    /// A numeric header field is not a number.
    BadNumber,
    /// A pax extended header record is malformed.
    BadPax,
    /// A pax header or GNU long name is larger than we accept.
    TooLarge,
    /// A pax or GNU long-name record with no entry after it.
    DanglingMeta,
    /// GNU sparse files (pax GNU.sparse.*) are not supported.
    Sparse,
}

/// A reader error: what, and the archive offset of the header concerned.
/// The caller adds the entry name, which it knows from `next_entry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub offset: u64,
}

impl Error {
    pub fn message(&self) -> &'static str {
        match self.kind {
            ErrorKind::Source(StreamError::Gzip(e)) => e.message(),
            ErrorKind::Source(StreamError::Errno(_)) => "read error",
            ErrorKind::Truncated => "truncated tar archive",
            ErrorKind::BadChecksum => "tar header checksum mismatch",
            ErrorKind::BadNumber => "invalid number in tar header",
            ErrorKind::BadPax => "malformed pax extended header",
            ErrorKind::TooLarge => "pax header or long name too large",
            ErrorKind::DanglingMeta => "pax or long-name header without an entry",
            ErrorKind::Sparse => "sparse files are not supported",
        }
    }
}

/// The fields of one header block, without pax or long-name records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub flag: u8,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub dev_major: u32,
    pub dev_minor: u32,
}

/// The bytes of a NUL-terminated (or full) field.
fn field_str(f: &[u8]) -> &[u8] {
    let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
    &f[..end]
}

/// An octal field (NUL or space terminated, leading spaces allowed), or a
/// base-256 one (first byte 0x80, GNU and star's format for big numbers).
fn parse_num(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        if f[0] != 0x80 {
            return None; // negative or malformed
        }
        let mut v: u64 = 0;
        for &b in &f[1..] {
            v = v.checked_mul(256)? | b as u64;
        }
        return Some(v);
    }
    let mut i = 0;
    while i < f.len() && f[i] == b' ' {
        i += 1;
    }
    let mut v: u64 = 0;
    while i < f.len() && f[i] != 0 && f[i] != b' ' {
        let d = f[i].wrapping_sub(b'0');
        if d > 7 {
            return None;
        }
        v = v.checked_mul(8)? + d as u64;
        i += 1;
    }
    Some(v)
}

/// True if the block is all zeros: the end-of-archive marker.
pub fn is_zero_block(block: &[u8; BLOCK]) -> bool {
    block.iter().all(|&b| b == 0)
}

/// Parses and checks one header block.
pub fn parse_header(b: &[u8; BLOCK]) -> Result<Header, ErrorKind> {
    let stored = parse_num(&b[148..156]).ok_or(ErrorKind::BadChecksum)?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &c) in b.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += c as u64;
        signed += c as i8 as i64;
    }
    if stored != unsigned && stored as i64 != signed {
        return Err(ErrorKind::BadChecksum);
    }
    let num = |r: core::ops::Range<usize>| parse_num(&b[r]).ok_or(ErrorKind::BadNumber);
    let small = |r: core::ops::Range<usize>| num(r).and_then(|v| u32::try_from(v).map_err(|_| ErrorKind::BadNumber));
    let mut name = Vec::new();
    // Only POSIX ustar has the prefix field; GNU keeps times there.
    if &b[257..263] == b"ustar\0" {
        let prefix = field_str(&b[345..500]);
        if !prefix.is_empty() {
            name.extend_from_slice(prefix);
            name.push(b'/');
        }
    }
    name.extend_from_slice(field_str(&b[0..100]));
    Ok(Header {
        name,
        link: field_str(&b[157..257]).to_vec(),
        flag: b[156],
        mode: small(100..108)? & 0o7777,
        uid: small(108..116)?,
        gid: small(116..124)?,
        size: num(124..136)?,
        mtime: num(136..148)? as i64,
        dev_major: small(329..337)?,
        dev_minor: small(337..345)?,
    })
}

/// Values from pax extended headers that override the next header's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pax {
    pub path: Option<Vec<u8>>,
    pub link: Option<Vec<u8>>,
    pub size: Option<u64>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mtime: Option<i64>,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// Parses pax records (`LEN KEY=VALUE\n`) into `pax`. Unknown keys are
/// ignored, as POSIX asks.
pub fn parse_pax(mut data: &[u8], pax: &mut Pax) -> Result<(), ErrorKind> {
    while !data.is_empty() {
        let sp = data.iter().position(|&c| c == b' ').ok_or(ErrorKind::BadPax)?;
        let len = parse_decimal(&data[..sp]).ok_or(ErrorKind::BadPax)? as usize;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(ErrorKind::BadPax);
        }
        let rec = &data[sp + 1..len - 1];
        data = &data[len..];
        let eq = rec.iter().position(|&c| c == b'=').ok_or(ErrorKind::BadPax)?;
        let (key, value) = (&rec[..eq], &rec[eq + 1..]);
        let number = || parse_decimal(value).ok_or(ErrorKind::BadPax);
        let id = || number().and_then(|v| u32::try_from(v).map_err(|_| ErrorKind::BadPax));
        match key {
            // An empty value cancels the keyword (POSIX pax).
            b"path" => pax.path = (!value.is_empty()).then(|| value.to_vec()),
            b"linkpath" => pax.link = (!value.is_empty()).then(|| value.to_vec()),
            b"size" => pax.size = Some(number()?),
            b"uid" => pax.uid = Some(id()?),
            b"gid" => pax.gid = Some(id()?),
            b"mtime" => {
                // Seconds with an optional fraction and sign; whole seconds
                // are all we keep.
                let (neg, v) = match value.split_first() {
                    Some((b'-', rest)) => (true, rest),
                    _ => (false, value),
                };
                let whole = v.split(|&c| c == b'.').next().unwrap_or(v);
                let s = parse_decimal(whole).ok_or(ErrorKind::BadPax)? as i64;
                pax.mtime = Some(if neg { -s } else { s });
            }
            _ if key.starts_with(b"SCHILY.xattr.") => {
                pax.xattrs.push((key[13..].to_vec(), value.to_vec()));
            }
            _ if key.starts_with(b"GNU.sparse.") => return Err(ErrorKind::Sparse),
            _ => {}
        }
    }
    Ok(())
}

/// A streaming reader over a [`Source`] holding a tar archive.
///
/// `next_entry` returns each entry; `read_data` then reads its contents (or
/// `next_entry` skips them). At the end call [`Reader::drain`] so that whatever
/// follows the end-of-archive block is read too: the layer's diff_id covers
/// the whole stream.
pub struct Reader<S> {
    src: S,
    offset: u64,
    /// Data bytes of the current entry not read yet, and its padding.
    remaining: u64,
    padding: u64,
    ended: bool,
    block: [u8; BLOCK],
}

impl<S: Source> Reader<S> {
    pub fn new(src: S) -> Self {
        Reader { src, offset: 0, remaining: 0, padding: 0, ended: false, block: [0; BLOCK] }
    }

    /// Bytes of the archive consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn into_inner(self) -> S {
        self.src
    }

    fn err(&self, kind: ErrorKind) -> Error {
        Error { kind, offset: self.offset }
    }

    fn read_block(&mut self) -> Result<(), Error> {
        let n = read_full(&mut self.src, &mut self.block)
            .map_err(|e| Error { kind: ErrorKind::Source(e), offset: self.offset })?;
        if n < BLOCK {
            return Err(self.err(ErrorKind::Truncated));
        }
        self.offset += BLOCK as u64;
        Ok(())
    }

    /// Reads the next bytes of the current entry's data; 0 at its end.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.remaining) as usize;
        let n =
            self.src.read(&mut buf[..want]).map_err(|e| Error { kind: ErrorKind::Source(e), offset: self.offset })?;
        if n == 0 {
            return Err(self.err(ErrorKind::Truncated));
        }
        self.remaining -= n as u64;
        self.offset += n as u64;
        Ok(n)
    }

    /// Skips the rest of the current entry's data and its padding.
    fn skip_data(&mut self) -> Result<(), Error> {
        let mut left = self.remaining + self.padding;
        self.remaining = left;
        while left > 0 {
            let mut scratch = [0u8; BLOCK];
            let n = (left as usize).min(BLOCK);
            let got = self.read_data(&mut scratch[..n])?;
            left -= got as u64;
        }
        self.padding = 0;
        Ok(())
    }

    /// Reads a whole meta entry's data (pax or long name), bounded.
    fn read_meta(&mut self, size: u64, max: u64) -> Result<Vec<u8>, Error> {
        if size > max {
            return Err(self.err(ErrorKind::TooLarge));
        }
        let mut data = alloc::vec![0u8; size as usize];
        self.remaining = size;
        self.padding = pad_len(size) as u64;
        let mut got = 0;
        while got < data.len() {
            got += self.read_data(&mut data[got..])?;
        }
        self.skip_data()?;
        Ok(data)
    }

    /// The next entry, or `None` at the end-of-archive block.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, Error> {
        if self.ended {
            return Ok(None);
        }
        self.skip_data()?;
        let mut pax = Pax::default();
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pending_meta = false;
        loop {
            let at = self.offset;
            self.read_block()?;
            if is_zero_block(&self.block) {
                if pending_meta {
                    return Err(Error { kind: ErrorKind::DanglingMeta, offset: at });
                }
                self.ended = true;
                return Ok(None);
            }
            let h = parse_header(&self.block).map_err(|kind| Error { kind, offset: at })?;
            match h.flag {
                b'x' => {
                    let data = self.read_meta(h.size, MAX_PAX)?;
                    parse_pax(&data, &mut pax).map_err(|kind| Error { kind, offset: at })?;
                }
                b'g' => {
                    self.read_meta(h.size, MAX_PAX)?;
                }
                b'L' | b'K' => {
                    let mut data = self.read_meta(h.size, MAX_LONG_NAME)?;
                    let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
                    data.truncate(end);
                    if h.flag == b'L' {
                        long_name = Some(data);
                    } else {
                        long_link = Some(data);
                    }
                }
                _ => {
                    let path = pax.path.or(long_name).unwrap_or(h.name);
                    let mut kind = Kind::from_flag(h.flag);
                    // Pre-POSIX archives mark directories only by the slash.
                    if h.flag == 0 && path.last() == Some(&b'/') {
                        kind = Kind::Dir;
                    }
                    let mut size = pax.size.unwrap_or(h.size);
                    if kind.header_only() {
                        size = 0;
                    }
                    self.remaining = size;
                    self.padding = pad_len(size) as u64;
                    return Ok(Some(Entry {
                        path,
                        link: pax.link.or(long_link).unwrap_or(h.link),
                        kind,
                        mode: h.mode,
                        uid: pax.uid.unwrap_or(h.uid),
                        gid: pax.gid.unwrap_or(h.gid),
                        size,
                        mtime: pax.mtime.unwrap_or(h.mtime),
                        dev_major: h.dev_major,
                        dev_minor: h.dev_minor,
                        xattrs: pax.xattrs,
                    }));
                }
            }
            pending_meta = true;
        }
    }

    /// Reads and discards everything after the end-of-archive block (the
    /// second zero block and any padding); returns how many bytes that was.
    pub fn drain(&mut self) -> Result<u64, Error> {
        let mut total = 0;
        loop {
            let n = self
                .src
                .read(&mut self.block)
                .map_err(|e| Error { kind: ErrorKind::Source(e), offset: self.offset })?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            self.offset += n as u64;
        }
    }
}

/// Why [`clean_entry_path`] refused a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The name starts with `/`.
    Absolute,
    /// The name has a `..` component.
    DotDot,
    /// The name contains a NUL byte (possible only through pax).
    Nul,
}

impl PathError {
    pub fn message(&self) -> &'static str {
        match self {
            PathError::Absolute => "absolute path in archive",
            PathError::DotDot => "'..' in archive path",
            PathError::Nul => "NUL byte in archive path",
        }
    }
}

/// Turns a member name into a relative path under the unpack root.
///
/// Policy (tar-slip): empty and `.` components and trailing slashes are
/// dropped; a name that starts with `/` or has any `..` component is
/// refused, so the caller reports the entry and stops. Refusing every `..`
/// (not only those that would climb above the root) is stricter than GNU
/// tar but costs nothing: no image builder writes them, and lexical `a/..`
/// is wrong anyway when `a` is a symlink. An empty result means the root
/// itself (`./`). This is only the first guard: symlinks inside the tree
/// must still be resolved within the root when writing.
pub fn clean_entry_path(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    if raw.first() == Some(&b'/') {
        return Err(PathError::Absolute);
    }
    if raw.contains(&0) {
        return Err(PathError::Nul);
    }
    let mut out = Vec::with_capacity(raw.len());
    for comp in raw.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => continue,
            b".." => return Err(PathError::DotDot),
            _ => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(comp);
            }
        }
    }
    Ok(out)
}

/// Zero bytes after `size` bytes of data to reach a block boundary.
pub fn pad_len(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// Two zero blocks: the end of an archive.
pub const END_OF_ARCHIVE: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// What the writer needs to know about one member.
#[derive(Clone, Copy, Debug)]
pub struct Meta<'a> {
    /// Relative path; a `/` is appended for directories.
    pub path: &'a [u8],
    /// Symlink target, or the member a hard link refers to.
    pub link: &'a [u8],
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Data size; must be 0 for all but regular files.
    pub size: u64,
    pub mtime: i64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub xattrs: &'a [(&'a [u8], &'a [u8])],
}

/// Writes `value` as zero-padded octal filling `f` but its last byte (NUL).
/// False if it does not fit.
fn put_octal(f: &mut [u8], mut value: u64) -> bool {
    let digits = f.len() - 1;
    f[digits] = 0;
    for i in (0..digits).rev() {
        f[i] = b'0' + (value & 7) as u8;
        value >>= 3;
    }
    value == 0
}

/// Appends one pax record, `LEN KEY=VALUE\n`, where LEN counts itself.
fn pax_record(out: &mut Vec<u8>, key: &[&[u8]], value: &[u8]) {
    let body = key.iter().map(|k| k.len()).sum::<usize>() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + decimal_len(len) {
        len = body + decimal_len(len);
    }
    push_decimal(out, len as u64);
    out.push(b' ');
    for k in key {
        out.extend_from_slice(k);
    }
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn decimal_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

fn push_decimal(out: &mut Vec<u8>, v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Fills one ustar header block; returns false if a field that has no pax
/// fallback (device numbers) does not fit.
fn ustar_block(b: &mut [u8; BLOCK], name: &[u8], link: &[u8], flag: u8, m: &Meta, size: u64, mtime: u64) -> bool {
    let n = name.len().min(100);
    b[..n].copy_from_slice(&name[..n]);
    let l = link.len().min(100);
    b[157..157 + l].copy_from_slice(&link[..l]);
    // Numbers that overflow are also in the pax header; the field then
    // holds whatever fits (zero), as GNU tar does for pax archives.
    put_octal(&mut b[100..108], (m.mode & 0o7777) as u64);
    for (r, v) in [(108..116, m.uid as u64), (116..124, m.gid as u64), (124..136, size), (136..148, mtime)] {
        if !put_octal(&mut b[r.clone()], v) {
            put_octal(&mut b[r], 0);
        }
    }
    b[156] = flag;
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    let dev_ok = put_octal(&mut b[329..337], m.dev_major as u64) && put_octal(&mut b[337..345], m.dev_minor as u64);
    b[148..156].fill(b' ');
    let sum: u64 = b.iter().map(|&c| c as u64).sum();
    put_octal(&mut b[148..155], sum);
    b[155] = b' ';
    dev_ok
}

/// Appends the header block(s) for `m` to `out`: a pax extended header if
/// needed, then the ustar header. The caller then writes `m.size` bytes of
/// data and [`pad_len`] zeros, and [`END_OF_ARCHIVE`] after the last entry.
pub fn encode_header(m: &Meta, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let mut path = m.path.to_vec();
    if m.kind == Kind::Dir && path.last() != Some(&b'/') {
        path.push(b'/');
    }
    if path.contains(&0) || m.link.contains(&0) {
        return Err("NUL byte in name");
    }
    const OCTAL7: u64 = 0o7777777;
    const OCTAL11: u64 = 0o77777777777;
    let mut pax = Vec::new();
    if path.len() > 100 {
        pax_record(&mut pax, &[b"path"], &path);
    }
    if m.link.len() > 100 {
        pax_record(&mut pax, &[b"linkpath"], m.link);
    }
    let dec = |key: &[u8], v: i64, pax: &mut Vec<u8>| {
        let mut s = Vec::new();
        if v < 0 {
            s.push(b'-');
        }
        push_decimal(&mut s, v.unsigned_abs());
        pax_record(pax, &[key], &s);
    };
    if m.uid as u64 > OCTAL7 {
        dec(b"uid", m.uid as i64, &mut pax);
    }
    if m.gid as u64 > OCTAL7 {
        dec(b"gid", m.gid as i64, &mut pax);
    }
    if m.size > OCTAL11 {
        dec(b"size", m.size as i64, &mut pax);
    }
    if m.mtime < 0 || m.mtime as u64 > OCTAL11 {
        dec(b"mtime", m.mtime, &mut pax);
    }
    for (name, value) in m.xattrs {
        pax_record(&mut pax, &[b"SCHILY.xattr.", name], value);
    }
    let mtime = if m.mtime < 0 { 0 } else { m.mtime as u64 };
    if !pax.is_empty() {
        let mut b = [0u8; BLOCK];
        let pm = Meta { mode: 0o644, uid: 0, gid: 0, dev_major: 0, dev_minor: 0, ..*m };
        ustar_block(&mut b, b"././@PaxHeader", b"", b'x', &pm, pax.len() as u64, mtime);
        out.extend_from_slice(&b);
        let padded = pax.len() + pad_len(pax.len() as u64);
        pax.resize(padded, 0);
        out.extend_from_slice(&pax);
    }
    let mut b = [0u8; BLOCK];
    if !ustar_block(&mut b, &path, m.link, m.kind.flag(), m, m.size, mtime) {
        return Err("device number too large for ustar");
    }
    out.extend_from_slice(&b);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("husk-tar-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn sh(cmd: &str, dir: &Path) -> std::process::Output {
        let out = Command::new("sh").arg("-c").arg(cmd).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    fn read_all_entries(data: &[u8]) -> Result<Vec<(Entry, Vec<u8>)>, Error> {
        let mut r = Reader::new(data);
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            let mut content = Vec::new();
            let mut buf = [0u8; 300];
            loop {
                let n = r.read_data(&mut buf)?;
                if n == 0 {
                    break;
                }
                content.extend_from_slice(&buf[..n]);
            }
            out.push((e, content));
        }
        let before = r.offset();
        assert_eq!(r.drain()? + before, data.len() as u64);
        assert_eq!(r.offset(), data.len() as u64);
        Ok(out)
    }

    fn find<'a>(entries: &'a [(Entry, Vec<u8>)], suffix: &str) -> &'a (Entry, Vec<u8>) {
        entries.iter().find(|(e, _)| e.path.ends_with(suffix.as_bytes())).unwrap_or_else(|| panic!("no entry {suffix}"))
    }

    /// A tree with every type and a long name, made with the shell.
    fn make_tree(dir: &Path, long: &str) {
        sh(
            &format!(
                "mkdir -p t/sub && printf hello > t/file && chmod 4755 t/file && \
                 printf data > 't/{long}' && ln t/file t/hard && ln -s ../file t/sub/link && \
                 ln -s '{long}' t/longlink && mkfifo t/fifo && mknod t/null c 1 3 && \
                 touch -d @1600000000 t/file && setfattr -n user.husk -v 'x=1 y' t/file"
            ),
            dir,
        );
    }

    #[test]
    fn reads_gnu_and_pax_archives_from_gnu_tar() {
        let tmp = TempDir::new("read");
        let long = "L".repeat(150);
        make_tree(&tmp.0, &long);
        for format in ["gnu", "pax", "ustar"] {
            let archive = format!("{format}.tar");
            let xattrs = if format == "pax" { "--xattrs" } else { "" };
            let cmd = format!("tar --sort=name --format={format} {xattrs} -cf {archive} t");
            let out = Command::new("sh").arg("-c").arg(&cmd).current_dir(&tmp.0).output().unwrap();
            if format == "ustar" {
                // ustar cannot hold a 150-byte file name; GNU tar says so.
                assert!(!out.status.success());
                continue;
            }
            assert!(out.status.success(), "{cmd}");
            let data = std::fs::read(tmp.0.join(&archive)).unwrap();
            let entries = read_all_entries(&data).unwrap();
            let names: Vec<_> = entries.iter().map(|(e, _)| String::from_utf8_lossy(&e.path).into_owned()).collect();
            assert_eq!(names.len(), 9, "{format}: {names:?}");
            let (file, content) = find(&entries, "t/file");
            assert_eq!((file.kind, file.mode, file.mtime), (Kind::Regular, 0o4755, 1_600_000_000));
            assert_eq!(content, b"hello");
            let (l, content) = find(&entries, &long);
            assert_eq!((l.kind, l.size, content.as_slice()), (Kind::Regular, 4, &b"data"[..]));
            let (h, _) = find(&entries, "t/hard");
            assert_eq!((h.kind, h.link.as_slice(), h.size), (Kind::HardLink, &b"t/file"[..], 0));
            let (s, _) = find(&entries, "t/sub/link");
            assert_eq!((s.kind, s.link.as_slice()), (Kind::Symlink, &b"../file"[..]));
            let (s, _) = find(&entries, "t/longlink");
            assert_eq!((s.kind, s.link.as_slice()), (Kind::Symlink, long.as_bytes()));
            assert_eq!(find(&entries, "t/fifo").0.kind, Kind::Fifo);
            let (d, _) = find(&entries, "t/null");
            assert_eq!((d.kind, d.dev_major, d.dev_minor), (Kind::Char, 1, 3));
            assert_eq!(find(&entries, "t/sub/").0.kind, Kind::Dir);
            if format == "pax" {
                assert_eq!(file.xattrs, vec![(b"user.husk".to_vec(), b"x=1 y".to_vec())]);
            }
        }
    }

    #[test]
    fn reads_ustar_prefix_and_big_numbers() {
        let tmp = TempDir::new("prefix");
        let dir = format!("{}/{}", "d".repeat(80), "e".repeat(60));
        sh(&format!("mkdir -p {dir} && printf x > {dir}/f && tar --format=ustar -cf u.tar {dir}/f"), &tmp.0);
        let data = std::fs::read(tmp.0.join("u.tar")).unwrap();
        let entries = read_all_entries(&data).unwrap();
        assert_eq!(entries[0].0.path, format!("{dir}/f").into_bytes());
        // GNU format writes a large uid in base-256.
        sh("printf y > g && tar --format=gnu --owner=x:3000000000 -cf g.tar g", &tmp.0);
        let data = std::fs::read(tmp.0.join("g.tar")).unwrap();
        assert_eq!(read_all_entries(&data).unwrap()[0].0.uid, 3_000_000_000);
    }

    #[test]
    fn bad_checksum_truncation_and_pax_errors() {
        let mut out = Vec::new();
        let m = Meta {
            path: b"a",
            link: b"",
            kind: Kind::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 600,
            mtime: 5,
            dev_major: 0,
            dev_minor: 0,
            xattrs: &[],
        };
        encode_header(&m, &mut out).unwrap();
        out.extend_from_slice(&[7u8; 600]);
        out.resize(out.len() + pad_len(600), 0);
        out.extend_from_slice(&END_OF_ARCHIVE);
        assert_eq!(read_all_entries(&out).unwrap()[0].1, vec![7u8; 600]);
        // One flipped byte in the header.
        let mut bad = out.clone();
        bad[0] = b'b';
        let e = read_all_entries(&bad).unwrap_err();
        assert_eq!((e.kind, e.offset), (ErrorKind::BadChecksum, 0));
        // Cut in the data, in the padding, at an entry boundary, in a header.
        for cut in [0, 100, 512 + 300, 512 + 700, 1536, 1700] {
            let e = read_all_entries(&out[..cut]).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Truncated, "cut {cut}");
        }
        // pax parsing.
        let mut pax = Pax::default();
        assert_eq!(parse_pax(b"9 path=x\n", &mut pax), Ok(()));
        assert_eq!(pax.path.as_deref(), Some(&b"x"[..]));
        assert_eq!(parse_pax(b"11 path=x\n", &mut pax), Err(ErrorKind::BadPax));
        assert_eq!(parse_pax(b"30 GNU.sparse.major=1\n", &mut pax), Err(ErrorKind::BadPax));
        assert_eq!(parse_pax(b"22 GNU.sparse.major=1\n", &mut pax), Err(ErrorKind::Sparse));
        assert_eq!(parse_pax(b"18 mtime=-12.3456\n", &mut pax), Ok(()));
        assert_eq!(pax.mtime, Some(-12));
    }

    #[test]
    fn one_pass_gunzip_hash_and_read() {
        // The import pipeline: file -> sha256 (blob digest) -> gunzip ->
        // sha256 (diff_id) -> tar reader, checked against the real tools.
        use crate::gzip::GzReader;
        use crate::sha256::{hex, HashingSource};
        let tmp = TempDir::new("pipe");
        make_tree(&tmp.0, "long");
        sh("tar --sort=name -czf l.tgz t", &tmp.0);
        let blob = std::fs::read(tmp.0.join("l.tgz")).unwrap();
        let mut diff = HashingSource::new(GzReader::new(HashingSource::new(&blob[..])));
        let mut r = Reader::new(&mut diff);
        let mut names = Vec::new();
        while let Some(e) = r.next_entry().unwrap() {
            names.push(e.path);
        }
        r.drain().unwrap();
        let diff_id = hex(&diff.hasher.clone().finish());
        let blob_digest = hex(&diff.inner.into_inner().hasher.finish());
        assert_eq!(names.len(), 9);
        let out = sh("sha256sum < l.tgz; gzip -dc l.tgz | sha256sum", &tmp.0);
        let text = String::from_utf8(out.stdout).unwrap();
        let sums: Vec<&str> = text.lines().map(|l| &l[..64]).collect();
        assert_eq!(sums, [std::str::from_utf8(&blob_digest).unwrap(), std::str::from_utf8(&diff_id).unwrap()]);
        // A truncated layer is an error from the gzip layer, not a short
        // archive.
        let mut r = Reader::new(GzReader::new(&blob[..blob.len() - 20]));
        let err = loop {
            match r.next_entry() {
                Ok(Some(_)) => continue,
                Ok(None) => break r.drain().unwrap_err(),
                Err(e) => break e,
            }
        };
        assert!(matches!(err.kind, ErrorKind::Source(StreamError::Gzip(g)) if g.is_truncated()), "{err:?}");
    }

    #[test]
    fn clean_paths() {
        let ok = |s: &str| String::from_utf8(clean_entry_path(s.as_bytes()).unwrap()).unwrap();
        assert_eq!(ok("./a/b/"), "a/b");
        assert_eq!(ok("a//./b"), "a/b");
        assert_eq!(ok("./"), "");
        assert_eq!(ok("a/..b/c.."), "a/..b/c..");
        assert_eq!(clean_entry_path(b"/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(clean_entry_path(b"../x"), Err(PathError::DotDot));
        assert_eq!(clean_entry_path(b"a/../../x"), Err(PathError::DotDot));
        assert_eq!(clean_entry_path(b"a/.."), Err(PathError::DotDot));
        assert_eq!(clean_entry_path(b"a\0b"), Err(PathError::Nul));
    }

    #[test]
    fn writer_output_extracts_with_gnu_tar() {
        let tmp = TempDir::new("write");
        let long_dir = "D".repeat(120);
        let long_file = format!("{long_dir}/{}", "f".repeat(110));
        let long_target = "T".repeat(200);
        let xattrs: &[(&[u8], &[u8])] = &[(b"user.k", b"v\n=1"), (b"user.empty", b"")];
        let base = Meta {
            path: b"",
            link: b"",
            kind: Kind::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 1_234_567_890,
            dev_major: 0,
            dev_minor: 0,
            xattrs: &[],
        };
        let entries: Vec<(Meta, Vec<u8>)> = vec![
            (Meta { path: b"bin", kind: Kind::Dir, mode: 0o755, ..base }, vec![]),
            (Meta { path: b"bin/sh", mode: 0o4755, size: 3, xattrs, ..base }, b"abc".to_vec()),
            (Meta { path: b"bin/hard", link: b"bin/sh", kind: Kind::HardLink, ..base }, vec![]),
            (Meta { path: b"bin/ls", link: b"sh", kind: Kind::Symlink, mode: 0o777, ..base }, vec![]),
            (Meta { path: b"lt", link: long_target.as_bytes(), kind: Kind::Symlink, ..base }, vec![]),
            (Meta { path: long_dir.as_bytes(), kind: Kind::Dir, mode: 0o700, uid: 3_000_000, gid: 7, ..base }, vec![]),
            (Meta { path: long_file.as_bytes(), size: 1000, ..base }, vec![b'z'; 1000]),
            (Meta { path: b"fifo", kind: Kind::Fifo, ..base }, vec![]),
            (Meta { path: b"null", kind: Kind::Char, dev_major: 1, dev_minor: 3, ..base }, vec![]),
            (Meta { path: b"old", mtime: -100, size: 1, ..base }, b"o".to_vec()),
        ];
        let mut out = Vec::new();
        for (m, data) in &entries {
            encode_header(m, &mut out).unwrap();
            out.extend_from_slice(data);
            out.resize(out.len() + pad_len(m.size), 0);
        }
        out.extend_from_slice(&END_OF_ARCHIVE);
        assert_eq!(out.len() % BLOCK, 0);
        // Deterministic: encoding again gives the same bytes.
        let mut again = Vec::new();
        encode_header(&entries[1].0, &mut again).unwrap();
        assert!(out.windows(again.len()).any(|w| w == again.as_slice()));

        // Our own reader gets everything back.
        let back = read_all_entries(&out).unwrap();
        assert_eq!(back.len(), entries.len());
        assert_eq!(back[1].0.xattrs.len(), 2);
        assert_eq!(back[5].0.path, format!("{long_dir}/").into_bytes());
        assert_eq!((back[5].0.uid, back[9].0.mtime), (3_000_000, -100));
        assert_eq!(back[6].1, vec![b'z'; 1000]);

        std::fs::write(tmp.0.join("w.tar"), &out).unwrap();
        let list = sh("tar -tvf w.tar", &tmp.0);
        let list = String::from_utf8(list.stdout).unwrap();
        assert!(list.contains("-rwsr-xr-x 0/0"), "{list}");
        assert!(list.contains("bin/ls -> sh"), "{list}");
        assert!(list.contains(&format!("lt -> {long_target}")), "{list}");
        assert!(list.contains("bin/hard link to bin/sh"), "{list}");
        assert!(list.contains("3000000/7"), "{list}");
        assert!(list.contains("2009-02-1"), "{list}"); // 1234567890
        sh("mkdir x && tar --xattrs --xattrs-include='*' -xpf w.tar -C x", &tmp.0);
        let x = tmp.0.join("x");
        let sh_meta = std::fs::metadata(x.join("bin/sh")).unwrap();
        assert_eq!(sh_meta.permissions().mode() & 0o7777, 0o4755);
        assert_eq!(sh_meta.mtime(), 1_234_567_890);
        assert_eq!(sh_meta.nlink(), 2);
        assert_eq!(std::fs::read(x.join("bin/hard")).unwrap(), b"abc");
        assert_eq!(std::fs::read_link(x.join("bin/ls")).unwrap(), Path::new("sh"));
        assert_eq!(std::fs::read_link(x.join("lt")).unwrap(), Path::new(&long_target));
        assert_eq!(std::fs::read(x.join(&long_file)).unwrap(), vec![b'z'; 1000]);
        let d = std::fs::metadata(x.join(&long_dir)).unwrap();
        assert_eq!((d.mode() & 0o7777, d.uid(), d.gid()), (0o700, 3_000_000, 7));
        assert!(std::fs::metadata(x.join("fifo")).unwrap().file_type().is_fifo());
        let null = std::fs::metadata(x.join("null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), (1 << 8) | 3);
        let attr = sh("getfattr --only-values -n user.k x/bin/sh", &tmp.0);
        assert_eq!(attr.stdout, b"v\n=1");
    }
}
