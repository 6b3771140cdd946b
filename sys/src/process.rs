//! Processes: clone/clone3/fork, execve/execveat, wait4, kill, process
//! groups, prctl, credentials, rlimits, tty job control, reboot.
//!
//! The clone wrappers have fork semantics (no new stack, no CLONE_VM): the
//! child returns 0 on its own copy of the address space. husk's binaries are
//! single-threaded, so no lock can be held by a thread that does not exist in
//! the child.

use crate::errno::{Errno, SysResult};
use crate::fd::{Fd, OwnedFd};
use crate::macros::sc;
use core::ffi::{c_char, CStr};
use core::marker::PhantomData;

/// A NULL-terminated array of C string pointers for execve: argv or envp.
#[derive(Clone, Copy)]
pub struct Argv<'a> {
    ptrs: &'a [*const c_char],
    _life: PhantomData<&'a CStr>,
}

impl<'a> Argv<'a> {
    /// The empty array `{ NULL }`.
    pub fn empty() -> Argv<'static> {
        static NULL: [usize; 1] = [0];
        Argv { ptrs: slice_of(&NULL), _life: PhantomData }
    }
    /// # Contract
    /// `ptrs` ends with a NULL and every other entry points at a
    /// NUL-terminated string that lives for `'a`. Only sys constructs these.
    #[cfg_attr(not(any(feature = "rt", feature = "alloc")), allow(dead_code))]
    pub(crate) fn from_ptrs(ptrs: &'a [*const c_char]) -> Argv<'a> {
        debug_assert!(ptrs.last().is_some_and(|p| p.is_null()));
        Argv { ptrs, _life: PhantomData }
    }
    /// Entries before the NULL.
    pub fn len(&self) -> usize {
        self.ptrs.len() - 1
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Entry `i` as bytes.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        if i >= self.len() {
            return None;
        }
        // SAFETY: by the constructor's contract, entry i is a live C string.
        Some(unsafe { CStr::from_ptr(self.ptrs[i]) }.to_bytes())
    }
    /// Entry `i` as a C string.
    pub fn cstr(&self, i: usize) -> Option<&'a CStr> {
        if i >= self.len() {
            return None;
        }
        // SAFETY: as in `get`.
        Some(unsafe { CStr::from_ptr(self.ptrs[i]) })
    }
    /// The array without its first `n` entries (still NULL-terminated).
    pub fn skip(&self, n: usize) -> Argv<'a> {
        Argv { ptrs: &self.ptrs[n.min(self.len())..], _life: PhantomData }
    }
    fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

fn slice_of(nulls: &'static [usize; 1]) -> &'static [*const c_char] {
    // SAFETY: usize and a raw pointer have the same size and alignment; 0 is NULL.
    unsafe { core::slice::from_raw_parts(nulls.as_ptr() as *const *const c_char, 1) }
}

/// Owned strings plus the pointer array execve wants.
#[cfg(feature = "alloc")]
pub struct CStrVec {
    strs: alloc::vec::Vec<alloc::ffi::CString>,
    ptrs: alloc::vec::Vec<*const c_char>,
}

#[cfg(feature = "alloc")]
impl Default for CStrVec {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "alloc")]
impl CStrVec {
    pub fn new() -> CStrVec {
        CStrVec { strs: alloc::vec::Vec::new(), ptrs: alloc::vec![core::ptr::null()] }
    }
    /// Append a string; EINVAL if it holds a NUL byte.
    pub fn push(&mut self, s: &[u8]) -> SysResult<()> {
        let c = alloc::ffi::CString::new(s).map_err(|_| Errno::EINVAL)?;
        // The CString's heap buffer does not move when the CString is moved.
        let p = c.as_ptr();
        self.strs.push(c);
        let last = self.ptrs.len() - 1;
        self.ptrs[last] = p;
        self.ptrs.push(core::ptr::null());
        Ok(())
    }
    pub fn argv(&self) -> Argv<'_> {
        Argv::from_ptrs(&self.ptrs)
    }
    pub fn len(&self) -> usize {
        self.strs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.strs.is_empty()
    }
}

/// `int execve(const char *path, char *const argv[], char *const envp[])`:
/// returns only on failure.
pub fn execve(path: &CStr, argv: Argv, envp: Argv) -> Errno {
    // SAFETY: path is NUL-terminated; argv and envp are NULL-terminated arrays of live C strings.
    match unsafe { sc!(execve, path.as_ptr(), argv.as_ptr(), envp.as_ptr()) } {
        Err(e) => e,
        Ok(_) => Errno::EINVAL,
    }
}

/// `int execveat(int dirfd, const char *path, argv, envp, int flags)`:
/// with `AT_EMPTY_PATH` and an empty path this executes the fd itself.
pub fn execveat(dir: Fd, path: &CStr, argv: Argv, envp: Argv, flags: i32) -> Errno {
    // SAFETY: as for execve.
    match unsafe { sc!(execveat, dir.0, path.as_ptr(), argv.as_ptr(), envp.as_ptr(), flags) } {
        Err(e) => e,
        Ok(_) => Errno::EINVAL,
    }
}

/// `void exit_group(int status)`
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group takes no pointers and does not return.
    let _ = unsafe { sc!(exit_group, code) };
    // exit_group does not return; the loop only satisfies the `!` type.
    loop {
        core::hint::spin_loop();
    }
}

/// `pid_t getpid(void)`
pub fn getpid() -> i32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { sc!(getpid) }.unwrap_or(0) as i32
}

/// `pid_t getppid(void)`
pub fn getppid() -> i32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { sc!(getppid) }.unwrap_or(0) as i32
}

/// `uid_t getuid(void)`
pub fn getuid() -> u32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { sc!(getuid) }.unwrap_or(0) as u32
}

/// `uid_t geteuid(void)`
pub fn geteuid() -> u32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { sc!(geteuid) }.unwrap_or(0) as u32
}

/// `gid_t getgid(void)`
pub fn getgid() -> u32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { sc!(getgid) }.unwrap_or(0) as u32
}

/// `gid_t getegid(void)`
pub fn getegid() -> u32 {
    // SAFETY: no arguments; cannot fail.
    unsafe { sc!(getegid) }.unwrap_or(0) as u32
}

/// `pid_t fork(void)`, as clone(SIGCHLD). 0 in the child.
pub fn fork() -> SysResult<i32> {
    clone(libc::SIGCHLD as u64)
}

/// `long clone(unsigned long flags, 0, NULL, NULL, 0)` with fork semantics:
/// `flags` may carry CLONE_NEW* and the exit signal in its low byte.
pub fn clone(flags: u64) -> SysResult<i32> {
    // SAFETY: no new stack and no CLONE_VM/CLONE_SETTLS/CLONE_*TID, so the
    // child continues on a private copy of our stack like after fork(2).
    unsafe { sc!(clone, flags, 0usize, 0usize, 0usize, 0usize) }.map(|p| p as i32)
}

/// `struct clone_args` of clone3(2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}
pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// `long clone3(struct clone_args *args, size_t size)` with fork semantics.
/// `cgroup`: a cgroup2 directory fd for CLONE_INTO_CGROUP. With CLONE_PIDFD
/// in `flags` the parent also gets a pidfd. Returns (pid, pidfd); pid is 0
/// in the child.
pub fn clone3(flags: u64, exit_signal: u64, cgroup: Option<Fd>) -> SysResult<(i32, Option<OwnedFd>)> {
    let mut pidfd: i32 = -1;
    let mut args = CloneArgs { flags, exit_signal, ..Default::default() };
    if flags & CLONE_PIDFD != 0 {
        args.pidfd = &mut pidfd as *mut i32 as u64;
    }
    if let Some(cg) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.0 as u64;
    }
    // SAFETY: args is valid for its size and pidfd outlives the call; stack 0
    // and no CLONE_VM give fork semantics as in `clone`.
    let pid = unsafe { sc!(clone3, &args as *const CloneArgs, core::mem::size_of::<CloneArgs>()) }?;
    let fd = if pid != 0 && pidfd >= 0 { Some(OwnedFd::from_raw(pidfd)) } else { None };
    Ok((pid as i32, fd))
}

/// `pid_t wait4(pid_t pid, int *status, int options, NULL)`: (pid, status).
pub fn wait4(pid: i32, options: i32) -> SysResult<(i32, i32)> {
    let mut status = 0i32;
    // SAFETY: status is a writable int; rusage is NULL.
    let r = unsafe { sc!(wait4, pid, &mut status as *mut i32, options, 0usize) }?;
    Ok((r as i32, status))
}
pub use libc::{__WALL as WALL, WNOHANG, WUNTRACED};

/// How a wait status ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    /// Stopped or continued: not an end.
    Other,
}

impl Exit {
    /// Decode a wait(2) status word.
    pub fn from_status(status: i32) -> Exit {
        let sig = status & 0x7f;
        if sig == 0 {
            Exit::Code((status >> 8) & 0xff)
        } else if sig != 0x7f && status & 0xffff != 0xffff {
            Exit::Signal(sig)
        } else {
            Exit::Other
        }
    }
    /// The shell's convention: the code, or 128 + the signal.
    pub fn shell_code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
            Exit::Other => 0,
        }
    }
}

/// `int kill(pid_t pid, int sig)`
pub fn kill(pid: i32, sig: i32) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(kill, pid, sig) }.map(|_| ())
}

/// `int pidfd_open(pid_t pid, unsigned flags)`
pub fn pidfd_open(pid: i32) -> SysResult<OwnedFd> {
    // SAFETY: no pointers.
    unsafe { sc!(pidfd_open, pid, 0) }.map(|fd| OwnedFd::from_raw(fd as i32))
}

/// `int pidfd_send_signal(int pidfd, int sig, NULL, 0)`
pub fn pidfd_send_signal(pidfd: Fd, sig: i32) -> SysResult<()> {
    // SAFETY: info is NULL.
    unsafe { sc!(pidfd_send_signal, pidfd.0, sig, 0usize, 0) }.map(|_| ())
}

/// `int setpgid(pid_t pid, pid_t pgid)`
pub fn setpgid(pid: i32, pgid: i32) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(setpgid, pid, pgid) }.map(|_| ())
}

/// `pid_t getpgid(pid_t pid)`
pub fn getpgid(pid: i32) -> SysResult<i32> {
    // SAFETY: no pointers.
    unsafe { sc!(getpgid, pid) }.map(|p| p as i32)
}

/// `pid_t setsid(void)`
pub fn setsid() -> SysResult<i32> {
    // SAFETY: no pointers.
    unsafe { sc!(setsid) }.map(|p| p as i32)
}

/// `tcsetpgrp(fd, pgid)`: ioctl(fd, TIOCSPGRP, &pgid).
pub fn tcsetpgrp(fd: Fd, pgid: i32) -> SysResult<()> {
    // SAFETY: TIOCSPGRP reads one pid_t from the pointer.
    unsafe { sc!(ioctl, fd.0, libc::TIOCSPGRP, &pgid as *const i32) }.map(|_| ())
}

/// `tcgetpgrp(fd)`: ioctl(fd, TIOCGPGRP, &pgid).
pub fn tcgetpgrp(fd: Fd) -> SysResult<i32> {
    let mut pgid = 0i32;
    // SAFETY: TIOCGPGRP writes one pid_t.
    unsafe { sc!(ioctl, fd.0, libc::TIOCGPGRP, &mut pgid as *mut i32) }?;
    Ok(pgid)
}

/// `ioctl(fd, TIOCSCTTY, force)`: make the tty our controlling terminal.
pub fn ioctl_tiocsctty(fd: Fd, force: i32) -> SysResult<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    unsafe { sc!(ioctl, fd.0, libc::TIOCSCTTY, force) }.map(|_| ())
}

/// isatty(3): TCGETS succeeds only on a terminal.
pub fn isatty(fd: Fd) -> bool {
    // SAFETY: all-zero bytes are a valid termios.
    let mut t: libc::termios = unsafe { core::mem::zeroed() };
    // SAFETY: TCGETS writes one struct termios.
    unsafe { sc!(ioctl, fd.0, libc::TCGETS, &mut t as *mut libc::termios) }.is_ok()
}

/// `int prctl(int option, unsigned long arg2, ...)` for options whose
/// arguments are all integers (not PR_SET_NAME, which has its own wrapper).
pub fn prctl(option: i32, a2: u64, a3: u64, a4: u64, a5: u64) -> SysResult<i64> {
    debug_assert!(option != libc::PR_SET_NAME && option != libc::PR_GET_NAME);
    // SAFETY: the options allowed here take integer arguments only.
    unsafe { sc!(prctl, option, a2, a3, a4, a5) }.map(|v| v as i64)
}
pub use libc::{
    PR_CAPBSET_DROP, PR_CAPBSET_READ, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAP_AMBIENT_RAISE,
    PR_GET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
};

/// `prctl(PR_SET_NAME, name)`: the name `ps` shows (16 bytes with the NUL).
pub fn set_name(name: &CStr) -> SysResult<()> {
    // SAFETY: the kernel reads at most 16 bytes of a NUL-terminated string.
    unsafe { sc!(prctl, libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) }.map(|_| ())
}

/// `int setresuid(uid_t r, uid_t e, uid_t s)`
pub fn setresuid(r: u32, e: u32, s: u32) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(setresuid, r, e, s) }.map(|_| ())
}

/// `int setresgid(gid_t r, gid_t e, gid_t s)`
pub fn setresgid(r: u32, e: u32, s: u32) -> SysResult<()> {
    // SAFETY: no pointers.
    unsafe { sc!(setresgid, r, e, s) }.map(|_| ())
}

/// `int setgroups(size_t size, const gid_t *list)`
pub fn setgroups(groups: &[u32]) -> SysResult<()> {
    // SAFETY: list is readable for size gids.
    unsafe { sc!(setgroups, groups.len(), groups.as_ptr()) }.map(|_| ())
}

/// `int prlimit64(0, int resource, const struct rlimit64 *new, NULL)`
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> SysResult<()> {
    let lim = libc::rlimit64 { rlim_cur: soft, rlim_max: hard };
    // SAFETY: new points at a valid rlimit64; old is NULL.
    unsafe { sc!(prlimit64, 0, resource, &lim as *const libc::rlimit64, 0usize) }.map(|_| ())
}

/// `int prlimit64(pid, resource, NULL, struct rlimit64 *old)`: (soft, hard).
pub fn getrlimit(pid: i32, resource: u32) -> SysResult<(u64, u64)> {
    let mut lim = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: old points at a writable rlimit64; new is NULL.
    unsafe { sc!(prlimit64, pid, resource, 0usize, &mut lim as *mut libc::rlimit64) }?;
    Ok((lim.rlim_cur, lim.rlim_max))
}
pub const RLIM_INFINITY: u64 = u64::MAX;

/// `ssize_t getrandom(void *buf, size_t len, unsigned flags)`
pub fn getrandom(buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: buf is writable for its length.
    unsafe { sc!(getrandom, buf.as_mut_ptr(), buf.len(), 0) }
}

/// `int reboot(MAGIC1, MAGIC2, int cmd, NULL)`: only returns on failure.
pub fn reboot(cmd: i32) -> Errno {
    // SAFETY: arg is NULL; the magics are the kernel's.
    match unsafe { sc!(reboot, libc::LINUX_REBOOT_MAGIC1, libc::LINUX_REBOOT_MAGIC2, cmd, 0usize) } {
        Err(e) => e,
        Ok(_) => Errno(0),
    }
}
pub use libc::{LINUX_REBOOT_CMD_HALT, LINUX_REBOOT_CMD_POWER_OFF, LINUX_REBOOT_CMD_RESTART};

/// Probe clone3 without creating a process: `clone3(&args, size)` with
/// arguments the kernel must refuse, returning its errno.
/// - `into_cgroup == false`: a size below `CLONE_ARGS_SIZE_VER0` (64). EINVAL
///   means clone3 exists (5.3+); ENOSYS means it does not, or a seccomp
///   filter hides it (as container runtimes do to make glibc fall back).
/// - `into_cgroup == true`: CLONE_INTO_CGROUP with fd INT_MAX, which no
///   process can have open (`fs.nr_open` is capped below it). EBADF means the
///   flag is understood (5.7+); EINVAL means the kernel does not know it.
pub fn clone3_probe(into_cgroup: bool) -> Errno {
    let args = CloneArgs {
        flags: if into_cgroup { CLONE_INTO_CGROUP } else { 0 },
        exit_signal: libc::SIGCHLD as u64,
        cgroup: i32::MAX as u64,
        ..Default::default()
    };
    let size = if into_cgroup { core::mem::size_of::<CloneArgs>() } else { 8 };
    // SAFETY: args is valid for `size` bytes. Should the kernel accept the
    // call after all, it has fork semantics (no CLONE_VM, no stack): the
    // child exits at once and the parent reaps it below.
    match unsafe { sc!(clone3, &args as *const CloneArgs, size) } {
        Err(e) => e,
        Ok(0) => exit(0),
        Ok(pid) => {
            let _ = wait4(pid as i32, 0);
            Errno(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_decodes_codes_and_signals() {
        assert_eq!(Exit::from_status(0), Exit::Code(0));
        assert_eq!(Exit::from_status(3 << 8), Exit::Code(3));
        assert_eq!(Exit::from_status(9), Exit::Signal(9));
        assert_eq!(Exit::from_status(9 | 0x80), Exit::Signal(9)); // core dumped
        assert_eq!(Exit::from_status(0x137f), Exit::Other); // stopped
        assert_eq!(Exit::Signal(15).shell_code(), 143);
    }

    #[test]
    fn fork_and_wait4_see_the_childs_exit_code() {
        match fork().unwrap() {
            0 => exit(42),
            pid => {
                let (p, st) = wait4(pid, 0).unwrap();
                assert_eq!(p, pid);
                assert_eq!(Exit::from_status(st), Exit::Code(42));
            }
        }
    }
}
