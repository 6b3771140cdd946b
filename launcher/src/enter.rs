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
//! - the child (PID n in the container) takes the container's root, limits,
//!   credentials and capabilities, and executes COMMAND; it stays
//!   non-dumpable until that execve (CVE-2016-9962: a dumpable process in
//!   the container's namespaces could be ptraced by container root while it
//!   still holds host fds).
//!
//! Failures in the child come back over a close-on-exec pipe as a full
//! message: end of file means the execve succeeded.

use crate::spec::{Id, UserSpec, DEFAULT_PATH};
use crate::state::{self, State, StateDir, Status};
use crate::user::Identity;
use alloc::vec::Vec;
use husk_sys::fd::{close_range, OwnedFd, CLOSE_RANGE_CLOEXEC};
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, O_CLOEXEC, O_DIRECTORY, O_RDONLY, O_RDWR};
use husk_sys::ns::{setns, CLONE_NEWUSER, KINDS};
use husk_sys::process::{self as proc, execve, CStrVec, Exit};
use husk_sys::signal::{self as sig, SigSet};
use husk_sys::{caps, CBuf, Context, Errno, Error, Fd, Result};

const USAGE: &str =
    "usage: husk exec [-d] [-u UID[:GID]] [-e KEY=VALUE]... [-w DIR] NAME COMMAND [ARG...]";

/// `husk exec` as parsed.
#[derive(Debug, Default, PartialEq)]
pub struct Exec<'a> {
    /// `--root`: the state root.
    pub root: Vec<u8>,
    pub detach: bool,
    pub user: Option<UserSpec>,
    pub env: Vec<&'a [u8]>,
    pub workdir: Option<&'a [u8]>,
    pub name: &'a [u8],
    pub command: &'a [&'a [u8]],
}

/// Parse `husk exec` arguments: options, NAME, then COMMAND with its own
/// options untouched.
pub fn parse<'a>(args: &'a [&'a [u8]]) -> Result<Exec<'a>> {
    let mut x = Exec::default();
    let mut root = None;
    let mut i = 0;
    while i < args.len() && args[i].len() > 1 && args[i][0] == b'-' {
        let a = args[i];
        if a == b"--" {
            i += 1;
            break;
        }
        if a == b"-d" || a == b"--detach" {
            x.detach = true;
            i += 1;
            continue;
        }
        // `-u 5`, `-u5`, `--user 5`, `--user=5`.
        let (opt, inline): (&[u8], Option<&'a [u8]>) = match a {
            [b'-', b'-', ..] => match a.iter().position(|&c| c == b'=') {
                Some(e) => (&a[..e], Some(&a[e + 1..])),
                None => (a, None),
            },
            _ if a.len() > 2 => (&a[..2], Some(&a[2..])),
            _ => (a, None),
        };
        if !matches!(
            opt,
            b"-u" | b"--user" | b"-e" | b"--env" | b"-w" | b"--workdir" | b"--root"
        ) {
            return Err(Error::msg("exec", a, "unknown option"));
        }
        let v = match inline {
            Some(v) => v,
            None => {
                i += 1;
                *args
                    .get(i)
                    .ok_or_else(|| Error::msg("exec", a, "needs a value"))?
            }
        };
        match opt {
            b"-u" | b"--user" => {
                x.user =
                    Some(parse_user(v).ok_or_else(|| Error::msg("-u", v, "expected UID[:GID]"))?)
            }
            b"-e" | b"--env" => {
                if !v.contains(&b'=') || v[0] == b'=' {
                    return Err(Error::msg("-e", v, "expected KEY=VALUE"));
                }
                x.env.push(v);
            }
            b"-w" | b"--workdir" => {
                if v.first() != Some(&b'/') {
                    return Err(Error::msg("-w", v, "must be an absolute path"));
                }
                x.workdir = Some(v);
            }
            _ => root = Some(v),
        }
        i += 1;
    }
    let [name, command @ ..] = &args[i..] else {
        return Err(Error::msg("exec", b"", USAGE));
    };
    if command.is_empty() {
        return Err(Error::msg("exec", b"", USAGE));
    }
    x.name = name;
    x.command = command;
    x.root = root.map_or_else(state::default_root, <[u8]>::to_vec);
    Ok(x)
}

/// `UID[:GID]`, each a number or a name (looked up in the container).
fn parse_user(v: &[u8]) -> Option<UserSpec> {
    let id = |s: &[u8]| -> Option<Id> {
        if s.is_empty() || s.contains(&b':') {
            return None;
        }
        Some(
            husk_sys::fmt::parse_u64(s)
                .and_then(|n| u32::try_from(n).ok())
                .map_or_else(|| Id::Name(s.to_vec()), Id::Num),
        )
    };
    match v.iter().position(|&c| c == b':') {
        None => Some(UserSpec {
            user: id(v)?,
            group: None,
        }),
        Some(c) => Some(UserSpec {
            user: id(&v[..c])?,
            group: Some(id(&v[c + 1..])?),
        }),
    }
}

/// The container's environment with each `-e` replacing its KEY or added.
pub fn environment(base: &[Vec<u8>], extra: &[&[u8]], home: Option<&[u8]>) -> Vec<Vec<u8>> {
    let mut env = base.to_vec();
    let mut set = |kv: Vec<u8>| {
        let key = kv.iter().position(|&b| b == b'=').unwrap_or(kv.len()) + 1;
        match env
            .iter_mut()
            .find(|e| e.len() >= key && e[..key] == kv[..key])
        {
            Some(e) => *e = kv,
            None => env.push(kv),
        }
    };
    if let Some(h) = home {
        set([b"HOME=", h].concat());
    }
    for kv in extra {
        set(kv.to_vec());
    }
    env
}

/// The namespaces of the init that differ from ours, in the order to enter
/// them, each as an fd opened before any is entered.
fn open_namespaces(pid: i32) -> Result<Vec<(i32, OwnedFd)>> {
    let mut out = Vec::new();
    // User first: entering it gives the capabilities that entering the
    // namespaces it owns requires.
    let user_first = KINDS
        .iter()
        .filter(|k| k.1 == CLONE_NEWUSER)
        .chain(KINDS.iter().filter(|k| k.1 != CLONE_NEWUSER));
    for &(kind, flag) in user_first {
        let mut p = CBuf::<64>::new();
        p.s("/proc/").u(pid as u64).s("/ns/").s(kind);
        let fd = match fs::openat(Fd::CWD, p.cstr().ctx("path")?, O_RDONLY | O_CLOEXEC, 0) {
            // This kernel has no such namespace type.
            Err(Errno::ENOENT) => continue,
            r => r.at("open", p.bytes())?,
        };
        let mut me = CBuf::<64>::new();
        me.s("/proc/self/ns/").s(kind);
        let theirs = fs::fstat(fd.fd()).at("stat", p.bytes())?;
        let ours = fs::fstatat(Fd::CWD, me.cstr().ctx("path")?, 0).at("stat", me.bytes())?;
        // setns into our own user namespace is EINVAL; into others, a no-op.
        if (theirs.dev, theirs.ino) != (ours.dev, ours.ino) {
            out.push((flag, fd));
        }
    }
    Ok(out)
}

/// `husk exec ...`: the exit status of COMMAND, 125 if husk failed, 126/127
/// if COMMAND could not be executed.
pub fn main(args: &[&[u8]]) -> i32 {
    let x = match parse(args) {
        Ok(x) => x,
        Err(e) => {
            e.print("husk");
            return 125;
        }
    };
    match enter(&x) {
        Ok(code) => code,
        Err((code, e)) => {
            e.print("husk");
            code
        }
    }
}

type Fail = (i32, Error);

fn husk_failed(e: Error) -> Fail {
    (125, e)
}

/// The caller's side, step by step.
fn enter(x: &Exec) -> core::result::Result<i32, Fail> {
    let st = read_running(x).map_err(husk_failed)?;
    let (namespaces, root) = open_container(x, &st).map_err(husk_failed)?;
    join_container(&st, namespaces).map_err(husk_failed)?;
    spawn_command(x, &st, root)
}

fn not_running(name: &[u8]) -> Error {
    Error::msg("exec", name, "container is not running")
}

/// The container's state, if its init is alive (pid and start time).
fn read_running(x: &Exec) -> Result<State> {
    let st = StateDir::open(&x.root, x.name)?.read_settled()?;
    if st.status != Status::Running || !state::is_alive(st.pid, st.start_time) {
        return Err(not_running(x.name));
    }
    Ok(st)
}

/// Every namespace fd and the root of the init, opened before any is
/// entered. They are the init's only if it is still the same process
/// afterwards: a pid cannot come back once its process is gone.
fn open_container(x: &Exec, st: &State) -> Result<(Vec<(i32, OwnedFd)>, OwnedFd)> {
    let namespaces = open_namespaces(st.pid)?;
    let root = open_root(st.pid)?;
    if !state::is_alive(st.pid, st.start_time) {
        return Err(not_running(x.name));
    }
    Ok((namespaces, root))
}

/// The cgroup first (its files are the host's), then non-dumpable, then
/// the namespaces, user first.
fn join_container(st: &State, namespaces: Vec<(i32, OwnedFd)>) -> Result<()> {
    crate::cgroup::join(&st.cgroup_paths, proc::getpid())?;
    proc::prctl(proc::PR_SET_DUMPABLE, 0, 0, 0, 0).ctx("prctl PR_SET_DUMPABLE")?;
    for (flag, fd) in &namespaces {
        let kind = KINDS.iter().find(|k| k.1 == *flag).map_or("", |k| k.0);
        setns(fd.fd(), *flag).at("setns", kind.as_bytes())?;
    }
    Ok(())
}

/// Fork the process that becomes COMMAND (the first in the container's pid
/// namespace), learn whether its execve worked, then wait for it unless
/// detached.
fn spawn_command(x: &Exec, st: &State, root: OwnedFd) -> core::result::Result<i32, Fail> {
    let (report_r, report_w) = fs::pipe2(O_CLOEXEC).ctx("pipe").map_err(husk_failed)?;
    // Blocked before fork so none is lost; the child unblocks before execve.
    let forwarded = forwarded_signals();
    let old_mask = sig::rt_sigprocmask(sig::SIG_BLOCK, forwarded)
        .ctx("sigprocmask")
        .map_err(husk_failed)?;
    let child = proc::fork().ctx("fork").map_err(husk_failed)?;
    if child == 0 {
        drop(report_r);
        let (code, e) = run_child(x, st, root, old_mask);
        let mut line = Vec::new();
        line.push(code as u8);
        e.render("husk", &mut line);
        let _ = fs::write_all(report_w.fd(), &line);
        proc::exit(code);
    }
    drop(root);
    drop(report_w);
    // EOF: the execve succeeded. Otherwise: the child's code and message.
    let mut buf = [0u8; 600];
    let n = fs::read_full(report_r.fd(), &mut buf).unwrap_or(0);
    if n > 0 {
        let _ = fs::write_all(Fd::STDERR, &buf[1..n]);
        let _ = fs::write_all(Fd::STDERR, b"\n");
        let _ = proc::wait4(child, 0);
        return Ok(buf[0] as i32);
    }
    if x.detach {
        // COMMAND runs on; the container's init reaps it when it ends.
        return Ok(0);
    }
    Ok(wait_forwarding(child, forwarded))
}

fn open_root(pid: i32) -> Result<OwnedFd> {
    let mut p = CBuf::<64>::new();
    p.s("/proc/").u(pid as u64).s("/root");
    fs::openat(
        Fd::CWD,
        p.cstr().ctx("path")?,
        O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        0,
    )
    .at("open", p.bytes())
}

/// Signals a user sends to husk exec meaning COMMAND.
fn forwarded_signals() -> SigSet {
    [
        sig::SIGHUP,
        sig::SIGINT,
        sig::SIGQUIT,
        sig::SIGTERM,
        sig::SIGUSR1,
        sig::SIGUSR2,
        sig::SIGWINCH,
        sig::SIGCHLD,
    ]
    .iter()
    .fold(SigSet::EMPTY, |s, &n| s.with(n))
}

/// Wait for COMMAND, passing on the signals sent to us by other processes.
/// A terminal's signals (SI_KERNEL) reach COMMAND directly, as it shares our
/// process group: forwarding them too would deliver them twice.
fn wait_forwarding(child: i32, set: SigSet) -> i32 {
    const SI_KERNEL: i32 = 0x80;
    loop {
        if let Ok((pid, status)) = proc::wait4(child, proc::WNOHANG) {
            if pid == child {
                match Exit::from_status(status) {
                    Exit::Other => {}
                    e => return e.shell_code(),
                }
            }
        } else {
            return 125;
        }
        match sig::rt_sigtimedwait(set, None) {
            Ok(info) if info.signo != sig::SIGCHLD && info.code != SI_KERNEL => {
                let _ = proc::kill(child, info.signo);
            }
            _ => {}
        }
    }
}

/// The child's side, in the container's pid namespace: returns only on
/// failure, with the exit code.
fn run_child(x: &Exec, st: &State, root: OwnedFd, mask: SigSet) -> Fail {
    let r = (|| -> core::result::Result<(), Fail> {
        take_root(root).map_err(husk_failed)?;
        let id = identity(x, st).map_err(husk_failed)?;
        let home = x.user.as_ref().map(|_| &id.home[..]);
        let env = environment(&st.env, &x.env, home);
        for &(res, soft, hard) in &st.rlimits {
            let mut n = CBuf::<16>::new();
            n.u(res as u64);
            proc::setrlimit(res, soft, hard)
                .at("setrlimit", n.bytes())
                .map_err(husk_failed)?;
        }
        set_credentials(st, &id, x.user.is_some()).map_err(husk_failed)?;
        if st.no_new_privs {
            proc::prctl(proc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
                .ctx("prctl PR_SET_NO_NEW_PRIVS")
                .map_err(husk_failed)?;
        }
        // No fd of ours may survive into COMMAND: one naming a host
        // directory would let it escape its root (CVE-2024-21626). The
        // report pipe is one of them; it closes at execve.
        close_range(3, u32::MAX, CLOSE_RANGE_CLOEXEC)
            .ctx("close_range")
            .map_err(husk_failed)?;
        let wd = x.workdir.unwrap_or(if st.workdir.is_empty() {
            b"/"
        } else {
            &st.workdir
        });
        enter_workdir(wd).map_err(husk_failed)?;
        if x.detach {
            detach_stdio().map_err(husk_failed)?;
        }
        sig::rt_sigprocmask(sig::SIG_SETMASK, mask)
            .ctx("sigprocmask")
            .map_err(husk_failed)?;
        Err(exec_command(x.command, &env))
    })();
    match r {
        Err(f) => f,
        Ok(()) => (125, Error::msg("exec", b"", "returned")),
    }
}

/// Make the container's root ours: setns(CLONE_NEWNS) moved us to the root
/// of its mount namespace, which is not the container's root when it was
/// entered by chroot (initramfs hosts); /proc/PID/root, opened before
/// setns, is.
fn take_root(root: OwnedFd) -> Result<()> {
    fs::fchdir(root.fd()).ctx("fchdir to the container's root")?;
    fs::chroot(c".").ctx("chroot into the container's root")?;
    fs::chdir(c"/").ctx("chdir /")
}

/// uid, gid, groups and HOME: the container's, or `-u` looked up in the
/// container's /etc/passwd and /etc/group (we are inside its root now).
fn identity(x: &Exec, st: &State) -> Result<Identity> {
    let Some(spec) = &x.user else {
        return Ok(Identity {
            uid: st.uid,
            gid: st.gid,
            groups: st.groups.clone(),
            home: Vec::new(),
        });
    };
    let passwd = fs::read_to_vec(Fd::CWD, c"/etc/passwd").unwrap_or_default();
    let group = fs::read_to_vec(Fd::CWD, c"/etc/group").unwrap_or_default();
    let mut shown = Vec::new();
    match &spec.user {
        Id::Num(n) => shown.u(*n as u64),
        Id::Name(n) => shown.b(n),
    };
    crate::user::resolve(Some(spec), &passwd, &group).map_err(|why| Error::msg("-u", &shown, why))
}

/// Bounding set, then ids (keeping capabilities across setuid), then the
/// container's capability sets. With `-u`, a non-root user gets no
/// capabilities and root gets the container's bounding set, as `husk run`
/// would give them.
fn set_credentials(st: &State, id: &Identity, user_given: bool) -> Result<()> {
    let (uid, gid, groups) = (id.uid, id.gid, &id.groups[..]);
    let last = caps::last_cap();
    for cap in 0..=last {
        if st.cap_bounding & (1 << cap) == 0 {
            caps::bounding_drop(cap).at(
                "drop capability",
                caps::NAMES.get(cap as usize).unwrap_or(&"?").as_bytes(),
            )?;
        }
    }
    let (mut perm, mut eff, mut amb) = (st.cap_permitted, st.cap_effective, st.cap_ambient);
    if user_given {
        (perm, eff, amb) = if uid == 0 {
            (st.cap_bounding, st.cap_bounding, 0)
        } else {
            (0, 0, 0)
        };
    }
    proc::prctl(proc::PR_SET_KEEPCAPS, 1, 0, 0, 0).ctx("prctl PR_SET_KEEPCAPS")?;
    match proc::setgroups(groups) {
        // A user namespace with setgroups denied (rootless): nothing to drop.
        Err(Errno::EPERM) if groups.is_empty() => {}
        r => r.ctx("setgroups")?,
    }
    proc::setresgid(gid, gid, gid).map_err(|e| unmapped("setgid", gid, e))?;
    proc::setresuid(uid, uid, uid).map_err(|e| unmapped("setuid", uid, e))?;
    // The kernel takes an ambient capability only if it is permitted and
    // inheritable, so inheritable holds exactly the ambient ones.
    caps::capset(caps::CapSets {
        effective: eff,
        permitted: perm,
        inheritable: amb,
    })
    .ctx("capset")?;
    caps::ambient_clear_all().ctx("clear ambient capabilities")?;
    for cap in (0..64).filter(|c| amb & (1 << c) != 0) {
        caps::ambient_raise(cap).at(
            "raise ambient capability",
            caps::NAMES.get(cap as usize).unwrap_or(&"?").as_bytes(),
        )?;
    }
    Ok(())
}

/// EINVAL from setresuid/setresgid in a user namespace: no mapping.
fn unmapped(op: &'static str, id: u32, e: Errno) -> Error {
    let mut b = CBuf::<16>::new();
    b.u(id as u64);
    let mut err = Error::sys(op, b.bytes(), e);
    if e == Errno::EINVAL {
        err.detail = "the id is not mapped in the container's user namespace";
    }
    err
}

/// chdir to DIR inside the root, and check the result is inside it: the
/// kernel prefixes `(unreachable)` to a cwd outside our root.
fn enter_workdir(dir: &[u8]) -> Result<()> {
    let mut c = CBuf::<4096>::from(dir);
    fs::chdir(c.cstr().at("chdir", dir)?).at("chdir", dir)?;
    let mut buf = [0u8; 4096];
    let cwd = fs::getcwd(&mut buf).at("getcwd in", dir)?;
    if cwd.first() != Some(&b'/') {
        return Err(Error::msg("chdir", dir, "outside the container's root"));
    }
    Ok(())
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

/// execve COMMAND, looked up in the environment's PATH when it has no `/`.
/// Returns the shell's code: 127 not found, 126 found but not executable.
fn exec_command(command: &[&[u8]], env: &[Vec<u8>]) -> Fail {
    let mut argv = CStrVec::new();
    let mut envp = CStrVec::new();
    for a in command {
        if let Err(e) = argv.push(a) {
            return (125, Error::sys("argument", a, e));
        }
    }
    for e in env {
        if let Err(err) = envp.push(e) {
            return (125, Error::sys("environment", e, err));
        }
    }
    let cmd = command[0];
    let try_exec = |path: &[u8]| -> Errno {
        let mut p = CBuf::<4096>::from(path);
        match p.cstr() {
            Ok(c) => execve(c, argv.argv(), envp.argv()),
            Err(e) => e,
        }
    };
    if cmd.contains(&b'/') {
        let e = try_exec(cmd);
        return (
            if e == Errno::ENOENT { 127 } else { 126 },
            Error::sys("exec", cmd, e),
        );
    }
    let search = env
        .iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .unwrap_or(DEFAULT_PATH);
    // As execvp: remember a file found but not runnable, keep looking.
    let mut found = None;
    for dir in search.split(|&c| c == b':') {
        let mut p = Vec::new();
        p.b(if dir.is_empty() { b"." } else { dir }).c(b'/').b(cmd);
        match try_exec(&p) {
            Errno::ENOENT | Errno::ENOTDIR => {}
            e => {
                found.get_or_insert(e);
            }
        }
    }
    match found {
        Some(e) => (126, Error::sys("exec", cmd, e)),
        None => (127, Error::sys("exec", cmd, Errno::ENOENT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&'static str]) -> Vec<&'static [u8]> {
        s.iter().map(|a| a.as_bytes()).collect()
    }

    #[test]
    fn options_stop_at_the_name_and_command_keeps_its_own() {
        let a = argv(&[
            "-d",
            "-u",
            "1000:100",
            "-e",
            "A=1",
            "-eB=2",
            "-w",
            "/tmp",
            "--root=/r",
            "c1",
            "ls",
            "-l",
            "-u",
        ]);
        let x = parse(&a).unwrap();
        assert!(x.detach);
        assert_eq!(
            x.user,
            Some(UserSpec {
                user: Id::Num(1000),
                group: Some(Id::Num(100))
            })
        );
        assert_eq!(x.env, vec![&b"A=1"[..], b"B=2"]);
        assert_eq!(
            (x.workdir, &x.root[..], x.name),
            (Some(&b"/tmp"[..]), &b"/r"[..], &b"c1"[..])
        );
        assert_eq!(x.command, &argv(&["ls", "-l", "-u"])[..]);
        assert_eq!(
            parse(&argv(&["-u", "www", "c", "x"]))
                .unwrap()
                .user
                .unwrap()
                .user,
            Id::Name(b"www".to_vec())
        );
    }

    #[test]
    fn bad_exec_arguments_are_one_line_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&["c1"], USAGE),
            (&[], USAGE),
            (&["-x", "c", "sh"], "husk: exec -x: unknown option"),
            (
                &["-e", "NOEQUALS", "c", "sh"],
                "husk: -e NOEQUALS: expected KEY=VALUE",
            ),
            (
                &["-w", "rel", "c", "sh"],
                "husk: -w rel: must be an absolute path",
            ),
            (
                &["-u", "1:2:3", "c", "sh"],
                "husk: -u 1:2:3: expected UID[:GID]",
            ),
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
        let base = vec![
            b"PATH=/bin".to_vec(),
            b"HOME=/root".to_vec(),
            b"A=1".to_vec(),
        ];
        let env = environment(&base, &[b"A=2", b"B=3", b"PATHX=1"], Some(b"/home/u"));
        let s: Vec<&[u8]> = env.iter().map(|e| &e[..]).collect();
        assert_eq!(
            s,
            vec![
                &b"PATH=/bin"[..],
                b"HOME=/home/u",
                b"A=2",
                b"B=3",
                b"PATHX=1"
            ]
        );
    }
}
