//! The socketpair protocol between the host stage and the container.
//!
//! A SOCK_SEQPACKET pair keeps message boundaries, and the container's end
//! is close-on-exec, so a successful execve is seen by the host as end of
//! file right after an `Exec` message. Errors travel as the full rendered
//! line, so the host prints exactly what the failing stage would have.
//!
//! | message | from | meaning |
//! |---|---|---|
//! | `G` | host | go on: cgroup joined, id maps written |
//! | `M` | container | namespaces joined and unshared: write my maps |
//! | `P<pid>` | container | the process that becomes PID 1 (join path) |
//! | `X` | container | about to execve |
//! | `E<code><line>` | container | failed: exit code and message |

use alloc::vec::Vec;
use husk_sys::fmt::{parse_u64, Sink};
use husk_sys::fs;
use husk_sys::net::{self, AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET};
use husk_sys::{CBuf, Context, Error, Fd, OwnedFd};

pub enum Msg {
    Go,
    WantMaps,
    Pid(i32),
    Exec,
    Failed(i32, Vec<u8>),
    /// The other end was closed: by execve, or by death.
    Eof,
}

/// (host end, container end), both close-on-exec.
pub fn pair() -> Result<(OwnedFd, OwnedFd), Error> {
    net::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC).ctx("socketpair")
}

pub fn send(sock: Fd, m: &Msg) -> Result<(), Error> {
    let mut b = CBuf::<600>::new();
    match m {
        Msg::Go => b.c(b'G'),
        Msg::WantMaps => b.c(b'M'),
        Msg::Pid(p) => b.c(b'P').u(*p as u64),
        Msg::Exec => b.c(b'X'),
        Msg::Failed(code, line) => b.c(b'E').c(*code as u8).b(line),
        Msg::Eof => return Ok(()),
    };
    fs::write(sock, b.bytes()).map(|_| ()).ctx("send to the host stage")
}

/// Send a failure: the error rendered as `husk: ...`.
pub fn send_error(sock: Fd, code: i32, e: &Error) {
    let mut line = Vec::new();
    e.render("husk", &mut line);
    let _ = send(sock, &Msg::Failed(code, line));
}

pub fn recv(sock: Fd) -> Result<Msg, Error> {
    let mut b = [0u8; 600];
    let n = fs::read(sock, &mut b).ctx("read from the container")?;
    let b = &b[..n];
    Ok(match b.first() {
        None => Msg::Eof,
        Some(b'G') => Msg::Go,
        Some(b'M') => Msg::WantMaps,
        Some(b'X') => Msg::Exec,
        Some(b'P') => Msg::Pid(parse_u64(&b[1..]).unwrap_or(0) as i32),
        Some(b'E') if n >= 2 => Msg::Failed(b[1] as i32, b[2..].to_vec()),
        _ => Msg::Failed(125, b"husk: read from the container: garbled message".to_vec()),
    })
}
