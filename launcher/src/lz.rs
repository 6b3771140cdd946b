//! A small LZ77 codec for the husk-init image that husk carries inside itself.
//!
//! husk must fit in 128 KiB and the embedded init is 15 KiB of it. Machine
//! code repeats itself a lot (call sequences, prologues, syscall stubs), so
//! a byte-oriented LZ77 with a decoder of a few dozen instructions saves
//! about a third of that, where a DEFLATE decoder would cost more code than
//! it saves. The compressor runs at build time (sys/static-bin.rs includes
//! this file); the decoder runs once per container start, in the container
//! stage, so the waiting host never holds the image.
//!
//! Format: a sequence of blocks, each
//!   token: u8           high nibble = literal count, low nibble = match length - MIN_MATCH
//!   [extra literal count bytes, if the nibble is 15: add each byte, stop after one < 255]
//!   literals
//!   offset: u16 LE      distance back into the output (1..=65535); absent in the last block
//!   [extra match length bytes, as for the literal count]
//! The last block has only literals and ends the input.

use alloc::vec::Vec;

const MIN_MATCH: usize = 4;

/// Decode `input` into a new vector. `None` if the input is malformed,
/// which for an image built into husk means a build defect.
pub fn decompress(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 2);
    let mut i = 0;
    while i < input.len() {
        let token = input[i];
        i += 1;
        let lits = read_len(input, &mut i, (token >> 4) as usize)?;
        out.extend_from_slice(input.get(i..i + lits)?);
        i += lits;
        if i == input.len() {
            break;
        }
        let off = u16::from_le_bytes([*input.get(i)?, *input.get(i + 1)?]) as usize;
        i += 2;
        let len = read_len(input, &mut i, (token & 15) as usize)? + MIN_MATCH;
        if off == 0 || off > out.len() {
            return None;
        }
        // Byte by byte: a match may overlap the bytes it produces (a run).
        let start = out.len() - off;
        for k in 0..len {
            let b = out[start + k];
            out.push(b);
        }
    }
    Some(out)
}

fn read_len(input: &[u8], i: &mut usize, nibble: usize) -> Option<usize> {
    let mut n = nibble;
    if nibble == 15 {
        loop {
            let b = *input.get(*i)?;
            *i += 1;
            n += b as usize;
            if b != 255 {
                break;
            }
        }
    }
    Some(n)
}

/// Compress `data` (build time only: speed is irrelevant, ratio matters).
/// Lazy parsing with a hash chain over 4-byte prefixes.
#[allow(dead_code)]
pub fn compress(data: &[u8]) -> Vec<u8> {
    const HASH: usize = 1 << 14;
    const DEPTH: usize = 256;
    let mut head = alloc::vec![usize::MAX; HASH];
    let mut prev = alloc::vec![usize::MAX; data.len()];
    let hash = |p: usize| {
        let v = u32::from_le_bytes([data[p], data[p + 1], data[p + 2], data[p + 3]]);
        (v.wrapping_mul(2_654_435_761) >> 18) as usize & (HASH - 1)
    };
    let mut out = Vec::new();
    let mut lit_start = 0;
    let mut p = 0;
    let insert = |p: usize, head: &mut Vec<usize>, prev: &mut Vec<usize>| {
        if p + MIN_MATCH <= data.len() {
            let h = hash(p);
            prev[p] = head[h];
            head[h] = p;
        }
    };
    // The longest earlier match for position p, searching DEPTH candidates.
    let find = |p: usize, head: &Vec<usize>, prev: &Vec<usize>| {
        let (mut best_len, mut best_off) = (0, 0);
        if p + MIN_MATCH > data.len() {
            return (0, 0);
        }
        let mut cand = head[hash(p)];
        let mut depth = 0;
        while cand != usize::MAX && depth < DEPTH && p - cand <= 65535 {
            let mut l = 0;
            while p + l < data.len() && data[cand + l] == data[p + l] {
                l += 1;
            }
            if l > best_len {
                best_len = l;
                best_off = p - cand;
            }
            cand = prev[cand];
            depth += 1;
        }
        (best_len, best_off)
    };
    while p + MIN_MATCH <= data.len() {
        let (best_len, best_off) = find(p, &head, &prev);
        insert(p, &mut head, &mut prev);
        // Lazy matching: if the next position starts a longer match, emit
        // this byte as a literal and take that one instead.
        if best_len < MIN_MATCH || find(p + 1, &head, &prev).0 > best_len + 1 {
            p += 1;
            continue;
        }
        emit(&mut out, &data[lit_start..p], Some((best_off, best_len)));
        for q in p + 1..p + best_len {
            insert(q, &mut head, &mut prev);
        }
        p += best_len;
        lit_start = p;
    }
    emit(&mut out, &data[lit_start..], None);
    out
}

fn emit(out: &mut Vec<u8>, lits: &[u8], m: Option<(usize, usize)>) {
    let ml = m.map_or(0, |(_, len)| len - MIN_MATCH);
    out.push(((lits.len().min(15) as u8) << 4) | ml.min(15) as u8);
    put_len(out, lits.len());
    out.extend_from_slice(lits);
    if let Some((off, _)) = m {
        out.extend_from_slice(&(off as u16).to_le_bytes());
        put_len(out, ml);
    }
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    if n >= 15 {
        let mut rest = n - 15;
        while rest >= 255 {
            out.push(255);
            rest -= 255;
        }
        out.push(rest as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) -> usize {
        let c = compress(data);
        assert_eq!(decompress(&c).as_deref(), Some(data), "round trip of {} bytes", data.len());
        c.len()
    }

    #[test]
    fn round_trips_edge_cases_and_real_binaries() {
        round_trip(b"");
        round_trip(b"abc");
        round_trip(&[7u8; 100_000]); // long overlapping runs, extended lengths
        let mut x = 1u32;
        let noise: Vec<u8> = (0..5000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        round_trip(&noise); // long literal runs
        let text = b"the quick brown fox jumps over the lazy dog; ".repeat(300);
        assert!(round_trip(&text) < text.len() / 10);
        // Machine code, which is what it is for: /bin/true is in every rootfs.
        let bin = std::fs::read("/bin/true").unwrap();
        assert!(round_trip(&bin) < bin.len() * 3 / 4);
    }

    #[test]
    fn malformed_input_is_refused_not_a_panic() {
        assert_eq!(decompress(&[0x00, 0x05, 0x00]), None); // offset past the output
        assert_eq!(decompress(&[0x30, b'a']), None); // literals cut short
        assert_eq!(decompress(&[0x10, b'a', 0x01]), None); // offset cut short
        assert_eq!(decompress(&[0xf0]), None); // length bytes missing
    }
}
