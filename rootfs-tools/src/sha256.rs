//! Streaming SHA-256 (FIPS 180-4) for blob digests and layer diff_ids.
//!
//! `update` may be called with any chunk sizes; `finish` pads and returns the
//! 32-byte digest. `hex` renders it as the 64 lowercase hex digits that OCI
//! digests (`sha256:<hex>`) and `sha256sum` use. No tables beyond the 64
//! round constants, no core::fmt.

use crate::stream::{Source, StreamError};

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

const H0: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// A running SHA-256.
#[derive(Clone)]
pub struct Sha256 {
    h: [u32; 8],
    block: [u8; 64],
    used: usize,
    total: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    pub const fn new() -> Self {
        Sha256 { h: H0, block: [0; 64], used: 0, total: 0 }
    }

    /// Digest of one buffer.
    pub fn digest(data: &[u8]) -> [u8; 32] {
        let mut s = Sha256::new();
        s.update(data);
        s.finish()
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.used > 0 {
            let n = (64 - self.used).min(data.len());
            self.block[self.used..self.used + n].copy_from_slice(&data[..n]);
            self.used += n;
            data = &data[n..];
            if self.used < 64 {
                return;
            }
            let block = self.block;
            if !husk_sys::sha_ni::compress_blocks(&mut self.h, &block, &K) {
                compress(&mut self.h, &block);
            }
            self.used = 0;
        }
        // Whole blocks straight from the caller's buffer: no copy.
        let whole = data.len() / 64 * 64;
        if !husk_sys::sha_ni::compress_blocks(&mut self.h, &data[..whole], &K) {
            for b in data[..whole].chunks_exact(64) {
                compress(&mut self.h, b);
            }
        }
        let rest = &data[whole..];
        self.block[..rest.len()].copy_from_slice(rest);
        self.used = rest.len();
    }

    pub fn finish(mut self) -> [u8; 32] {
        let bits = self.total.wrapping_mul(8);
        let mut pad = [0u8; 72];
        pad[0] = 0x80;
        // Pad to 56 mod 64, then the 64-bit big-endian bit count.
        let padlen = if self.used < 56 { 56 - self.used } else { 120 - self.used };
        pad[padlen..padlen + 8].copy_from_slice(&bits.to_be_bytes());
        let total = self.total;
        self.update(&pad[..padlen + 8]);
        self.total = total;
        let mut out = [0u8; 32];
        for (i, w) in self.h.iter().enumerate() {
            out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

fn compress(h: &mut [u32; 8], block: &[u8]) {
    let mut w = [0u32; 64];
    for (i, c) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
        *x = x.wrapping_add(v);
    }
}

/// Lowercase hex of a digest, as `sha256sum` prints it.
pub fn hex(digest: &[u8; 32]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    out
}

/// Parses 64 hex digits (either case) back into a digest; `None` if the text
/// is not exactly that. Used to check `sha256:<hex>` digests from manifests.
pub fn parse_hex(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// A [`Source`] that hashes everything read through it: put one under the
/// gzip decoder for the blob digest and one over it for the diff_id, and the
/// layer is hashed twice in the single pass that unpacks it.
pub struct HashingSource<S> {
    pub inner: S,
    pub hasher: Sha256,
    /// Bytes read so far (the blob size to compare with the descriptor's).
    pub count: u64,
}

impl<S: Source> HashingSource<S> {
    pub fn new(inner: S) -> Self {
        HashingSource { inner, hasher: Sha256::new(), count: 0 }
    }
}

impl<S: Source> Source for HashingSource<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn hex_of(data: &[u8]) -> String {
        String::from_utf8(hex(&Sha256::digest(data)).to_vec()).unwrap()
    }

    #[test]
    fn known_vectors() {
        assert_eq!(hex_of(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex_of(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            hex_of(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn parse_hex_round_trip() {
        let d = Sha256::digest(b"x");
        assert_eq!(parse_hex(&hex(&d)), Some(d));
        assert_eq!(parse_hex(b"zz"), None);
        let mut bad = hex(&d);
        bad[3] = b'g';
        assert_eq!(parse_hex(&bad), None);
    }

    #[test]
    fn matches_sha256sum_across_chunkings() {
        // Lengths around the 55/56/64-byte padding boundaries, and a larger
        // pseudo-random buffer fed in odd chunk sizes.
        let mut seed = 0x1234_5678u32;
        let mut big = vec![0u8; 300_001];
        for b in big.iter_mut() {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (seed >> 16) as u8;
        }
        let dir = std::env::temp_dir().join(format!("husk-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for len in [0usize, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 300_001] {
            let data = &big[..len];
            let path = dir.join(format!("f{len}"));
            std::fs::write(&path, data).unwrap();
            let out = Command::new("sha256sum").arg(&path).output().unwrap();
            let expect = String::from_utf8(out.stdout).unwrap()[..64].to_string();
            assert_eq!(hex_of(data), expect, "len {len}");
            let mut s = Sha256::new();
            for chunk in data.chunks(7 + len % 13) {
                s.update(chunk);
            }
            assert_eq!(String::from_utf8(hex(&s.finish()).to_vec()).unwrap(), expect);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
