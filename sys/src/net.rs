//! Sockets: socketpair for stage synchronisation (with SCM_RIGHTS fd
//! passing), and the interface-flag ioctls that bring loopback up.

use crate::errno::{Errno, SysResult};
use crate::fd::{Fd, OwnedFd};
use crate::macros::sc;

pub use libc::{AF_INET, AF_NETLINK, AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM};

/// `int socket(int domain, int type, int protocol)`
pub fn socket(domain: i32, ty: i32, proto: i32) -> SysResult<OwnedFd> {
    // SAFETY: no pointers.
    unsafe { sc!(socket, domain, ty, proto) }.map(|fd| OwnedFd::from_raw(fd as i32))
}

/// `int socketpair(int domain, int type, int protocol, int sv[2])`
pub fn socketpair(domain: i32, ty: i32) -> SysResult<(OwnedFd, OwnedFd)> {
    let mut sv = [0i32; 2];
    // SAFETY: sv has room for two ints.
    unsafe { sc!(socketpair, domain, ty, 0, sv.as_mut_ptr()) }?;
    Ok((OwnedFd::from_raw(sv[0]), OwnedFd::from_raw(sv[1])))
}

/// Space for one SCM_RIGHTS control message carrying one fd.
#[repr(C, align(8))]
struct Cmsg1 {
    len: usize,
    level: i32,
    ty: i32,
    fd: i32,
    _pad: i32,
}

/// `sendmsg(2)` of `data` with, optionally, one fd as SCM_RIGHTS.
pub fn send_with_fd(sock: Fd, data: &[u8], fd: Option<Fd>) -> SysResult<usize> {
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
    let mut cm = Cmsg1 { len: 20, level: libc::SOL_SOCKET, ty: libc::SCM_RIGHTS, fd: fd.map_or(-1, |f| f.0), _pad: 0 };
    // SAFETY: all-zero bytes are a valid msghdr.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if fd.is_some() {
        msg.msg_control = &mut cm as *mut Cmsg1 as *mut _;
        msg.msg_controllen = core::mem::size_of::<Cmsg1>();
    }
    // SAFETY: msg points at iov and cm, which outlive the call.
    unsafe { sc!(sendmsg, sock.0, &msg as *const libc::msghdr, libc::MSG_NOSIGNAL) }
}

/// `recvmsg(2)` into `buf`, accepting at most one fd as SCM_RIGHTS.
pub fn recv_with_fd(sock: Fd, buf: &mut [u8]) -> SysResult<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut _, iov_len: buf.len() };
    let mut cm = Cmsg1 { len: 0, level: 0, ty: 0, fd: -1, _pad: 0 };
    // SAFETY: all-zero bytes are a valid msghdr.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = &mut cm as *mut Cmsg1 as *mut _;
    msg.msg_controllen = core::mem::size_of::<Cmsg1>();
    // SAFETY: msg points at iov (over buf) and cm, which outlive the call.
    let n =
        crate::errno::retry(|| unsafe { sc!(recvmsg, sock.0, &mut msg as *mut libc::msghdr, libc::MSG_CMSG_CLOEXEC) })?;
    let fd = if msg.msg_controllen >= 20 && cm.level == libc::SOL_SOCKET && cm.ty == libc::SCM_RIGHTS && cm.fd >= 0 {
        Some(OwnedFd::from_raw(cm.fd))
    } else {
        None
    };
    Ok((n, fd))
}

/// Set IFF_UP on interface `name` (e.g. `lo`) with SIOCGIFFLAGS/SIOCSIFFLAGS.
pub fn set_link_up(name: &[u8]) -> SysResult<()> {
    if name.len() >= 16 {
        return Err(Errno::ENAMETOOLONG);
    }
    let sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)?;
    // struct ifreq: 16 bytes of name, then a union whose first short is ifr_flags.
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name);
    // SAFETY: ifr is a 40-byte struct ifreq.
    unsafe { sc!(ioctl, sock.raw(), libc::SIOCGIFFLAGS, ifr.as_mut_ptr()) }?;
    let flags = u16::from_ne_bytes([ifr[16], ifr[17]]) | libc::IFF_UP as u16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: as above.
    unsafe { sc!(ioctl, sock.raw(), libc::SIOCSIFFLAGS, ifr.as_ptr()) }.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fd_crosses_a_socketpair() {
        let (a, b) = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC).unwrap();
        let (r, w) = crate::fs::pipe2(crate::fs::O_CLOEXEC).unwrap();
        send_with_fd(a.fd(), b"fd", Some(w.fd())).unwrap();
        drop(w);
        let mut buf = [0u8; 8];
        let (n, got) = recv_with_fd(b.fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"fd");
        let got = got.expect("an fd");
        crate::fs::write_all(got.fd(), b"through").unwrap();
        drop(got);
        let mut out = [0u8; 16];
        let n = crate::fs::read(r.fd(), &mut out).unwrap();
        assert_eq!(&out[..n], b"through");
    }
}
