//! /etc/ld.so.cache, the index ldconfig(8) builds and ld.so consults for
//! libraries that RUNPATH does not find.
//!
//! Formats: the current "glibc-ld.so.cache1.1" one (the only one ldconfig
//! writes since glibc 2.32), also when it follows an old "ld.so-1.7.0"
//! table in the combined layout older glibc wrote; and the old table alone.
//! Strings in the new format are offsets from the start of its header; in
//! the old one, from the end of its entry table (glibc's dl-cache.c).
//!
//! Each entry's flags say which ABI the library is for: a 32-bit library
//! must not satisfy a 64-bit program. [`expected_flags`] gives what ld.so
//! accepts for a given ELF class and machine, and [`lookup`] returns the
//! first entry (ldconfig sorts the best first) with those flags.
//! Limits: little-endian caches only; hwcap subdirectory preferences are
//! not applied (the first match is taken).

use alloc::vec::Vec;

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";

/// Library type in the low byte: a glibc (libc6) ELF library.
pub const FLAG_ELF_LIBC6: i32 = 0x0003;
pub const FLAG_X8664_LIB64: i32 = 0x0300;
pub const FLAG_X8664_LIBX32: i32 = 0x0800;
pub const FLAG_AARCH64_LIB64: i32 = 0x0a00;
pub const FLAG_RISCV_FLOAT_ABI_DOUBLE: i32 = 0x1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Neither magic string.
    BadMagic,
    /// A count or string offset outside the file, or a big-endian cache.
    Malformed,
}

impl Error {
    pub fn message(&self) -> &'static str {
        match self {
            Error::BadMagic => "not an ld.so.cache file",
            Error::Malformed => "malformed ld.so.cache",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheEntry<'a> {
    pub flags: i32,
    /// The soname, e.g. `libc.so.6`.
    pub name: &'a [u8],
    /// The full path of the library.
    pub path: &'a [u8],
}

fn u32_at(d: &[u8], off: usize) -> Result<u32, Error> {
    let b = d.get(off..off + 4).ok_or(Error::Malformed)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn str_at(d: &[u8], off: usize) -> Result<&[u8], Error> {
    let s = d.get(off..).ok_or(Error::Malformed)?;
    let end = s.iter().position(|&c| c == 0).ok_or(Error::Malformed)?;
    Ok(&s[..end])
}

/// Reads `n` entries of `size` bytes from `at`; strings relative to `base`.
fn entries(d: &[u8], at: usize, n: usize, size: usize, base: usize) -> Result<Vec<CacheEntry<'_>>, Error> {
    if n.checked_mul(size).and_then(|b| b.checked_add(at)).is_none_or(|end| end > d.len()) {
        return Err(Error::Malformed);
    }
    (0..n)
        .map(|i| {
            let e = at + i * size;
            Ok(CacheEntry {
                flags: u32_at(d, e)? as i32,
                name: str_at(d, base + u32_at(d, e + 4)? as usize)?,
                path: str_at(d, base + u32_at(d, e + 8)? as usize)?,
            })
        })
        .collect()
}

/// Parses the whole cache (the caller reads the file, about 30-100 KiB).
pub fn parse(d: &[u8]) -> Result<Vec<CacheEntry<'_>>, Error> {
    let mut new_at = 0;
    if d.starts_with(OLD_MAGIC) {
        let n = u32_at(d, 12)? as usize;
        let old_end = n.checked_mul(12).and_then(|b| b.checked_add(16)).ok_or(Error::Malformed)?;
        // The new table, if any, follows at 8-byte alignment.
        new_at = (old_end + 7) & !7;
        if !d.get(new_at..).is_some_and(|r| r.starts_with(NEW_MAGIC)) {
            return entries(d, 16, n, 12, old_end);
        }
    } else if !d.starts_with(NEW_MAGIC) {
        return Err(Error::BadMagic);
    }
    let n = u32_at(d, new_at + 20)? as usize;
    // Byte 28 records the writer's endianness: 0 unknown, 2 little.
    if !matches!(d.get(new_at + 28), Some(0 | 2)) {
        return Err(Error::Malformed);
    }
    entries(d, new_at + 48, n, 24, new_at)
}

/// The flags ld.so accepts for an object of this class and machine, or
/// `None` for machines not listed here (then any libc6 entry will do).
pub fn expected_flags(class64: bool, machine: u16) -> Option<i32> {
    use crate::elf::{EM_386, EM_AARCH64, EM_RISCV, EM_X86_64};
    let abi = match (class64, machine) {
        (true, EM_X86_64) => FLAG_X8664_LIB64,
        (false, EM_X86_64) => FLAG_X8664_LIBX32,
        (false, EM_386) => 0,
        (true, EM_AARCH64) => FLAG_AARCH64_LIB64,
        (true, EM_RISCV) => FLAG_RISCV_FLOAT_ABI_DOUBLE,
        _ => return None,
    };
    Some(FLAG_ELF_LIBC6 | abi)
}

/// The path of the first entry named `name` whose flags match `want`
/// (or that is a libc6 library at all, when `want` is `None`).
pub fn lookup<'a>(entries: &[CacheEntry<'a>], name: &[u8], want: Option<i32>) -> Option<&'a [u8]> {
    entries
        .iter()
        .find(|e| {
            e.name == name
                && match want {
                    Some(f) => e.flags == f,
                    None => e.flags & 0xff == FLAG_ELF_LIBC6,
                }
        })
        .map(|e| e.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A cache in the given layout with two entries for one name: a 32-bit
    /// one first, then the x86-64 one.
    fn synth(old: bool, new: bool) -> Vec<u8> {
        let strings = b"libq.so.1\0/lib32/libq.so.1\0/lib64/libq.so.1\0";
        let (name, p32, p64) = (0u32, 10u32, 27u32);
        let flags = [FLAG_ELF_LIBC6, FLAG_ELF_LIBC6 | FLAG_X8664_LIB64];
        let mut d = Vec::new();
        if old {
            d.extend_from_slice(OLD_MAGIC);
            d.push(0);
            d.extend_from_slice(&2u32.to_le_bytes());
            // Old-only: strings right after the table. Combined: we read
            // the new table only, so these offsets do not matter.
            for (f, p) in flags.iter().zip([p32, p64]) {
                for v in [*f as u32, name, p] {
                    d.extend_from_slice(&v.to_le_bytes());
                }
            }
            if !new {
                d.extend_from_slice(strings);
                return d;
            }
            d.resize((d.len() + 7) & !7, 0);
        }
        let base = d.len();
        d.extend_from_slice(NEW_MAGIC);
        d.extend_from_slice(&2u32.to_le_bytes());
        d.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        d.extend_from_slice(&[2, 0, 0, 0]);
        d.extend_from_slice(&[0; 16]);
        assert_eq!(d.len() - base, 48);
        let str_off = 48 + 2 * 24;
        for (f, p) in flags.iter().zip([p32, p64]) {
            for v in [*f as u32, name + str_off, p + str_off, 0] {
                d.extend_from_slice(&v.to_le_bytes());
            }
            d.extend_from_slice(&0u64.to_le_bytes());
        }
        d.extend_from_slice(strings);
        d
    }

    #[test]
    fn synthetic_layouts_and_arch_preference() {
        for (old, new) in [(false, true), (true, true), (true, false)] {
            let d = synth(old, new);
            let e = parse(&d).unwrap();
            assert_eq!(e.len(), 2, "{old} {new}");
            let want = expected_flags(true, crate::elf::EM_X86_64);
            assert_eq!(lookup(&e, b"libq.so.1", want), Some(&b"/lib64/libq.so.1"[..]));
            assert_eq!(
                lookup(&e, b"libq.so.1", expected_flags(false, crate::elf::EM_386)),
                Some(&b"/lib32/libq.so.1"[..])
            );
            assert_eq!(lookup(&e, b"libq.so.1", None), Some(&b"/lib32/libq.so.1"[..]));
            assert_eq!(lookup(&e, b"libz.so.1", want), None);
            for cut in 0..d.len() {
                let _ = parse(&d[..cut]);
            }
        }
        assert_eq!(parse(b"hello"), Err(Error::BadMagic));
        let mut d = synth(false, true);
        d.truncate(60);
        assert_eq!(parse(&d), Err(Error::Malformed));
        let mut big_endian = synth(false, true);
        big_endian[28] = 3;
        assert_eq!(parse(&big_endian), Err(Error::Malformed));
    }

    #[test]
    fn agrees_with_ldconfig_p() {
        let Ok(data) = std::fs::read("/etc/ld.so.cache") else {
            return;
        };
        let entries = parse(&data).unwrap();
        let out = Command::new("ldconfig").arg("-p").output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut expect = Vec::new();
        for line in text.lines().skip(1) {
            // "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1"
            let Some((left, path)) = line.trim().split_once(" => ") else {
                continue;
            };
            let name = left.split(' ').next().unwrap();
            expect.push((name.to_string(), left.contains("x86-64"), path.to_string()));
        }
        assert_eq!(entries.len(), expect.len());
        for (e, (name, x64, path)) in entries.iter().zip(&expect) {
            assert_eq!(e.name, name.as_bytes());
            assert_eq!(e.path, path.as_bytes());
            assert_eq!(e.flags == FLAG_ELF_LIBC6 | FLAG_X8664_LIB64, *x64, "{name}");
        }
        let libc = lookup(&entries, b"libc.so.6", expected_flags(true, crate::elf::EM_X86_64)).unwrap();
        assert!(std::path::Path::new(std::str::from_utf8(libc).unwrap()).exists());
    }
}
