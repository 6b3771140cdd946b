//! Streaming DEFLATE decoder (RFC 1951): stored, fixed and dynamic Huffman
//! blocks.
//!
//! The caller feeds input in chunks of any size and receives output in a
//! buffer of its own; [`Inflater::inflate`] returns how much it consumed and
//! produced. Memory is bounded: the 32 KiB history window plus a 32 KiB
//! decode area (and 258 bytes of slack for one match), about 70 KiB in all,
//! whatever the size of the stream. A layer is never held in memory.
//!
//! Design: a 64-bit bit buffer refilled eight bytes at a time, and per code
//! a 1024-entry lookup table for codes of up to 10 bits. Longer codes, which
//! are rare by construction (each is used at most once in 1024 symbols),
//! fall back to a canonical count/symbol walk, one bit at a time. The decoder
//! never consumes part of a symbol: if the bits for a whole literal or
//! length/distance pair are not there yet it stops and asks for more input,
//! so every state can resume without extra bookkeeping.
//!
//! Limits: the decoder cannot tell a truncated stream from one whose rest has
//! not arrived yet; the caller knows when its input has ended and turns
//! "not done" into [`Error::Truncated`] (see [`Inflater::finish`]).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

const WSIZE: usize = 32768;
/// Decoding a symbol starts only at or below this position, so a 258-byte
/// match always fits.
const LIMIT: usize = 2 * WSIZE;
/// Plus 8 because matches are copied in 8-byte words and may overrun.
const BUF_LEN: usize = LIMIT + 258 + 8;
const FAST_BITS: u32 = 10;
const FAST_MASK: u64 = (1 << FAST_BITS) - 1;

/// Packed decode results: `symbol << 4 | code length` for a hit, else these.
const NEED: u32 = 0;
const BAD: u32 = u32::MAX;

const LEN_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// Order in which code length code lengths are sent (RFC 1951 3.2.7).
const CL_ORDER: [u8; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Why a stream could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input ended before the final block did.
    Truncated,
    /// Block type 3, which RFC 1951 reserves.
    BadBlockType,
    /// A stored block whose LEN is not the complement of NLEN.
    StoredLength,
    /// Code lengths that over-subscribe or leave a code incomplete, or a
    /// repeat that runs past the end of the lengths.
    BadCodeLengths,
    /// A dynamic block without a code for end-of-block.
    NoEndOfBlock,
    /// A bit pattern that is no code, or literal/length 286-287, or
    /// distance 30-31.
    InvalidCode,
    /// A distance pointing before the start of the output.
    DistanceTooFar,
}

impl Error {
    pub fn message(&self) -> &'static str {
        match self {
            Error::Truncated => "truncated deflate stream",
            Error::BadBlockType => "corrupt deflate stream: invalid block type",
            Error::StoredLength => "corrupt deflate stream: stored block length check failed",
            Error::BadCodeLengths => "corrupt deflate stream: invalid Huffman code lengths",
            Error::NoEndOfBlock => "corrupt deflate stream: no end-of-block code",
            Error::InvalidCode => "corrupt deflate stream: invalid code",
            Error::DistanceTooFar => "corrupt deflate stream: distance too far back",
        }
    }
}

/// What one call to [`Inflater::inflate`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input taken (the rest must be passed again).
    pub consumed: usize,
    /// Bytes written to the front of the output buffer.
    pub produced: usize,
    /// The final block has ended and all its output was handed over.
    pub done: bool,
}

/// A canonical Huffman code: a fast table for codes of up to FAST_BITS bits
/// and the count/symbol arrays that decode any code bit by bit.
struct Huffman {
    fast: [u16; 1 << FAST_BITS],
    count: [u16; 16],
    symbol: [u16; 288],
}

impl Huffman {
    const fn new() -> Self {
        Huffman { fast: [0; 1 << FAST_BITS], count: [0; 16], symbol: [0; 288] }
    }

    /// Builds the code for these lengths (0 = unused symbol). Returns the
    /// number of unused code slots at 15 bits: negative if over-subscribed,
    /// positive if incomplete.
    fn build(&mut self, lengths: &[u8]) -> i32 {
        self.count = [0; 16];
        for &l in lengths {
            self.count[l as usize] += 1;
        }
        let mut left: i32 = 1;
        for len in 1..16 {
            left = (left << 1) - self.count[len] as i32;
            if left < 0 {
                return left;
            }
        }
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + self.count[len];
        }
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                self.symbol[offs[l as usize] as usize] = sym as u16;
                offs[l as usize] += 1;
            }
        }
        // Canonical codes are assigned in (length, symbol) order. Deflate
        // sends them most significant bit first into an LSB-first stream, so
        // the table is indexed by the bit-reversed code, and every entry
        // whose low `len` bits match gets the symbol.
        self.fast = [0; 1 << FAST_BITS];
        let mut code: u32 = 0;
        let mut index = 0usize;
        for len in 1..=FAST_BITS {
            for _ in 0..self.count[len as usize] {
                let rev = ((code as u16).reverse_bits() >> (16 - len)) as usize;
                let entry = (self.symbol[index] << 4) | len as u16;
                let mut j = rev;
                while j < 1 << FAST_BITS {
                    self.fast[j] = entry;
                    j += 1 << len;
                }
                code += 1;
                index += 1;
            }
            code <<= 1;
        }
        left
    }

    /// Decodes one symbol from the low `avail` bits of `bits`.
    #[inline(always)]
    fn decode(&self, bits: u64, avail: u32) -> u32 {
        let e = self.fast[(bits & FAST_MASK) as usize] as u32;
        if e != 0 {
            return if e & 15 <= avail { e } else { NEED };
        }
        self.decode_slow(bits, avail)
    }

    /// Walks the canonical code one bit at a time: `first` is the first code
    /// of the current length, `index` the position of its symbol.
    #[inline(never)]
    fn decode_slow(&self, bits: u64, avail: u32) -> u32 {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16u32 {
            if len > avail {
                return NEED;
            }
            code |= ((bits >> (len - 1)) & 1) as i32;
            let count = self.count[len as usize] as i32;
            if code - first < count {
                return ((self.symbol[(index + code - first) as usize] as u32) << 4) | len;
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        BAD
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Header,
    StoredLen,
    Stored,
    DynCounts,
    DynCodeLens,
    DynLens,
    Codes,
    Done,
}

/// Why the decoding loop stopped without an error.
#[derive(PartialEq, Eq)]
enum Stop {
    NeedInput,
    BufferFull,
    EndOfBlock,
}

/// The decoder state; allocate it once (it is about 8 KiB plus the 64 KiB
/// buffer) and [`reset`](Inflater::reset) it between streams.
pub struct Inflater {
    state: State,
    last: bool,
    bitbuf: u64,
    bitcnt: u32,
    /// History and decoded-but-not-delivered bytes.
    buf: Vec<u8>,
    /// Next position to decode into.
    pos: usize,
    /// Next position to hand to the caller.
    out_pos: usize,
    lit: Huffman,
    /// The distance code, or the code length code while a dynamic header
    /// is read.
    dist: Huffman,
    fixed_loaded: bool,
    lens: [u8; 320],
    nlen: usize,
    ndist: usize,
    ncode: usize,
    lens_i: usize,
    stored_left: usize,
}

impl Inflater {
    pub fn new() -> Box<Self> {
        Box::new(Inflater {
            state: State::Header,
            last: false,
            bitbuf: 0,
            bitcnt: 0,
            buf: vec![0; BUF_LEN],
            pos: 0,
            out_pos: 0,
            lit: Huffman::new(),
            dist: Huffman::new(),
            fixed_loaded: false,
            lens: [0; 320],
            nlen: 0,
            ndist: 0,
            ncode: 0,
            lens_i: 0,
            stored_left: 0,
        })
    }

    /// Prepares for a new stream (e.g. the next gzip member).
    pub fn reset(&mut self) {
        self.state = State::Header;
        self.last = false;
        self.bitbuf = 0;
        self.bitcnt = 0;
        self.pos = 0;
        self.out_pos = 0;
    }

    /// True once the final block has been decoded and delivered.
    pub fn is_done(&self) -> bool {
        self.state == State::Done && self.out_pos == self.pos
    }

    /// For a caller whose input has ended: `Ok` if the stream is complete,
    /// otherwise [`Error::Truncated`].
    pub fn finish(&self) -> Result<(), Error> {
        if self.is_done() {
            Ok(())
        } else {
            Err(Error::Truncated)
        }
    }

    /// After the end of the stream, returns the whole bytes the bit buffer
    /// read past it (at most 8): they belong to whatever follows, such as
    /// the gzip trailer.
    pub fn take_unused(&mut self, dst: &mut [u8; 8]) -> usize {
        let n = (self.bitcnt / 8) as usize;
        for (i, b) in dst.iter_mut().take(n).enumerate() {
            *b = (self.bitbuf >> (8 * i)) as u8;
        }
        self.bitbuf = 0;
        self.bitcnt = 0;
        n
    }

    /// Decodes from `input` into `out`. Returns when `out` is full, when the
    /// input is exhausted, or at the end of the stream.
    pub fn inflate(&mut self, input: &[u8], out: &mut [u8]) -> Result<Progress, Error> {
        let mut ip = 0;
        let mut op = 0;
        let mut stalled = false;
        loop {
            let n = (self.pos - self.out_pos).min(out.len() - op);
            out[op..op + n].copy_from_slice(&self.buf[self.out_pos..self.out_pos + n]);
            op += n;
            self.out_pos += n;
            if self.out_pos < self.pos || stalled || self.state == State::Done {
                break;
            }
            if self.pos > LIMIT {
                // Everything was delivered: keep only the window.
                self.buf.copy_within(self.pos - WSIZE..self.pos, 0);
                self.pos = WSIZE;
                self.out_pos = WSIZE;
            }
            stalled = self.step(input, &mut ip)?;
        }
        Ok(Progress { consumed: ip, produced: op, done: self.is_done() })
    }

    /// Tops up the bit buffer a byte at a time (block headers, stored
    /// blocks); the hot loop has its own word-at-a-time refill.
    fn refill(&mut self, input: &[u8], ip: &mut usize) {
        while self.bitcnt <= 55 && *ip < input.len() {
            self.bitbuf |= (input[*ip] as u64) << self.bitcnt;
            *ip += 1;
            self.bitcnt += 8;
        }
    }

    fn take_bits(&mut self, n: u32) -> u32 {
        let v = (self.bitbuf & ((1u64 << n) - 1)) as u32;
        self.bitbuf >>= n;
        self.bitcnt -= n;
        v
    }

    fn end_block(&mut self) {
        if self.last {
            // The stream ends on a byte boundary; the rest of the byte is
            // padding.
            let pad = self.bitcnt % 8;
            self.take_bits(pad);
            self.state = State::Done;
        } else {
            self.state = State::Header;
        }
    }

    /// Runs the state machine until it needs input (returns true), fills
    /// the decode area, or finishes (false).
    fn step(&mut self, input: &[u8], ip: &mut usize) -> Result<bool, Error> {
        loop {
            match self.state {
                State::Header => {
                    self.refill(input, ip);
                    if self.bitcnt < 3 {
                        return Ok(true);
                    }
                    self.last = self.take_bits(1) == 1;
                    match self.take_bits(2) {
                        0 => self.state = State::StoredLen,
                        1 => {
                            if !self.fixed_loaded {
                                self.load_fixed();
                            }
                            self.state = State::Codes;
                        }
                        2 => self.state = State::DynCounts,
                        _ => return Err(Error::BadBlockType),
                    }
                }
                State::StoredLen => {
                    let pad = self.bitcnt % 8;
                    self.take_bits(pad);
                    self.refill(input, ip);
                    if self.bitcnt < 32 {
                        return Ok(true);
                    }
                    let len = self.take_bits(16);
                    if len != !self.take_bits(16) & 0xFFFF {
                        return Err(Error::StoredLength);
                    }
                    self.stored_left = len as usize;
                    self.state = State::Stored;
                }
                State::Stored => {
                    if self.stored_left == 0 {
                        self.end_block();
                        continue;
                    }
                    if self.pos > LIMIT {
                        return Ok(false);
                    }
                    let mut room = LIMIT + 258 - self.pos;
                    // Whole bytes already in the bit buffer come first.
                    while self.bitcnt >= 8 && self.stored_left > 0 && room > 0 {
                        self.buf[self.pos] = self.take_bits(8) as u8;
                        self.pos += 1;
                        self.stored_left -= 1;
                        room -= 1;
                    }
                    let n = self.stored_left.min(room).min(input.len() - *ip);
                    self.buf[self.pos..self.pos + n].copy_from_slice(&input[*ip..*ip + n]);
                    self.pos += n;
                    *ip += n;
                    self.stored_left -= n;
                    if self.stored_left > 0 && *ip == input.len() && self.bitcnt < 8 {
                        return Ok(true);
                    }
                }
                State::DynCounts => {
                    self.refill(input, ip);
                    if self.bitcnt < 14 {
                        return Ok(true);
                    }
                    self.nlen = self.take_bits(5) as usize + 257;
                    self.ndist = self.take_bits(5) as usize + 1;
                    self.ncode = self.take_bits(4) as usize + 4;
                    if self.nlen > 286 || self.ndist > 30 {
                        return Err(Error::BadCodeLengths);
                    }
                    self.lens[..19].fill(0);
                    self.lens_i = 0;
                    self.state = State::DynCodeLens;
                }
                State::DynCodeLens => {
                    while self.lens_i < self.ncode {
                        self.refill(input, ip);
                        if self.bitcnt < 3 {
                            return Ok(true);
                        }
                        self.lens[CL_ORDER[self.lens_i] as usize] = self.take_bits(3) as u8;
                        self.lens_i += 1;
                    }
                    // The code length code must be complete.
                    if self.dist.build(&self.lens[..19]) != 0 {
                        return Err(Error::BadCodeLengths);
                    }
                    self.lens_i = 0;
                    self.state = State::DynLens;
                }
                State::DynLens => {
                    if self.read_lengths(input, ip)? {
                        return Ok(true);
                    }
                    self.build_dynamic()?;
                    self.state = State::Codes;
                }
                State::Codes => match self.codes(input, ip)? {
                    Stop::NeedInput => return Ok(true),
                    Stop::BufferFull => return Ok(false),
                    Stop::EndOfBlock => self.end_block(),
                },
                State::Done => return Ok(false),
            }
        }
    }

    /// Reads the literal/length and distance code lengths with the code
    /// length code; true if it needs more input.
    fn read_lengths(&mut self, input: &[u8], ip: &mut usize) -> Result<bool, Error> {
        let total = self.nlen + self.ndist;
        while self.lens_i < total {
            self.refill(input, ip);
            let e = self.dist.decode(self.bitbuf, self.bitcnt);
            if e == NEED {
                return Ok(true);
            }
            if e == BAD {
                return Err(Error::InvalidCode);
            }
            let (sym, n) = (e >> 4, e & 15);
            if sym < 16 {
                self.take_bits(n);
                self.lens[self.lens_i] = sym as u8;
                self.lens_i += 1;
                continue;
            }
            // 16: repeat the previous length 3-6 times; 17, 18: zeros.
            let (extra, base) = match sym {
                16 => (2, 3),
                17 => (3, 3),
                _ => (7, 11),
            };
            if n + extra > self.bitcnt {
                return Ok(true);
            }
            let value = if sym == 16 {
                if self.lens_i == 0 {
                    return Err(Error::BadCodeLengths);
                }
                self.lens[self.lens_i - 1]
            } else {
                0
            };
            self.take_bits(n);
            let rep = base + self.take_bits(extra) as usize;
            if self.lens_i + rep > total {
                return Err(Error::BadCodeLengths);
            }
            self.lens[self.lens_i..self.lens_i + rep].fill(value);
            self.lens_i += rep;
        }
        Ok(false)
    }

    fn build_dynamic(&mut self) -> Result<(), Error> {
        let (nlen, ndist) = (self.nlen, self.ndist);
        if self.lens[256] == 0 {
            return Err(Error::NoEndOfBlock);
        }
        // As zlib does: an incomplete code is accepted only when it has a
        // single code of one bit (or, for distances, no code at all).
        let ok = |h: &Huffman, left: i32, n: usize| left == 0 || (left > 0 && (h.count[0] + h.count[1]) as usize == n);
        let left = self.lit.build(&self.lens[..nlen]);
        if !ok(&self.lit, left, nlen) {
            return Err(Error::BadCodeLengths);
        }
        let left = self.dist.build(&self.lens[nlen..nlen + ndist]);
        if !ok(&self.dist, left, ndist) {
            return Err(Error::BadCodeLengths);
        }
        self.fixed_loaded = false;
        Ok(())
    }

    fn load_fixed(&mut self) {
        let mut l = [8u8; 288];
        l[144..256].fill(9);
        l[256..280].fill(7);
        self.lit.build(&l);
        // 32 five-bit codes so the table is complete; 30 and 31 are
        // rejected when decoded.
        self.dist.build(&[5u8; 32]);
        self.fixed_loaded = true;
    }

    /// The hot loop: literals and matches until end of block, a full decode
    /// area or the end of the input. Works on locals so they live in
    /// registers.
    fn codes(&mut self, input: &[u8], ip: &mut usize) -> Result<Stop, Error> {
        let mut bitbuf = self.bitbuf;
        let mut bitcnt = self.bitcnt;
        let mut pos = self.pos;
        let mut i = *ip;
        let buf = &mut self.buf[..];
        let (lit, dist) = (&self.lit, &self.dist);
        let result = loop {
            if pos > LIMIT {
                break Ok(Stop::BufferFull);
            }
            if i + 8 <= input.len() {
                // Load eight bytes but count only the whole bytes that fit;
                // the bits above bitcnt are the next input bytes again, so
                // the next load ORs the same values over them.
                let word = u64::from_le_bytes([
                    input[i],
                    input[i + 1],
                    input[i + 2],
                    input[i + 3],
                    input[i + 4],
                    input[i + 5],
                    input[i + 6],
                    input[i + 7],
                ]);
                bitbuf |= word << bitcnt;
                i += ((63 - bitcnt) >> 3) as usize;
                bitcnt |= 56;
            } else {
                while bitcnt <= 55 && i < input.len() {
                    bitbuf |= (input[i] as u64) << bitcnt;
                    i += 1;
                    bitcnt += 8;
                }
            }
            let e = lit.decode(bitbuf, bitcnt);
            if e == NEED {
                break Ok(Stop::NeedInput);
            }
            if e == BAD {
                break Err(Error::InvalidCode);
            }
            let (sym, n) = ((e >> 4) as usize, e & 15);
            if sym < 256 {
                buf[pos] = sym as u8;
                pos += 1;
                bitbuf >>= n;
                bitcnt -= n;
                continue;
            }
            if sym == 256 {
                bitbuf >>= n;
                bitcnt -= n;
                break Ok(Stop::EndOfBlock);
            }
            let li = sym - 257;
            if li >= 29 {
                break Err(Error::InvalidCode);
            }
            let eb = LEN_EXTRA[li] as u32;
            let mut used = n + eb;
            if used > bitcnt {
                break Ok(Stop::NeedInput);
            }
            let len = LEN_BASE[li] as usize + ((bitbuf >> n) & ((1u64 << eb) - 1)) as usize;
            let d = dist.decode(bitbuf >> used, bitcnt - used);
            if d == NEED {
                break Ok(Stop::NeedInput);
            }
            if d == BAD || (d >> 4) >= 30 {
                break Err(Error::InvalidCode);
            }
            let (ds, dn) = ((d >> 4) as usize, d & 15);
            let deb = DIST_EXTRA[ds] as u32;
            let dval = DIST_BASE[ds] as usize + ((bitbuf >> (used + dn)) & ((1u64 << deb) - 1)) as usize;
            used += dn + deb;
            if used > bitcnt {
                break Ok(Stop::NeedInput);
            }
            // Before the first slide buf[..pos] is the whole output; after
            // it pos >= WSIZE, beyond any distance.
            if dval > pos {
                break Err(Error::DistanceTooFar);
            }
            bitbuf >>= used;
            bitcnt -= used;
            copy_match(buf, pos, dval, len);
            pos += len;
        };
        // Drop the look-ahead bits above bitcnt: the next call may be given
        // different bytes after the ones consumed.
        self.bitbuf = bitbuf & ((1u64 << bitcnt) - 1);
        self.bitcnt = bitcnt;
        self.pos = pos;
        *ip = i;
        result
    }
}

/// Copies `len` bytes from `dist` back, overlapping as LZ77 intends. Writes
/// up to 7 bytes past the end, which BUF_LEN leaves room for.
#[inline(always)]
fn copy_match(buf: &mut [u8], pos: usize, dist: usize, len: usize) {
    let end = pos + len;
    if dist >= 8 {
        // Each word read lies entirely before the word written.
        let (mut s, mut d) = (pos - dist, pos);
        while d < end {
            let w: [u8; 8] = buf[s..s + 8].try_into().unwrap();
            buf[d..d + 8].copy_from_slice(&w);
            s += 8;
            d += 8;
        }
    } else if dist == 1 {
        let b = buf[pos - 1];
        buf[pos..end].fill(b);
    } else {
        for d in pos..end {
            buf[d] = buf[d - dist];
        }
    }
}

/// Decodes a whole raw deflate stream held in memory.
pub fn inflate_all(data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut inf = Inflater::new();
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 65536];
    let mut rest = data;
    loop {
        let p = inf.inflate(rest, &mut chunk)?;
        out.extend_from_slice(&chunk[..p.produced]);
        rest = &rest[p.consumed..];
        if p.done {
            return Ok(out);
        }
        if p.consumed == 0 && p.produced == 0 {
            return Err(Error::Truncated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Raw deflate data of `data` compressed by gzip at `level` (with -n the
    /// header is exactly 10 bytes; the trailer is 8).
    fn gzip_raw(data: &[u8], level: &str) -> Vec<u8> {
        // Tests run in parallel: every fixture gets its own name.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("husk-inflate-{}-{n}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        let out = Command::new("gzip").args(["-n", "-c", level]).arg(&path).output().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(out.status.success());
        out.stdout[10..out.stdout.len() - 8].to_vec()
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as u8
            })
            .collect()
    }

    /// Text-like data with plenty of long and short matches.
    fn text(n: usize) -> Vec<u8> {
        let words = ["husk ", "layer ", "overlay ", "cgroup ", "namespace\n", "a", "pivot_root "];
        let r = pseudo_random(n, 7);
        let mut out = Vec::new();
        let mut i = 0;
        while out.len() < n {
            out.extend_from_slice(words[r[i % n] as usize % words.len()].as_bytes());
            i += 1;
        }
        out.truncate(n);
        out
    }

    /// Decodes with the given input and output chunk sizes.
    fn inflate_chunked(raw: &[u8], in_chunk: usize, out_chunk: usize) -> Result<Vec<u8>, Error> {
        let mut inf = Inflater::new();
        let mut out = Vec::new();
        let mut obuf = vec![0u8; out_chunk];
        let mut fed = 0;
        let mut pending: &[u8] = &[];
        loop {
            if pending.is_empty() && fed < raw.len() {
                let end = (fed + in_chunk).min(raw.len());
                pending = &raw[fed..end];
                fed = end;
            }
            let p = inf.inflate(pending, &mut obuf)?;
            out.extend_from_slice(&obuf[..p.produced]);
            pending = &pending[p.consumed..];
            if p.done {
                return Ok(out);
            }
            if p.produced == 0 && p.consumed == 0 && fed == raw.len() && pending.is_empty() {
                inf.finish()?;
            }
        }
    }

    #[test]
    fn stored_and_fixed_by_hand() {
        // A final stored block "abc" (LEN 3, NLEN !3).
        let stored = [0x01, 0x03, 0x00, 0xfc, 0xff, b'a', b'b', b'c'];
        assert_eq!(inflate_all(&stored).unwrap(), b"abc");
        // Fixed block for "a" then end-of-block, as zlib produces it.
        assert_eq!(inflate_all(&[0x4b, 0x04, 0x00]).unwrap(), b"a");
        // Empty fixed block.
        assert_eq!(inflate_all(&[0x03, 0x00]).unwrap(), b"");
    }

    #[test]
    fn corrupt_streams_are_errors() {
        // Block type 3.
        assert_eq!(inflate_all(&[0x07, 0, 0]), Err(Error::BadBlockType));
        // Stored LEN/NLEN mismatch.
        assert_eq!(inflate_all(&[0x01, 0x03, 0x00, 0xfc, 0xfe, 1, 2, 3]), Err(Error::StoredLength));
        // Fixed block whose first symbol is a match of distance 1 with no
        // output yet: length code 257 (0000001), distance code 0 (00000).
        assert_eq!(inflate_all(&[0x03, 0x02, 0x00, 0x00]), Err(Error::DistanceTooFar));
        // Truncated: a stored block promising 3 bytes, giving 2.
        assert_eq!(inflate_all(&[0x01, 0x03, 0x00, 0xfc, 0xff, b'a', b'b']), Err(Error::Truncated));
        let raw = gzip_raw(&text(100_000), "-6");
        assert_eq!(inflate_all(&raw[..raw.len() / 2]), Err(Error::Truncated));
        assert_eq!(inflate_chunked(&raw[..raw.len() - 1], 100, 77), Err(Error::Truncated));
        // Flipping bits in a dynamic block must never pass silently with
        // the original output (it may decode to other bytes, or fail).
        let good = inflate_all(&raw).unwrap();
        let mut bad = raw.clone();
        bad[3] ^= 0x55;
        assert_ne!(inflate_all(&bad).ok(), Some(good));
    }

    #[test]
    fn matches_gzip_on_corpus() {
        let mut corpus: Vec<(String, Vec<u8>)> = vec![
            ("empty".into(), vec![]),
            ("zeros".into(), vec![0; 300_000]),
            ("random".into(), pseudo_random(200_000, 1)),
            ("text".into(), text(500_000)),
        ];
        // A few real binaries of different sizes.
        let mut bins: Vec<_> = std::fs::read_dir("/usr/bin")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((e.metadata().ok()?.len(), e.path())))
            .filter(|(len, p)| *len > 0 && p.is_file())
            .collect();
        bins.sort();
        for idx in [0, bins.len() / 3, bins.len() * 2 / 3, bins.len() - 1] {
            let (len, p) = &bins[idx];
            if *len < 8_000_000 {
                corpus.push((p.display().to_string(), std::fs::read(p).unwrap()));
            }
        }
        for (name, data) in &corpus {
            for level in ["-1", "-6", "-9"] {
                let raw = gzip_raw(data, level);
                assert_eq!(&inflate_all(&raw).unwrap(), data, "{name} {level}");
                // Streaming with awkward chunk sizes must give the same bytes.
                assert_eq!(&inflate_chunked(&raw, 1 + data.len() % 997, 4093).unwrap(), data);
            }
        }
        // Byte-at-a-time input and output, on something small.
        let data = text(20_000);
        let raw = gzip_raw(&data, "-9");
        assert_eq!(inflate_chunked(&raw, 1, 1).unwrap(), data);
    }

    #[test]
    fn random_input_never_panics() {
        // Random bytes, and valid streams with random bytes overwritten:
        // each must end in Ok or an error, whatever the chunking.
        let raw = gzip_raw(&text(30_000), "-9");
        for seed in 1..400u32 {
            let junk = pseudo_random(50 + (seed as usize * 37) % 3000, seed);
            let _ = inflate_all(&junk);
            let mut bad = raw.clone();
            for k in 0..3 {
                let at = (junk[k] as usize * 131 + junk[k + 3] as usize) % bad.len();
                bad[at] = junk[k + 6];
            }
            let whole = inflate_all(&bad);
            let chunked = inflate_chunked(&bad, 1 + seed as usize % 50, 1 + seed as usize % 700);
            assert_eq!(whole, chunked, "seed {seed}");
        }
    }

    #[test]
    fn stored_blocks_from_gzip() {
        // gzip falls back to stored blocks for incompressible data; random
        // data larger than one 64 KiB stored block exercises that path.
        let data = pseudo_random(400_000, 3);
        let raw = gzip_raw(&data, "-1");
        assert!(raw.len() > data.len(), "expected stored blocks");
        assert!(inflate_chunked(&raw, 10_000, 3_000).unwrap() == data);
        assert!(inflate_chunked(&raw, 3, 100_000).unwrap() == data);
    }
}
