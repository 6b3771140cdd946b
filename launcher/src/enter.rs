//! `husk exec`: run another command inside a running container.
//!
//! Two processes, no long-lived husk inside the container:
//! - the caller (this process) opens the init's namespace fds and root,
//!   joins the container's cgroup, becomes non-dumpable and enters the
//!   namespaces. setns(CLONE_NEWPID) moves only its *children* into the
//!   container's pid namespace, so the caller itself never appears in the
//!   container's /proc: container root cannot reach the husk binary through
//!   /proc/PID/exe (CVE-2019-5736). It forks, forwards signals to the child
//!   and returns the child's exit status.
//! - the child (PID n in the container) takes the container's root, then
//!   becomes a container process the way PID 1 did (exec.rs: limits,
//!   credentials, capabilities, cwd check, fds 0-2) and executes COMMAND; it
//!   stays non-dumpable until that execve (CVE-2016-9962: a dumpable process
//!   in the container's namespaces could be ptraced by container root while
//!   it still holds host fds).
//!
//! Failures in the child come back over a close-on-exec pipe as a full
//! message: end of file means the execve succeeded.

use crate::caps::{self, CapPlan};
use crate::exec::{self, Process};
#[cfg(test)]
use crate::spec::Id;
use crate::spec::UserSpec;
use crate::state::{self, State, StateDir, Status};
use crate::sync::{self, Msg};
use crate::user::{self, Identity};
use alloc::vec::Vec;
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, O_CLOEXEC, O_DIRECTORY, O_RDONLY, O_RDWR};
use husk_sys::ns::{setns, KINDS};
use husk_sys::process::{self as proc, CStrVec, Exit};
use husk_sys::signal::{self as sig, SigSet};
use husk_sys::{CBuf, Context, Errno, Error, Fd, OwnedFd, Result, SysResult};

const USAGE: &str = "usage: husk exec [-d] [-u UID[:GID]] [-e KEY=VALUE]... [-w DIR] NAME COMMAND [ARG...]";

/// `husk exec` as parsed.
#[derive(Default)]
pub struct Exec<'a> {
    /// `--root`: the state root; empty for the default.
    pub root: &'a [u8],
    pub detach: bool,
    pub user: Option<UserSpec>,
    pub env: Vec<&'a [u8]>,
    pub workdir: Option<&'a [u8]>,
    pub name: &'a [u8],
    pub command: &'a [&'a [u8]],
}

/// Parse `husk exec` arguments: options, NAME, then COMMAND with its own
/// options untouched.
#[cfg(test)]
pub fn parse<'a>(args: &'a [&'a [u8]]) -> Result<Exec<'a>> {
    let mut x = Exec::default();
    parse_into(args, &mut x).map(|_| x)
}

/// `parse` into `x`, which starts as `Exec::default()`. Option syntax is
/// the lifecycle commands' (`-u 5`, `-u5`, `--user 5`, `--user=5`).
pub fn parse_into<'a>(args: &'a [&'a [u8]], x: &mut Exec<'a>) -> Result<()> {
    use crate::lifecycle::{next_opt, DETACH, ENV, ROOT, USER, WORKDIR};
    let mut i = 0;
    while let Some((opt, v)) = next_opt("exec", args, &mut i, DETACH | USER | ENV | WORKDIR | ROOT)? {
        let (short, bad) = match opt {
            DETACH => {
                x.detach = true;
                continue;
            }
            USER => match crate::cli::parse_user(v) {
                Some(u) => {
                    x.user = Some(u);
                    continue;
                }
                None => ("-u", "expected UID[:GID]"),
            },
            ENV if !v.contains(&b'=') || v.first() == Some(&b'=') => ("-e", "expected KEY=VALUE"),
            ENV => {
                x.env.push(v);
                continue;
            }
            WORKDIR if v.first() != Some(&b'/') => ("-w", "must be an absolute path"),
            WORKDIR => {
                x.workdir = Some(v);
                continue;
            }
            _ => {
                x.root = v;
                continue;
            }
        };
        return Err(Error::msg(short, v, bad));
    }
    match args.get(i..) {
        Some([name, command @ ..]) if !command.is_empty() => {
            x.name = name;
            x.command = command;
        }
        _ => return Err(Error::msg("exec", b"", USAGE)),
    }
    Ok(())
}

/// The container's environment with each `-e` replacing its KEY or added.
pub fn environment(base: &[Vec<u8>], extra: &[&[u8]], home: Option<&[u8]>) -> Vec<Vec<u8>> {
    let mut env = base.to_vec();
    if let Some(h) = home {
        exec::set_env(&mut env, &exec::pair("HOME=", h));
    }
    for kv in extra {
        exec::set_env(&mut env, kv);
    }
    env
}

/// `husk exec ...`: the exit status of COMMAND, 125 if husk failed, 126/127
/// if COMMAND could not be executed.
pub fn main(args: &[&[u8]]) -> i32 {
    let mut x = Exec::default();
    match parse_into(args, &mut x).and_then(|_| enter(&x)) {
        Ok(code) => code,
        Err(e) => {
            e.print("husk");
            125
        }
    }
}

/// The caller's side, step by step. Every namespace fd and the root of the
/// init are opened before any is entered; they are the init's only if it
/// is still the same process afterwards: a pid cannot come back once its
/// process is gone.
fn enter(x: &Exec) -> Result<i32> {
    let default;
    let root = match x.root {
        b"" => {
            default = state::default_root();
            &default
        }
        r => r,
    };
    let st = StateDir::open(root, x.name)?.read_settled()?;
    check_running(x, &st)?;
    let mut namespaces = Default::default();
    let root = open_init(st.pid, &mut namespaces)?;
    check_running(x, &st)?;
    join_container(&st, &namespaces)?;
    drop(namespaces);
    spawn_command(x, &st, root)
}

fn check_running(x: &Exec, st: &State) -> Result<()> {
    if st.status != Status::Running || !state::is_alive(st.pid, st.start_time) {
        return Err(Error::msg("exec", x.name, "container is not running"));
    }
    Ok(())
}

/// The namespaces of the init that differ from ours, in KINDS order, each
/// as an fd; returns its root.
fn open_init(pid: i32, fds: &mut [Option<OwnedFd>; 8]) -> Result<OwnedFd> {
    let mut p = CBuf::<64>::new();
    for i in 0..8 {
        p.clear();
        p.s("/proc/").u(pid as u64).s("/ns/").s(KINDS[i].0);
        fds[i] = open_namespace(&mut p, KINDS[i].0).at("open", p.bytes())?;
    }
    p.clear();
    p.s("/proc/").u(pid as u64).s("/root");
    let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    p.cstr().and_then(|c| fs::openat(Fd::CWD, c, flags, 0)).at("open", p.bytes())
}

/// The namespace at path `p`, unless it is ours: setns into our own user
/// namespace is EINVAL; into others, a no-op that may still need
/// privileges over the host's (rootless).
fn open_namespace(p: &mut CBuf<64>, kind: &str) -> SysResult<Option<OwnedFd>> {
    let fd = match fs::openat(Fd::CWD, p.cstr()?, O_RDONLY | O_CLOEXEC, 0) {
        // This kernel has no such namespace type.
        Err(Errno::ENOENT) => return Ok(None),
        r => r?,
    };
    let theirs = fs::fstat(fd.fd())?;
    let mut q = CBuf::<32>::new();
    q.s("/proc/self/ns/").s(kind);
    let ours = fs::fstatat(Fd::CWD, q.cstr()?, 0)?;
    Ok(((theirs.dev, theirs.ino) != (ours.dev, ours.ino)).then_some(fd))
}

/// The cgroup first (its files are the host's), then non-dumpable, then
/// the namespaces. KINDS lists user first: entering it gives the
/// capabilities that entering the namespaces it owns requires.
fn join_container(st: &State, namespaces: &[Option<OwnedFd>; 8]) -> Result<()> {
    crate::cgroup::join(&st.cgroup_paths, proc::getpid())?;
    proc::prctl(proc::PR_SET_DUMPABLE, 0, 0, 0, 0).ctx("prctl PR_SET_DUMPABLE")?;
    for i in 0..8 {
        if let Some(fd) = &namespaces[i] {
            setns(fd.fd(), KINDS[i].1).at("setns", KINDS[i].0.as_bytes())?;
        }
    }
    Ok(())
}

const fn bit(signo: i32) -> u64 {
    1 << (signo - 1)
}

/// Signals a user sends to husk exec meaning COMMAND, and SIGCHLD.
const FORWARDED: SigSet = SigSet(
    bit(sig::SIGHUP)
        | bit(sig::SIGINT)
        | bit(sig::SIGQUIT)
        | bit(sig::SIGTERM)
        | bit(sig::SIGUSR1)
        | bit(sig::SIGUSR2)
        | bit(sig::SIGWINCH)
        | bit(sig::SIGCHLD),
);

/// Fork the process that becomes COMMAND (the first in the container's pid
/// namespace), learn whether its execve worked, then wait for it unless
/// detached.
fn spawn_command(x: &Exec, st: &State, root: OwnedFd) -> Result<i32> {
    // The child's failure comes back as a sync.rs message; end of file (the
    // close-on-exec write end closed by execve) means it ran.
    let (report_r, report_w) = fs::pipe2(O_CLOEXEC).ctx("pipe")?;
    // Blocked before fork so none is lost; the child unblocks them before
    // execve.
    let old_mask = sig::rt_sigprocmask(sig::SIG_BLOCK, FORWARDED).ctx("sigprocmask")?;
    let child = proc::fork().ctx("fork")?;
    if child == 0 {
        let (code, e) = match run_child(x, st, root, old_mask) {
            Ok(failed) => failed,
            Err(e) => (125, e),
        };
        sync::send_error(report_w.fd(), code, &e);
        proc::exit(code);
    }
    drop(root);
    drop(report_w);
    if let Msg::Failed(code, line) = sync::recv(report_r.fd())? {
        husk_sys::fmt::stderr().b(&line).c(b'\n');
        let _ = proc::wait4(child, 0);
        return Ok(code);
    }
    if x.detach {
        // COMMAND runs on; the container's init reaps it when it ends.
        return Ok(0);
    }
    forward_signals(child, FORWARDED, true).ctx("wait4")
}

/// Wait for `child` (reaping any other child on the way), passing on to it
/// each signal of `set` but SIGCHLD; returns its status the way a shell
/// would (128+N for a signal). With `skip_kernel`, signals from the kernel
/// (SI_KERNEL: a terminal's) are not passed on: when the child shares our
/// process group they reach it directly, and forwarding them too would
/// deliver them twice. `set` must be blocked.
pub fn forward_signals(child: i32, set: SigSet, skip_kernel: bool) -> SysResult<i32> {
    const SI_KERNEL: i32 = 0x80;
    loop {
        match proc::wait4(-1, proc::WNOHANG) {
            Ok((pid, status)) if pid == child => match Exit::from_status(status) {
                Exit::Other => {}
                e => return Ok(e.shell_code()),
            },
            Ok((pid, _)) if pid > 0 => continue,
            Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        if let Ok(info) = sig::rt_sigtimedwait(set, None) {
            if info.signo != sig::SIGCHLD && !(skip_kernel && info.code == SI_KERNEL) {
                let _ = proc::kill(child, info.signo);
            }
        }
    }
}

/// The child's side, in the container's pid namespace: returns only on
/// failure, with the exit code.
fn run_child(x: &Exec, st: &State, root: OwnedFd, mask: SigSet) -> Result<(i32, Error)> {
    take_root(root)?;
    let id: Identity;
    let (mut uid, mut gid, mut groups, mut home) = (st.uid, st.gid, &st.groups[..], None);
    let mut caps = CapPlan {
        bounding: st.cap_bounding,
        permitted: st.cap_permitted,
        effective: st.cap_effective,
        // The kernel takes an ambient capability only if it is
        // permitted and inheritable.
        inheritable: st.cap_ambient,
        ambient: st.cap_ambient,
    };
    if let Some(u) = &x.user {
        id = lookup_user(u)?;
        // A non-root `-u` user gets no capabilities and root gets the
        // container's bounding set, as `husk run -u` would give them.
        caps = caps::plan(st.cap_bounding, 0, id.uid, 63);
        (uid, gid, groups, home) = (id.uid, id.gid, &id.groups, Some(&id.home[..]));
    }
    let env = environment(&st.env, &x.env, home);
    let mut argv = CStrVec::new();
    exec::cstrs(&mut argv, x.command, &[], "argv")?;
    let mut envp = CStrVec::new();
    exec::cstrs(&mut envp, &[], &env, "env")?;
    if x.detach {
        detach_stdio()?;
    }
    // The limits last: a low RLIMIT_NOFILE or RLIMIT_AS would fail the steps
    // above.
    for &(resource, soft, hard) in &st.rlimits {
        proc::setrlimit(resource, soft, hard).at("setrlimit", b"--rlimit")?;
    }
    let p = Process {
        rlimits: &[],
        no_new_privs: st.no_new_privs,
        uid,
        gid,
        groups,
        caps,
        workdir: match x.workdir {
            Some(w) => w,
            None if st.workdir.is_empty() => b"/",
            None => &st.workdir,
        },
        mask,
        sync: None,
        memfd: None,
        command: x.command.first().map_or(b"", |c| c),
        path: exec::path_of(&env),
        argv: argv.argv(),
        envp: envp.argv(),
    };
    Ok(exec::become_and_exec(&p))
}

/// Make the container's root ours: setns(CLONE_NEWNS) moved us to the root
/// of its mount namespace, which is not the container's root when it was
/// entered by chroot (initramfs hosts); /proc/PID/root, opened before
/// setns, is. The cwd is then the new root; the workdir is entered later.
fn take_root(root: OwnedFd) -> Result<()> {
    fs::fchdir(root.fd()).and_then(|_| fs::chroot(c".")).ctx("chroot into the container's root")
}

/// `-u` looked up in the container's /etc/passwd and /etc/group (we are
/// inside its root now).
fn lookup_user(spec: &UserSpec) -> Result<Identity> {
    let passwd = fs::read_to_vec(Fd::CWD, c"/etc/passwd").unwrap_or_default();
    let group = fs::read_to_vec(Fd::CWD, c"/etc/group").unwrap_or_default();
    user::identity(Some(spec), &passwd, &group)
}

/// `-d`: COMMAND must not hold the caller's terminal or pipes open, or a
/// caller reading them would wait for COMMAND to end.
fn detach_stdio() -> Result<()> {
    proc::setsid().ctx("setsid")?;
    let null = fs::openat(Fd::CWD, c"/dev/null", O_RDWR | O_CLOEXEC, 0).at("open", b"/dev/null")?;
    for n in 0..3 {
        husk_sys::fd::dup2(null.fd(), n).at("dup2", b"/dev/null")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&'static str]) -> Vec<&'static [u8]> {
        s.iter().map(|a| a.as_bytes()).collect()
    }

    #[test]
    fn options_stop_at_the_name_and_command_keeps_its_own() {
        let a =
            argv(&["-d", "-u", "1000:100", "-e", "A=1", "-eB=2", "-w", "/tmp", "--root=/r", "c1", "ls", "-l", "-u"]);
        let x = parse(&a).unwrap();
        assert!(x.detach);
        assert_eq!(x.user, Some(UserSpec { user: Id::Num(1000), group: Some(Id::Num(100)) }));
        assert_eq!(x.env, vec![&b"A=1"[..], b"B=2"]);
        assert_eq!((x.workdir, x.root, x.name), (Some(&b"/tmp"[..]), &b"/r"[..], &b"c1"[..]));
        assert_eq!(x.command, &argv(&["ls", "-l", "-u"])[..]);
        assert_eq!(parse(&argv(&["-u", "www", "c", "x"])).unwrap().user.unwrap().user, Id::Name(b"www".to_vec()));
    }

    #[test]
    fn bad_exec_arguments_are_one_line_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&["c1"], USAGE),
            (&[], USAGE),
            (&["-x", "c", "sh"], "husk: exec -x: unknown option"),
            (&["-e", "NOEQUALS", "c", "sh"], "husk: -e NOEQUALS: expected KEY=VALUE"),
            (&["-w", "rel", "c", "sh"], "husk: -w rel: must be an absolute path"),
            (&["-u", "1:2:3", "c", "sh"], "husk: -u 1:2:3: expected UID[:GID]"),
            (&["-u"], "husk: exec -u: needs a value"),
        ];
        for (args, want) in cases {
            let a = argv(args);
            let e = format!("{:?}", parse(&a).err().unwrap());
            assert!(e.ends_with(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn env_overrides_replace_keys_in_place() {
        let base = vec![b"PATH=/bin".to_vec(), b"HOME=/root".to_vec(), b"A=1".to_vec()];
        let env = environment(&base, &[b"A=2", b"B=3", b"PATHX=1"], Some(b"/home/u"));
        let s: Vec<&[u8]> = env.iter().map(|e| &e[..]).collect();
        assert_eq!(s, vec![&b"PATH=/bin"[..], b"HOME=/home/u", b"A=2", b"B=3", b"PATHX=1"]);
    }
}
