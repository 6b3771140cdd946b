//! The line format of husk's own small files: a container's state
//! (`husk`'s state directory) and an image record of the layer store. Both
//! are read by the launcher, which therefore needs no JSON parser.
//!
//! ```text
//! husk-state 1        first line: the kind of file and its version
//! name web-1          one field per line: key, one space, value
//! arg sh              a list repeats its key, in order
//! arg -c
//! end                 last line: a file without it was cut short
//! ```
//!
//! Values are bytes, written as they are except `\` as `\\` and a newline
//! as `\n`, so any path or argument (non-UTF-8 included) round-trips
//! exactly. A reader skips keys it does not know.

use alloc::vec::Vec;
use husk_sys::fmt::Sink;

/// Why a file could not be read: cut short (a crash mid-write, a full
/// disk), or not this format at all.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Damage {
    Truncated,
    Corrupt,
}

/// Append the line `key value`.
pub fn put(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    out.s(key).c(b' ');
    for &c in value {
        match c {
            b'\\' => out.s("\\\\"),
            b'\n' => out.s("\\n"),
            _ => out.c(c),
        };
    }
    out.push(b'\n');
}

/// Append the line `key N`.
pub fn put_u(out: &mut Vec<u8>, key: &str, n: u64) {
    out.s(key).c(b' ').u(n).c(b'\n');
}

/// Append the line `key N` for a signed `N`.
pub fn put_i(out: &mut Vec<u8>, key: &str, n: i32) {
    out.s(key).c(b' ').i(n as i64).c(b'\n');
}

/// Hand each field of `data` to `f` as (key, unescaped value), in file
/// order. The first line must be `head` and the last `end`; `f` returns
/// false for a value it cannot take, which makes the file corrupt.
pub fn fields(data: &[u8], head: &[u8], f: &mut dyn FnMut(&[u8], Vec<u8>) -> bool) -> Result<(), Damage> {
    let body = match data.strip_prefix(head).and_then(|b| b.strip_prefix(b"\n")) {
        Some(b) => b,
        None if head.len() >= data.len() && head.starts_with(data) => return Err(Damage::Truncated),
        None => return Err(Damage::Corrupt),
    };
    // `end` cannot appear as a line elsewhere: values hold no raw newline.
    let body = match body.strip_suffix(b"end\n") {
        Some(b) if b.is_empty() || b.ends_with(b"\n") => b,
        _ => return Err(Damage::Truncated),
    };
    for line in body.split(|&c| c == b'\n') {
        if line.is_empty() {
            continue; // the piece after the last newline
        }
        let sp = line.iter().position(|&c| c == b' ').ok_or(Damage::Corrupt)?;
        let (key, raw) = line.split_at(sp);
        let mut v = Vec::with_capacity(raw.len());
        let mut it = raw.iter().skip(1);
        while let Some(&c) = it.next() {
            v.push(match c {
                b'\\' => match it.next() {
                    Some(b'\\') => b'\\',
                    Some(b'n') => b'\n',
                    _ => return Err(Damage::Corrupt),
                },
                c => c,
            });
        }
        if !f(key, v) {
            return Err(Damage::Corrupt);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fields = Vec<(Vec<u8>, Vec<u8>)>;

    fn all(data: &[u8]) -> Result<Fields, Damage> {
        let mut v = Vec::new();
        fields(data, b"husk-test 1", &mut |k, x| {
            v.push((k.to_vec(), x));
            k != b"refused"
        })?;
        Ok(v)
    }

    #[test]
    fn values_round_trip_byte_exact() {
        let odd: &[u8] = b"a\\b\nc\\n \xff\xfe caf\xc3\xa9 \t\x01";
        let mut out = b"husk-test 1\n".to_vec();
        put(&mut out, "v", odd);
        put(&mut out, "v", b"");
        put_u(&mut out, "n", u64::MAX);
        out.extend_from_slice(b"end\n");
        assert_eq!(out.iter().filter(|&&c| c == b'\n').count(), 5);
        assert_eq!(
            all(&out),
            Ok(vec![
                (b"v".to_vec(), odd.to_vec()),
                (b"v".to_vec(), Vec::new()),
                (b"n".to_vec(), b"18446744073709551615".to_vec())
            ])
        );
    }

    #[test]
    fn damage_is_told_apart() {
        let good = b"husk-test 1\nk v\nend\n";
        assert!(all(good).is_ok());
        assert_eq!(all(b"husk-test 1\nend\n"), Ok(Vec::new()));
        for cut in 1..good.len() {
            assert_eq!(all(&good[..cut]), Err(Damage::Truncated), "{cut}");
        }
        for bad in [
            &b"husk-test 2\nend\n"[..],
            b"{\"name\": 12",
            b"husk-test 1\nnospace\nend\n",
            b"husk-test 1\nk a\\x\nend\n",
            b"husk-test 1\nk a\\\nend\n",
            b"husk-test 1\nrefused x\nend\n",
        ] {
            assert_eq!(all(bad), Err(Damage::Corrupt));
        }
    }
}
