//! Signals: sets, masks, dispositions, signalfd, sigtimedwait and names.

use crate::errno::SysResult;
use crate::fd::{Fd, OwnedFd};
use crate::macros::sc;

/// The kernel's 64-bit signal set (signal N is bit N-1).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SigSet(pub u64);

impl SigSet {
    pub const EMPTY: SigSet = SigSet(0);
    pub const FULL: SigSet = SigSet(!0);
    pub fn with(self, sig: i32) -> SigSet {
        SigSet(self.0 | bit(sig))
    }
    pub fn without(self, sig: i32) -> SigSet {
        SigSet(self.0 & !bit(sig))
    }
    pub fn has(self, sig: i32) -> bool {
        self.0 & bit(sig) != 0
    }
}

fn bit(sig: i32) -> u64 {
    if (1..=64).contains(&sig) {
        1u64 << (sig - 1)
    } else {
        0
    }
}

pub use libc::{
    SIGABRT, SIGALRM, SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGHUP, SIGILL, SIGINT, SIGKILL, SIGPIPE, SIGQUIT, SIGSEGV,
    SIGSTOP, SIGSYS, SIGTERM, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH,
};
pub use libc::{SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK};
/// The kernel's SIGRTMIN; glibc reserves 32 and 33 and calls 34 SIGRTMIN,
/// so names are offered relative to 34 as users know them.
pub const SIGRTMIN: i32 = 34;
pub const SIGRTMAX: i32 = 64;

/// `int rt_sigprocmask(int how, const sigset_t *set, sigset_t *old, 8)`:
/// returns the previous mask.
pub fn rt_sigprocmask(how: i32, set: SigSet) -> SysResult<SigSet> {
    let mut old = 0u64;
    // SAFETY: set and old are 8-byte sigsets, the size passed.
    unsafe { sc!(rt_sigprocmask, how, &set.0 as *const u64, &mut old as *mut u64, 8) }?;
    Ok(SigSet(old))
}

/// What a signal does on arrival, as far as a process without handlers cares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Disposition {
    Default,
    Ignore,
    /// A handler function (only seen, never installed, by husk).
    Handler,
}

/// The kernel's `struct sigaction` (x86_64/aarch64 layout).
#[repr(C)]
struct KSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// `int rt_sigaction(int sig, const struct sigaction *act, struct sigaction *old, 8)`
/// limited to SIG_DFL and SIG_IGN, which need no handler trampoline.
/// Returns the previous disposition.
pub fn rt_sigaction(sig: i32, new: Option<Disposition>) -> SysResult<Disposition> {
    let act = KSigaction {
        handler: match new {
            Some(Disposition::Ignore) => 1, // SIG_IGN
            _ => 0,                         // SIG_DFL
        },
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let mut old = KSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    let act_ptr = if new.is_some() { &act as *const KSigaction as usize } else { 0 };
    // SAFETY: act (or NULL) and old are valid k_sigaction structs; no handler
    // address is installed, so no restorer is needed.
    unsafe { sc!(rt_sigaction, sig, act_ptr, &mut old as *mut KSigaction, 8) }?;
    Ok(match old.handler {
        0 => Disposition::Default,
        1 => Disposition::Ignore,
        _ => Disposition::Handler,
    })
}

/// `int signalfd4(int fd, const sigset_t *mask, 8, int flags)` (a new fd).
pub fn signalfd4(mask: SigSet, flags: i32) -> SysResult<OwnedFd> {
    // SAFETY: mask is an 8-byte sigset, the size passed.
    unsafe { sc!(signalfd4, -1i32, &mask.0 as *const u64, 8, flags) }.map(|fd| OwnedFd::from_raw(fd as i32))
}
pub use libc::{SFD_CLOEXEC, SFD_NONBLOCK};

/// The fields of a signal's siginfo that husk uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct SigInfo {
    pub signo: i32,
    pub code: i32,
    pub pid: i32,
    pub uid: u32,
    pub status: i32,
}

/// Read one `struct signalfd_siginfo` (128 bytes) from a signalfd.
pub fn read_signalfd(fd: Fd) -> SysResult<SigInfo> {
    let mut buf = [0u8; 128];
    let n = crate::fs::read(fd, &mut buf)?;
    if n < 128 {
        return Err(crate::Errno::EIO);
    }
    let word = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    // Offsets of ssi_signo, ssi_code, ssi_pid, ssi_uid and ssi_status in
    // include/uapi/linux/signalfd.h.
    Ok(SigInfo {
        signo: word(0) as i32,
        code: word(8) as i32,
        pid: word(12) as i32,
        uid: word(16),
        status: word(48) as i32,
    })
}

/// `int rt_sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t, 8)`:
/// wait for a signal in `set` (which must be blocked) for at most
/// `timeout_ns`, or forever with `None`. EAGAIN on timeout.
pub fn rt_sigtimedwait(set: SigSet, timeout_ns: Option<u64>) -> SysResult<SigInfo> {
    let mut info = [0u8; 128];
    let ts = timeout_ns
        .map(|ns| libc::timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 });
    let ts_ptr = match &ts {
        Some(t) => t as *const libc::timespec as usize,
        None => 0,
    };
    // SAFETY: set is an 8-byte sigset; info is a 128-byte siginfo_t buffer;
    // ts is NULL or a valid timespec.
    let sig = unsafe { sc!(rt_sigtimedwait, &set.0 as *const u64, info.as_mut_ptr(), ts_ptr, 8) }?;
    let word = |i: usize| i32::from_ne_bytes([info[i], info[i + 1], info[i + 2], info[i + 3]]);
    // siginfo_t: si_signo@0, si_errno@4, si_code@8, then the union at 16:
    // si_pid@16, si_uid@20, si_status@24 for SIGCHLD.
    Ok(SigInfo { signo: sig as i32, code: word(8), pid: word(16), uid: word(20) as u32, status: word(24) })
}

/// Signal names 1..=31 without `SIG`, space-separated: one string instead
/// of a table of string pointers.
const NAMES: &str = "HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD \
CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS";

/// Parse `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+3` or `SIGRTMAX-1`.
pub fn parse_signal(s: &[u8]) -> Option<i32> {
    if let Some(n) = crate::fmt::parse_u64(s) {
        return if (1..=64).contains(&n) { Some(n as i32) } else { None };
    }
    let mut up = [0u8; 16];
    if s.len() > up.len() {
        return None;
    }
    for (d, c) in up.iter_mut().zip(s) {
        *d = c.to_ascii_uppercase();
    }
    let mut name = &up[..s.len()];
    if name.starts_with(b"SIG") {
        name = &name[3..];
    }
    if let Some(i) = NAMES.split(' ').position(|n| n.as_bytes() == name) {
        return Some(i as i32 + 1);
    }
    let (base, rest) = if let Some(r) = name.strip_prefix(b"RTMIN") {
        (SIGRTMIN, r)
    } else if let Some(r) = name.strip_prefix(b"RTMAX") {
        (SIGRTMAX, r)
    } else {
        return None;
    };
    let sig = match rest {
        [] => base,
        [b'+', n @ ..] => base + crate::fmt::parse_u64(n)? as i32,
        [b'-', n @ ..] => base - crate::fmt::parse_u64(n)? as i32,
        _ => return None,
    };
    if (SIGRTMIN..=SIGRTMAX).contains(&sig) {
        Some(sig)
    } else {
        None
    }
}

/// The name without `SIG` (`"TERM"`), or `None` for real-time signals.
pub fn signal_name(sig: i32) -> Option<&'static str> {
    if sig < 1 {
        return None;
    }
    NAMES.split(' ').nth((sig - 1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_parse_every_spelling() {
        assert_eq!(parse_signal(b"TERM"), Some(15));
        assert_eq!(parse_signal(b"sigusr1"), Some(10));
        assert_eq!(parse_signal(b"10"), Some(10));
        assert_eq!(parse_signal(b"RTMIN+3"), Some(37));
        assert_eq!(parse_signal(b"SIGRTMAX-1"), Some(63));
        assert_eq!(parse_signal(b"RTMAX+1"), None);
        assert_eq!(parse_signal(b"FOO"), None);
        assert_eq!(parse_signal(b"0"), None);
        assert_eq!(parse_signal(b"65"), None);
        assert_eq!(signal_name(9), Some("KILL"));
        assert_eq!(signal_name(31), Some("SYS"));
        assert_eq!(signal_name(34), None);
    }

    #[test]
    fn sigset_bits_follow_the_kernel_layout() {
        let s = SigSet::EMPTY.with(1).with(64);
        assert_eq!(s.0, 1 | (1 << 63));
        assert!(s.has(64) && !s.has(2));
        assert_eq!(s.without(1).0, 1 << 63);
    }

    #[test]
    fn sigtimedwait_times_out_with_eagain() {
        let old = rt_sigprocmask(SIG_BLOCK, SigSet::EMPTY.with(SIGUSR2)).unwrap();
        let r = rt_sigtimedwait(SigSet::EMPTY.with(SIGUSR2), Some(1_000_000));
        assert_eq!(r.unwrap_err(), crate::Errno::EAGAIN);
        rt_sigprocmask(SIG_SETMASK, old).unwrap();
    }
}
