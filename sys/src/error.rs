//! `Error`: the step, the object and the errno, rendered as one line:
//! `husk: mount overlay on /run/husk/c1/root: EINVAL (Invalid argument)`.
//!
//! Without an allocator (husk-init) the object is copied into a fixed buffer
//! and cut with `...` past 240 bytes, which no real path in a message is.
//! With the `alloc` feature the whole error is boxed instead, so that
//! `Result<T, Error>` is one pointer wider than `T`: moving fat results
//! through every `?` measured 19 KB of husk's code.

use crate::errno::Errno;
use crate::fmt::Sink;

const OBJ: usize = 240;

/// The error's fields; reach them through `Error` (it derefs to this).
#[derive(Clone)]
pub struct ErrorInner {
    /// The step: `"mount overlay on"`, `"write"`, `"exec"`.
    pub op: &'static str,
    /// The kernel's answer; `Errno(0)` for errors that are not syscalls.
    pub errno: Errno,
    /// For errors that are not syscalls: what is wrong (`"no such container"`).
    pub detail: &'static str,
    obj: Obj,
}

#[cfg(not(feature = "alloc"))]
#[derive(Clone)]
struct Obj {
    len: u8,
    buf: [u8; OBJ],
}

#[cfg(not(feature = "alloc"))]
impl Obj {
    const EMPTY: Obj = Obj { len: 0, buf: [0; OBJ] };
    fn set(&mut self, obj: &[u8]) {
        let n = obj.len().min(OBJ);
        self.buf[..n].copy_from_slice(&obj[..n]);
        if obj.len() > OBJ {
            self.buf[OBJ - 3..].copy_from_slice(b"...");
        }
        self.len = n as u8;
    }
    fn get(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

#[cfg(feature = "alloc")]
#[derive(Clone)]
struct Obj(Option<alloc::boxed::Box<[u8]>>);

#[cfg(feature = "alloc")]
impl Obj {
    const EMPTY: Obj = Obj(None);
    fn set(&mut self, obj: &[u8]) {
        let n = obj.len().min(OBJ);
        let mut v = alloc::vec::Vec::from(&obj[..n]);
        if obj.len() > OBJ {
            v[OBJ - 3..].copy_from_slice(b"...");
        }
        self.0 = (!v.is_empty()).then(|| v.into_boxed_slice());
    }
    fn get(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(b"")
    }
}

#[cfg(feature = "alloc")]
#[derive(Clone)]
pub struct Error(alloc::boxed::Box<ErrorInner>);
#[cfg(not(feature = "alloc"))]
#[derive(Clone)]
pub struct Error(ErrorInner);

impl core::ops::Deref for Error {
    type Target = ErrorInner;
    fn deref(&self) -> &ErrorInner {
        &self.0
    }
}

impl core::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorInner {
        &mut self.0
    }
}

pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// A failed syscall: step, object, errno.
    // Cold and out of line: error paths are many and rare, and inlining the
    // 240-byte object copy at each of them costs kilobytes.
    #[cold]
    #[inline(never)]
    pub fn sys(op: &'static str, obj: &[u8], errno: Errno) -> Error {
        let mut e = ErrorInner { op, errno, detail: "", obj: Obj::EMPTY };
        e.set_obj(obj);
        #[cfg(feature = "alloc")]
        return Error(alloc::boxed::Box::new(e));
        #[cfg(not(feature = "alloc"))]
        return Error(e);
    }
    /// A failure that is not a syscall's: `husk: --memory 12x: bad size`.
    #[cold]
    #[inline(never)]
    pub fn msg(op: &'static str, obj: &[u8], detail: &'static str) -> Error {
        let mut e = Error::sys(op, obj, Errno(0));
        e.detail = detail;
        e
    }
}

impl ErrorInner {
    /// Replace the object, e.g. once the caller knows the full path.
    pub fn set_obj(&mut self, obj: &[u8]) {
        self.obj.set(obj);
    }
    pub fn obj(&self) -> &[u8] {
        self.obj.get()
    }
    /// Write `prog: op obj: ENAME (text)` without a newline.
    pub fn render(&self, prog: &str, out: &mut impl Sink) {
        out.s(prog).s(": ").s(self.op);
        if !self.obj().is_empty() {
            if !self.op.is_empty() {
                out.c(b' ');
            }
            out.b(self.obj());
        }
        out.s(": ");
        if self.errno.0 == 0 {
            out.s(self.detail);
            return;
        }
        match (self.errno.name(), self.errno.text()) {
            (Some(n), Some(t)) => out.s(n).s(" (").s(t).s(")"),
            _ => out.s("errno ").u(self.errno.0 as u64),
        };
        if !self.detail.is_empty() {
            out.s(": ").s(self.detail);
        }
    }
    /// Print the error as one line on stderr.
    pub fn print(&self, prog: &str) {
        let mut w = crate::fmt::stderr();
        self.render(prog, &mut w);
        w.c(b'\n');
    }
}

impl core::fmt::Debug for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut b = crate::path::CBuf::<512>::new();
        self.render("husk", &mut b);
        f.write_str(core::str::from_utf8(b.bytes()).unwrap_or("<error>"))
    }
}

/// Attach the step and the object to a raw syscall result.
pub trait Context<T> {
    fn at(self, op: &'static str, obj: &[u8]) -> Result<T>;
    fn ctx(self, op: &'static str) -> Result<T>;
}

impl<T> Context<T> for core::result::Result<T, Errno> {
    #[inline]
    fn at(self, op: &'static str, obj: &[u8]) -> Result<T> {
        self.map_err(|e| Error::sys(op, obj, e))
    }
    fn ctx(self, op: &'static str) -> Result<T> {
        self.map_err(|e| Error::sys(op, b"", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::CBuf;

    fn line(e: &Error) -> String {
        let mut b = CBuf::<600>::new();
        e.render("husk", &mut b);
        String::from_utf8(b.bytes().to_vec()).unwrap()
    }

    #[test]
    fn renders_step_object_and_errno() {
        let e: Result<()> = Err(Errno::EINVAL).at("mount overlay on", b"/run/husk/c1/root");
        assert_eq!(line(&e.unwrap_err()), "husk: mount overlay on /run/husk/c1/root: EINVAL (Invalid argument)");
    }

    #[test]
    fn renders_without_object_and_unknown_errno() {
        let e: Result<()> = Err(Errno(4000)).ctx("clone3");
        assert_eq!(line(&e.unwrap_err()), "husk: clone3: errno 4000");
    }

    #[test]
    fn renders_messages_and_cuts_long_objects() {
        assert_eq!(line(&Error::msg("--memory", b"12x", "bad size")), "husk: --memory 12x: bad size");
        let long = [b'a'; 300];
        let s = line(&Error::sys("open", &long, Errno::ENOENT));
        assert!(s.contains("aaa...: ENOENT"), "{s}");
        assert_eq!(s.len(), "husk: open ".len() + 240 + ": ENOENT (No such file or directory)".len());
    }
}
