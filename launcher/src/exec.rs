//! The init stage: the container process becomes PID 1's program.
//!
//! Runs last in the container process, inside the new root, still root in
//! the container. husk-init is copied into a memfd, sealed, and executed
//! through the fd, so /proc/1/exe names no host file that container root
//! could open for writing (CVE-2019-5736: runc's own binary was overwritten
//! that way). `--no-init` executes COMMAND directly.
//!
//! `become_and_exec` is also how `husk exec` (enter.rs) turns its child
//! into a container process: one sequence of limits, credentials,
//! capabilities, cwd and fds for both, the differences passed as `Process`.

use crate::caps::CapPlan;
use crate::spec::{Rlimit, DEFAULT_PATH};
use crate::sync::{self, Msg};
use alloc::vec::Vec;
use husk_sys::caps::{ambient_clear_all, ambient_raise, bounding_drop, capset, CapSets};
use husk_sys::fd::{close_range, CLOSE_RANGE_CLOEXEC};
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, AT_EMPTY_PATH};
use husk_sys::mem::{
    self, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, MFD_ALLOW_SEALING, MFD_CLOEXEC, MFD_EXEC,
};
use husk_sys::process::{self as proc, execve, execveat, Argv, CStrVec};
use husk_sys::signal::{rt_sigprocmask, SigSet, SIG_SETMASK};
use husk_sys::{fd, CBuf, Context, Errno, Error, Fd, OwnedFd, SysResult};

/// Where PID 1's program comes from.
pub enum InitImage {
    /// The image built into husk, LZ-compressed at build time.
    Builtin(&'static [u8]),
    /// `--init PATH`, opened by the host stage.
    File(OwnedFd),
    /// `--no-init`.
    None,
}

/// Copy the init image into a sealed memfd. MFD_EXEC (6.3+) says the memfd
/// is meant to be executed, so a `vm.memfd_noexec=1` host does not refuse
/// it; older kernels reject the flag with EINVAL and need no such promise.
pub fn load_init(image: &InitImage) -> Result<Option<OwnedFd>, Error> {
    if let InitImage::None = image {
        return Ok(None);
    }
    let flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
    let memfd = match mem::memfd_create(c"husk-init", flags | MFD_EXEC) {
        Err(Errno::EINVAL) => mem::memfd_create(c"husk-init", flags),
        r => r,
    }
    .ctx("memfd_create husk-init")?;
    fill_and_seal(image, memfd.fd()).ctx("copy the init image")?;
    Ok(Some(memfd))
}

fn fill_and_seal(image: &InitImage, memfd: Fd) -> SysResult<()> {
    match image {
        InitImage::File(f) => {
            let mut buf = [0u8; 8192];
            loop {
                let n = fs::read(f.fd(), &mut buf)?;
                match buf.get(..n) {
                    Some(b @ [_, ..]) => fs::write_all(memfd, b)?,
                    _ => break,
                }
            }
        }
        // The built-in image is stored LZ-compressed (lz.rs); it is expanded
        // here, in the container process, so the waiting host never holds it.
        InitImage::Builtin(lz) => fs::write_all(memfd, &crate::lz::decompress(lz).ok_or(Errno::EINVAL)?)?,
        InitImage::None => {}
    }
    // F_SEAL_SEAL last: nobody, not even us, can undo the others.
    fd::fcntl_add_seals(memfd, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
}

/// The argv of PID 1: `husk-init -- COMMAND ARG...`, or COMMAND alone.
pub fn argv(command: &[Vec<u8>], with_init: bool) -> Result<CStrVec, Error> {
    let init: &[&[u8]] = if with_init { &[b"husk-init", b"--"] } else { &[] };
    let mut v = CStrVec::new();
    cstrs(&mut v, init, command, "argv")?;
    Ok(v)
}

/// Append `first`, then `rest` to an execve string array; `what` names it
/// in errors (a NUL byte inside a string).
pub fn cstrs(v: &mut CStrVec, first: &[&[u8]], rest: &[Vec<u8>], what: &'static str) -> Result<(), Error> {
    for a in first {
        v.push(a).at(what, a)?;
    }
    for a in rest {
        v.push(a).at(what, a)?;
    }
    Ok(())
}

/// `KEY=VALUE` from its two halves (`k` ends with `=`).
pub fn pair(k: &str, v: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    e.s(k).b(v);
    e
}

/// The environment: PATH, HOSTNAME, HOME, TERM (when stdin is a tty), then
/// each `-e KEY=VALUE`, later ones replacing earlier ones with the same KEY.
pub fn environment(hostname: &[u8], home: &[u8], term: Option<&[u8]>, extra: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut env = Vec::new();
    env.push(pair("PATH=", DEFAULT_PATH));
    env.push(pair("HOSTNAME=", hostname));
    env.push(pair("HOME=", home));
    if let Some(t) = term {
        env.push(pair("TERM=", t));
    }
    for kv in extra {
        set_env(&mut env, kv);
    }
    env
}

/// Set `KEY=VALUE` in `env`: in place of an entry with the same KEY, else
/// at the end.
pub fn set_env(env: &mut Vec<Vec<u8>>, kv: &[u8]) {
    let key = match kv.iter().position(|&b| b == b'=') {
        Some(n) => kv.split_at(n + 1).0,
        None => kv,
    };
    for e in env.iter_mut() {
        if e.starts_with(key) {
            e.clear();
            e.extend_from_slice(kv);
            return;
        }
    }
    env.push(kv.to_vec());
}

/// The PATH COMMAND is looked up in: the container's own.
pub fn path_of(env: &[Vec<u8>]) -> &[u8] {
    for e in env {
        if let Some(p) = e.strip_prefix(b"PATH=") {
            return p;
        }
    }
    DEFAULT_PATH
}

/// A container process as it must be at execve: the container's PID 1, or
/// a `husk exec` COMMAND.
pub struct Process<'a> {
    pub rlimits: &'a [Rlimit],
    pub no_new_privs: bool,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups; empty may also mean "setgroups is denied in
    /// this user namespace" (rootless), which then keeps the empty list the
    /// process was born with.
    pub groups: &'a [u32],
    pub caps: CapPlan,
    /// Absolute, inside the root.
    pub workdir: &'a [u8],
    /// The signal mask to restore before execve.
    pub mask: SigSet,
    /// The container stage tells the host stage it is about to execve.
    pub sync: Option<Fd>,
    /// husk-init's sealed memfd; else COMMAND is executed.
    pub memfd: Option<Fd>,
    /// COMMAND: a path, or a name looked up in `path` as execvp(3) does.
    pub command: &'a [u8],
    pub path: &'a [u8],
    pub argv: Argv<'a>,
    pub envp: Argv<'a>,
}

/// Become `p` and execve. Returns only on failure, with the exit code a
/// shell would use: 125 husk's own, 127 COMMAND not found, 126 not
/// executable.
pub fn become_and_exec(p: &Process) -> (i32, Error) {
    if let Err(e) = become_process(p) {
        return (125, e);
    }
    if let Some(m) = p.memfd {
        let e = execveat(m, c"", p.argv, p.envp, AT_EMPTY_PATH);
        return (125, Error::sys("execveat husk-init", b"", e));
    }
    let cmd = p.command;
    let slash = cmd.contains(&b'/');
    let mut err = Errno::ENOENT;
    // Split yields at least one (empty) directory: one try for a path.
    for dir in p.path.split(|&c| c == b':') {
        let mut c = CBuf::<4096>::new();
        if !slash {
            c.b(if dir.is_empty() { b"." } else { dir }).c(b'/');
        }
        c.b(cmd);
        let e = match c.cstr() {
            Ok(path) => execve(path, p.argv, p.envp),
            Err(e) => e,
        };
        if slash {
            err = e;
            break;
        }
        // As execvp: remember a file found but not runnable, keep looking.
        if err == Errno::ENOENT && e != Errno::ENOENT && e != Errno::ENOTDIR {
            err = e;
        }
    }
    let code = if err == Errno::ENOENT { 127 } else { 126 };
    (code, Error::sys("exec", cmd, err))
}

/// Everything but the execve, in an order each step allows.
fn become_process(p: &Process) -> Result<(), Error> {
    // Before dropping capabilities: raising a hard limit needs
    // CAP_SYS_RESOURCE.
    for r in p.rlimits {
        proc::setrlimit(r.resource, r.soft, r.hard).at("setrlimit", b"--rlimit")?;
    }
    if p.no_new_privs {
        proc::prctl(proc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0).ctx("prctl PR_SET_NO_NEW_PRIVS")?;
    }
    switch_user_and_capabilities(p)?;
    enter_workdir(p.workdir)?;
    // Only 0, 1 and 2 may reach COMMAND: anything else (the sync socket,
    // the init memfd, a report pipe, a fd the caller leaked) is marked
    // close-on-exec; a fd naming a host directory would let it escape its
    // root (CVE-2024-21626). The memfd still runs: execveat opens it before
    // the close-on-exec pass.
    close_range(3, u32::MAX, CLOSE_RANGE_CLOEXEC)
        .and_then(|_| rt_sigprocmask(SIG_SETMASK, p.mask))
        .ctx("close_range and restore the signal mask")?;
    if let Some(s) = p.sync {
        sync::send(s, &Msg::Exec)?;
    }
    Ok(())
}

/// Bounding set first (it needs CAP_SETPCAP, which the user may not keep),
/// then the ids with PR_SET_KEEPCAPS so setresuid does not empty the
/// permitted set (execve resets the flag), then the final sets. See caps.rs
/// for which set gets what.
fn switch_user_and_capabilities(p: &Process) -> Result<(), Error> {
    let c = &p.caps;
    limit_bounding(c.bounding).ctx("drop from the bounding set")?;
    match proc::setgroups(p.groups) {
        // After "setgroups deny" (rootless) the kernel refuses setgroups for
        // good; the process keeps the empty list it was born with.
        Err(Errno::EPERM) if p.groups.is_empty() => {}
        r => r.ctx("setgroups")?,
    }
    proc::setresgid(p.gid, p.gid, p.gid).map_err(|e| unmapped("setgid", p.gid, e))?;
    proc::setresuid(p.uid, p.uid, p.uid).map_err(|e| unmapped("setuid", p.uid, e))?;
    set_capabilities(c).ctx("set capabilities")
}

fn limit_bounding(bounding: u64) -> SysResult<()> {
    for cap in 0..64 {
        if bounding & (1 << cap) == 0 {
            match bounding_drop(cap) {
                // Past the kernel's last capability.
                Err(Errno::EINVAL) => break,
                r => r?,
            }
        }
    }
    proc::prctl(proc::PR_SET_KEEPCAPS, 1, 0, 0, 0).map(drop)
}

fn set_capabilities(c: &CapPlan) -> SysResult<()> {
    capset(CapSets { effective: c.effective, permitted: c.permitted, inheritable: c.inheritable })?;
    ambient_clear_all()?;
    for cap in 0..64 {
        if c.ambient & (1 << cap) != 0 {
            ambient_raise(cap)?;
        }
    }
    Ok(())
}

/// EINVAL from setresuid/setresgid in a user namespace: no mapping.
#[inline(never)]
fn unmapped(op: &'static str, id: u32, e: Errno) -> Error {
    let mut b = CBuf::<16>::new();
    b.u(id as u64);
    let mut err = Error::sys(op, b.bytes(), e);
    if e == Errno::EINVAL {
        err.detail = "the id is not mapped in the user namespace";
    }
    err
}

/// chdir, then make sure the cwd is inside the root: a workdir such as
/// /proc/self/fd/N naming a leaked host directory would leave it outside
/// (CVE-2024-21626), and the kernel then prefixes getcwd with "(unreachable)".
fn enter_workdir(w: &[u8]) -> Result<(), Error> {
    let mut p = CBuf::<4096>::from(w);
    p.cstr().and_then(fs::chdir).at("chdir", w)?;
    let mut buf = [0u8; 4096];
    let cwd = fs::getcwd(&mut buf).at("getcwd", w)?;
    if cwd.first() != Some(&b'/') {
        return Err(Error::msg("workdir", w, "is outside the container's root"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_has_defaults_and_overrides() {
        let env = environment(b"h1", b"/root", None, &[b"A=1".to_vec(), b"PATH=/x".to_vec(), b"A=2".to_vec()]);
        let s: Vec<&[u8]> = env.iter().map(|e| &e[..]).collect();
        assert_eq!(s, vec![&b"PATH=/x"[..], b"HOSTNAME=h1", b"HOME=/root", b"A=2"]);
        assert_eq!(path_of(&env), b"/x");
        let env = environment(b"h", b"/", Some(b"xterm"), &[]);
        assert_eq!(env.last().unwrap(), b"TERM=xterm");
    }

    #[test]
    fn argv_puts_init_first() {
        let v = argv(&[b"ls".to_vec(), b"-l".to_vec()], true).unwrap();
        assert_eq!(v.argv().get(0), Some(&b"husk-init"[..]));
        assert_eq!(v.argv().get(2), Some(&b"ls"[..]));
        assert_eq!(argv(&[b"ls".to_vec()], false).unwrap().len(), 1);
    }

    #[test]
    fn the_init_memfd_is_sealed() {
        let m = load_init(&InitImage::Builtin(Vec::leak(crate::lz::compress(b"\x7fELF...")))).unwrap().unwrap();
        let seals = fd::fcntl_get_seals(m.fd()).unwrap();
        assert_eq!(seals & (F_SEAL_WRITE | F_SEAL_SEAL), F_SEAL_WRITE | F_SEAL_SEAL);
        assert!(fs::write(m.fd(), b"x").is_err());
    }
}
