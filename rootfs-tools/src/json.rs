//! A small JSON (RFC 8259) parser and writer for OCI manifests, image
//! configs, `docker save` manifests and our own image records.
//!
//! Objects keep their members in document order as a `Vec` (no hashing; the
//! documents are small) and [`Value::get`] returns the last duplicate, as
//! Go's encoding/json does. Numbers are kept as their source text so that
//! nothing is rounded; [`Value::as_i64`] and friends convert on request.
//! Strings are unescaped in full, including `\u` surrogate pairs; a lone
//! surrogate becomes U+FFFD, as in Go.
//!
//! Limits: input must be UTF-8; nesting deeper than [`MAX_DEPTH`] is refused
//! so a hostile document cannot exhaust the stack. Errors carry the byte
//! offset where parsing stopped.

use alloc::string::String;
use alloc::vec::Vec;

pub const MAX_DEPTH: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number as written (validated against the JSON grammar).
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    /// Byte offset in the input.
    pub offset: usize,
    pub msg: &'static str,
}

impl Error {
    pub fn message(&self) -> &'static str {
        self.msg
    }
}

impl Value {
    /// The member `key` of an object (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The number if it is an integer that fits (no fraction or exponent).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// A number value from an integer (for writing records).
    pub fn from_i64(v: i64) -> Value {
        let mut s = Vec::new();
        if v < 0 {
            s.push(b'-');
        }
        let mut digits = [0u8; 20];
        let (mut i, mut u) = (20, v.unsigned_abs());
        loop {
            i -= 1;
            digits[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        s.extend_from_slice(&digits[i..]);
        Value::Number(String::from_utf8(s).unwrap_or_default())
    }

    /// Appends the compact JSON text of this value.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Number(n) => out.extend_from_slice(n.as_bytes()),
            Value::String(s) => write_string(out, s),
            Value::Array(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write(out);
                }
                out.push(b']');
            }
            Value::Object(o) => {
                out.push(b'{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(out, k);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// Appends `s` as a JSON string literal, escaping quotes, backslashes and
/// control characters.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Parses one JSON document (surrounding whitespace allowed).
pub fn parse(text: &[u8]) -> Result<Value, Error> {
    if let Err(e) = core::str::from_utf8(text) {
        return Err(Error { offset: e.valid_up_to(), msg: "invalid UTF-8" });
    }
    let mut p = Parser { s: text, i: 0 };
    let v = p.value(0)?;
    p.skip_ws();
    if p.i != text.len() {
        return p.err("trailing characters after JSON value");
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self, msg: &'static str) -> Result<T, Error> {
        Err(Error { offset: self.i, msg })
    }

    fn skip_ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// `depth` counts the containers around this value.
    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        self.skip_ws();
        if depth >= MAX_DEPTH && matches!(self.peek(), Some(b'[' | b'{')) {
            return self.err("JSON nested too deeply");
        }
        match self.peek() {
            None => self.err("unexpected end of JSON input"),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("expected a JSON value"),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, Error> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, Error> {
        self.i += 1;
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return self.err("expected a string key");
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return self.err("expected ':' after object key");
            }
            self.i += 1;
            let v = self.value(depth + 1)?;
            members.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(members));
                }
                _ => return self.err("expected ',' or '}' in object"),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Error> {
        self.i += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return self.err("expected ',' or ']' in array"),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let lead = self.peek();
        let n = self.digits();
        if n == 0 || (lead == Some(b'0') && n > 1) {
            return self.err("invalid number");
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        // The input was checked to be UTF-8 and this is ASCII.
        let text = core::str::from_utf8(&self.s[start..self.i]).unwrap_or("0");
        Ok(Value::Number(String::from(text)))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut v = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return self.err("invalid \\u escape"),
            };
            v = v << 4 | d as u32;
            self.i += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, Error> {
        self.i += 1;
        let mut out = String::new();
        loop {
            // Copy the run up to the next quote, backslash or control byte.
            let start = self.i;
            while self.i < self.s.len() && !matches!(self.s[self.i], b'"' | b'\\' | 0..=0x1f) {
                self.i += 1;
            }
            // Runs end at ASCII bytes, so they are whole UTF-8 sequences.
            out.push_str(core::str::from_utf8(&self.s[start..self.i]).unwrap_or(""));
            match self.peek() {
                None => return self.err("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.i += 1,
                Some(_) => return self.err("control character in string"),
            }
            let c = match self.peek() {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'u') => {
                    self.i += 1;
                    let hi = self.hex4()?;
                    let code = if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with(b"\\u") {
                        let save = self.i;
                        self.i += 2;
                        let lo = self.hex4()?;
                        if (0xDC00..0xE000).contains(&lo) {
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            // Not a pair: the high half stands alone and the
                            // next escape is decoded on its own.
                            self.i = save;
                            0xFFFD
                        }
                    } else {
                        hi
                    };
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    continue;
                }
                _ => return self.err("invalid escape in string"),
            };
            out.push(c);
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn p(s: &str) -> Value {
        parse(s.as_bytes()).unwrap()
    }

    fn e(s: &str) -> Error {
        parse(s.as_bytes()).unwrap_err()
    }

    #[test]
    fn parses_an_image_config() {
        let v = p(r#" {"architecture":"amd64","config":{"Env":["PATH=/usr/bin","A=\"q\""],
            "Entrypoint":null,"Cmd":["/bin/sh","-c","echo \u00e9\ud83d\ude00"],"User":"",
            "ExposedPorts":{}},"rootfs":{"type":"layers","diff_ids":[]},"size":-12,
            "f":1.5e3,"t":true,"dup":1,"dup":2} "#);
        let cfg = v.get("config").unwrap();
        let env: Vec<&str> = cfg.get("Env").unwrap().as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert_eq!(env, ["PATH=/usr/bin", "A=\"q\""]);
        assert!(cfg.get("Entrypoint").unwrap().is_null());
        assert_eq!(cfg.get("Cmd").unwrap().as_array().unwrap()[2].as_str(), Some("echo é😀"));
        assert_eq!(cfg.get("ExposedPorts").unwrap().as_object().unwrap().len(), 0);
        assert_eq!(v.get("size").unwrap().as_i64(), Some(-12));
        assert_eq!(v.get("size").unwrap().as_u64(), None);
        assert_eq!(v.get("f").unwrap().as_f64(), Some(1500.0));
        assert_eq!(v.get("f").unwrap().as_i64(), None);
        assert_eq!(v.get("t").unwrap().as_bool(), Some(true));
        assert_eq!(v.get("dup").unwrap().as_i64(), Some(2));
        assert_eq!(v.get("missing"), None);
        assert_eq!(v.get("rootfs").unwrap().get("diff_ids").unwrap().as_array(), Some(&[][..]));
    }

    #[test]
    fn escapes_and_surrogates() {
        assert_eq!(p(r#""\b\f\n\r\t\/\\""#).as_str(), Some("\u{8}\u{c}\n\r\t/\\"));
        assert_eq!(p(r#""\ud800x""#).as_str(), Some("\u{FFFD}x"));
        assert_eq!(p(r#""\ud800\u0041""#).as_str(), Some("\u{FFFD}A"));
        assert_eq!(p(r#""\udc00""#).as_str(), Some("\u{FFFD}"));
        assert_eq!(p("\"ü\"").as_str(), Some("ü"));
    }

    #[test]
    fn errors_with_offsets() {
        assert_eq!(e(""), Error { offset: 0, msg: "unexpected end of JSON input" });
        assert_eq!(e("{\"a\" 1}"), Error { offset: 5, msg: "expected ':' after object key" });
        assert_eq!(e("[1,]"), Error { offset: 3, msg: "expected a JSON value" });
        assert_eq!(e("[1 2]"), Error { offset: 3, msg: "expected ',' or ']' in array" });
        assert_eq!(e("{\"a\":1,}"), Error { offset: 7, msg: "expected a string key" });
        assert_eq!(e("01").msg, "invalid number");
        assert_eq!(e("1.").msg, "invalid number");
        assert_eq!(e("-").msg, "invalid number");
        assert_eq!(e("1e+").msg, "invalid number");
        assert_eq!(e("\"a\nb\""), Error { offset: 2, msg: "control character in string" });
        assert_eq!(e("\"\\x\"").msg, "invalid escape in string");
        assert_eq!(e("\"\\u12g4\"").msg, "invalid \\u escape");
        assert_eq!(e("\"abc").msg, "unterminated string");
        assert_eq!(e("tru").msg, "invalid literal");
        assert_eq!(e("{} x"), Error { offset: 3, msg: "trailing characters after JSON value" });
        assert_eq!(parse(b"\"a\xff\"").unwrap_err(), Error { offset: 2, msg: "invalid UTF-8" });
        // MAX_DEPTH nested containers are fine, one more is not.
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(e(&deep), Error { offset: MAX_DEPTH, msg: "JSON nested too deeply" });
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn write_round_trip() {
        let v = Value::Object(vec![
            ("name".into(), Value::String("a\"b\\c\n\u{1}é".into())),
            ("n".into(), Value::from_i64(-9_223_372_036_854_775_808)),
            ("z".into(), Value::from_i64(0)),
            ("l".into(), Value::Array(vec![Value::Null, Value::Bool(false), Value::Array(vec![])])),
        ]);
        let mut out = Vec::new();
        v.write(&mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "{\"name\":\"a\\\"b\\\\c\\n\\u0001é\",\"n\":-9223372036854775808,\"z\":0,\"l\":[null,false,[]]}"
        );
        assert_eq!(parse(&out).unwrap(), v);
    }

    #[test]
    fn python_json_agrees() {
        // Cross-check: what python's json module writes, we read back.
        let out = std::process::Command::new("python3")
            .args(["-c", "import json; print(json.dumps({'k': ['\\u20ac\\U0001f600\\x00', 1e-7, -0, {'x': None}]}))"])
            .output();
        let Ok(out) = out else { return };
        if !out.status.success() {
            return;
        }
        let v = parse(&out.stdout).unwrap();
        let k = v.get("k").unwrap().as_array().unwrap();
        assert_eq!(k[0].as_str(), Some("€😀\0"));
        assert_eq!(k[1].as_f64(), Some(1e-7));
        assert_eq!(k[2].as_i64(), Some(0));
        assert!(k[3].get("x").unwrap().is_null());
    }
}
