//! husk-init: a tini-compatible PID 1 for containers.
//!
//! The story, as `main` tells it: block every signal, read the command line,
//! spawn the child, then sleep in a signalfd read until a signal arrives,
//! forwarding it or reaping on SIGCHLD. When the main child is gone, the
//! other processes get TERM and a grace period, then KILL, and husk-init
//! exits with the main child's code.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use husk_init::{
    dirent_names, exec_failure_code, parse, stat_parent, Action, Fail, Options, Usage, DEFAULT_PATH, HELP, USAGE,
    VERSION,
};
use husk_sys::errno::retry;
use husk_sys::fmt::{self, Sink};
use husk_sys::fs;
use husk_sys::process::{self, Argv, Exit};
use husk_sys::signal::{self, Disposition, SigSet, SIGCHLD, SIGCONT, SIGINT, SIGKILL, SIGTERM};
use husk_sys::{rt, CBuf, Errno, Fd, OwnedFd, SysResult};

husk_sys::main!(main);

const PROG: &str = "husk-init";
const NS_PER_SEC: u64 = 1_000_000_000;

/// What husk-init found when it started, for the child to get back.
struct Inherited {
    mask: SigSet,
    chld_ignored: bool,
}

fn main() -> i32 {
    let inherited = block_signals();
    let args = rt::args();
    let opts = match parse(args.len(), |i| args.get(i).unwrap_or(b""), rt::getenv) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    match opts.action {
        Action::Help => return print(Fd::STDOUT, HELP),
        Action::Version => return print(Fd::STDOUT, VERSION),
        _ => {}
    }
    match run(&opts, &inherited) {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            1
        }
    }
}

fn run(o: &Options, inherited: &Inherited) -> Result<i32> {
    register_subreaper(o);
    set_parent_death_signal(o)?;
    let child = match o.action {
        Action::Run(i) => Some(spawn(rt::args().skip(i), inherited, o)?),
        _ => None,
    };
    drop_inherited_fds(o);
    leave_cwd(o);
    let signals = open_signalfd()?;
    let (end, others_left) = supervise(&signals, child, o)?;
    // -t 0 is tini: exit now. As PID 1 the kernel then SIGKILLs the
    // namespace; as a subreaper the rest go to the next reaper up.
    if others_left && o.grace_secs > 0 {
        shut_down(o);
    }
    Ok(o.exit_code(end))
}

/// The signals that report our own faults stay unblocked, as in tini: a
/// blocked SIGSEGV from a real fault would kill us anyway, without a core.
const SYNCHRONOUS: [i32; 7] =
    [signal::SIGSEGV, signal::SIGBUS, signal::SIGILL, signal::SIGFPE, signal::SIGABRT, signal::SIGTRAP, signal::SIGSYS];

fn handled_signals() -> SigSet {
    SYNCHRONOUS.iter().fold(SigSet::FULL, |set, &s| set.without(s))
}

/// Block everything first, so no signal is acted on by default before the
/// signalfd exists. A blocked signal is never discarded, not even for PID 1
/// (kernel sig_ignored()), so TERM from `docker stop` still reaches us.
fn block_signals() -> Inherited {
    let mask = signal::rt_sigprocmask(signal::SIG_SETMASK, handled_signals()).unwrap_or(SigSet::EMPTY);
    // An ignored SIGCHLD makes the kernel reap our children for us, and then
    // we could not learn the main child's exit code.
    let chld_ignored = signal::rt_sigaction(SIGCHLD, None) == Ok(Disposition::Ignore);
    if chld_ignored {
        let _ = signal::rt_sigaction(SIGCHLD, Some(Disposition::Default));
    }
    Inherited { mask, chld_ignored }
}

fn usage_error(e: &Usage) -> i32 {
    let mut w = fmt::stderr();
    e.render(&mut w);
    w.s(USAGE);
    1
}

fn print(fd: Fd, text: &str) -> i32 {
    let _ = fs::write_all(fd, text.as_bytes());
    0
}

/// Orphans of the child re-parent to us instead of to the host's init,
/// so that we can reap them. PID 1 is everyone's reaper already.
fn register_subreaper(o: &Options) {
    if process::getpid() != 1 {
        let r = process::prctl(process::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        if let Err(e) = r.at("become subreaper (no reaping)", b"") {
            warn(o, &e);
        }
    }
}

fn set_parent_death_signal(o: &Options) -> Result<()> {
    if o.parent_death != 0 {
        process::prctl(process::PR_SET_PDEATHSIG, o.parent_death as u64, 0, 0, 0).at("set parent death signal", b"")?;
    }
    Ok(())
}

fn spawn(argv: Argv<'static>, inherited: &Inherited, o: &Options) -> Result<i32> {
    let pid = process::fork().at("fork", b"")?;
    if pid == 0 {
        exec_child(argv, inherited, o);
    }
    // Also from this side, so that `-g` finds the group even if we forward
    // a signal before the child has run. EACCES after its exec is fine.
    let _ = process::setpgid(pid, pid);
    note(o, 2, "spawned child", pid);
    Ok(pid)
}

/// In the child: its own process group, the terminal's foreground if there
/// is one, the signal state we inherited, then PROGRAM.
fn exec_child(argv: Argv, inherited: &Inherited, o: &Options) -> ! {
    let _ = process::setpgid(0, 0);
    // We are in a background group now; TTOU is still blocked, which is what
    // lets tcsetpgrp proceed instead of stopping us.
    match process::tcsetpgrp(Fd::STDIN, process::getpid()) {
        Ok(()) | Err(Errno::ENOTTY) | Err(Errno::ENXIO) => {}
        Err(e) => warn(o, &Fail { op: "give the terminal to", obj: b"the child", errno: e.0 }),
    }
    if inherited.chld_ignored {
        let _ = signal::rt_sigaction(SIGCHLD, Some(Disposition::Ignore));
    }
    let _ = signal::rt_sigprocmask(signal::SIG_SETMASK, inherited.mask);
    let prog = argv.get(0).unwrap_or(b"");
    let e = execvp(prog, argv);
    report(&Fail { op: "exec", obj: prog, errno: e.0 });
    process::exit(exec_failure_code(e.0))
}

/// execvp(3) without the `/bin/sh` retry on ENOEXEC: try each PATH entry,
/// remember EACCES, and skip entries that do not have the file.
fn execvp(prog: &[u8], argv: Argv) -> Errno {
    let env = rt::env();
    if prog.is_empty() {
        return Errno::ENOENT;
    }
    if prog.contains(&b'/') {
        let mut path = CBuf::<4096>::from(prog);
        return path.cstr().map_or_else(|e| e, |p| process::execve(p, argv, env));
    }
    let mut denied = false;
    for dir in rt::getenv(b"PATH").unwrap_or(DEFAULT_PATH).split(|&c| c == b':') {
        let mut path = CBuf::<4096>::new();
        if !dir.is_empty() {
            path.b(dir).c(b'/');
        }
        path.b(prog);
        let e = path.cstr().map_or_else(|e| e, |p| process::execve(p, argv, env));
        match e {
            Errno::EACCES => denied = true,
            Errno::ENOENT | Errno::ENOTDIR | Errno::ENAMETOOLONG | Errno::ELOOP => {}
            e => return e,
        }
    }
    if denied {
        Errno::EACCES
    } else {
        Errno::ENOENT
    }
}

/// The child has its copies; ours would keep pipes open and files busy
/// (catatonit #12) for as long as the container lives.
fn drop_inherited_fds(o: &Options) {
    if let Err(e) = husk_sys::fd::close_range(3, u32::MAX, 0).at("close inherited fds", b"") {
        warn(o, &e);
    }
}

/// Our cwd would pin its mount for the life of the container.
fn leave_cwd(o: &Options) {
    if let Err(e) = fs::chdir(c"/").at("chdir", b"/") {
        warn(o, &e);
    }
}

fn open_signalfd() -> Result<OwnedFd> {
    signal::signalfd4(handled_signals(), signal::SFD_CLOEXEC).at("signalfd", b"")
}

/// Sleep in a blocking read until a signal comes: forward it, or reap on
/// SIGCHLD, until the main child is gone (pause mode: until TERM or INT).
/// Returns how it ended and whether other processes are left.
fn supervise(signals: &OwnedFd, child: Option<i32>, o: &Options) -> Result<(Exit, bool)> {
    loop {
        let sig = retry(|| signal::read_signalfd(signals.fd())).at("read signalfd", b"")?.signo;
        match (sig, child) {
            (SIGCHLD, _) => {
                let (main, left) = reap_zombies(child, o);
                if let Some(end) = main {
                    return Ok((end, left));
                }
            }
            (SIGTERM | SIGINT, None) => return Ok((Exit::Code(0), reap_zombies(None, o).1)),
            (_, Some(pid)) => forward(sig, pid, o),
            _ => {}
        }
    }
}

fn forward(sig: i32, pid: i32, o: &Options) {
    let Some(to) = o.route(sig) else { return };
    note(o, 3, "forwarding signal", to);
    match process::kill(if o.group { -pid } else { pid }, to) {
        // The child is dying: its SIGCHLD is already on its way.
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => warn(o, &Fail { op: "forward signal to", obj: b"the child", errno: e.0 }),
    }
}

/// Reap every zombie there is: SIGCHLDs coalesce, so one signal can stand
/// for many children. Returns the main child's end if it was among them,
/// and whether any child is still running.
fn reap_zombies(child: Option<i32>, o: &Options) -> (Option<Exit>, bool) {
    let mut main = None;
    loop {
        match process::wait4(-1, process::WNOHANG) {
            Ok((0, _)) => return (main, true),
            Ok((pid, status)) if Some(pid) == child => {
                main = Some(Exit::from_status(status));
                note(o, 2, "main child exited, status", status);
            }
            Ok((pid, _)) => {
                if o.warn_reap {
                    note(o, 0, "reaped zombie", pid);
                }
            }
            Err(Errno::EINTR) => {}
            // ECHILD: nobody is left.
            Err(_) => return (main, false),
        }
    }
}

/// Give the other processes TERM (and CONT, so stopped ones can act on it),
/// reap them for the grace period, then KILL whatever is left.
fn shut_down(o: &Options) {
    signal_others(SIGTERM);
    signal_others(SIGCONT);
    if reap_until_gone(o.grace_secs.saturating_mul(NS_PER_SEC), o) {
        return;
    }
    // A process forked while we scanned escapes one round; KILL again until
    // nothing is left, but do not hang forever on one stuck in D state.
    for _ in 0..10 {
        signal_others(SIGKILL);
        if reap_until_gone(NS_PER_SEC / 10, o) {
            return;
        }
    }
}

/// Reap until no child is left (true) or `ns` have passed (false). The only
/// timed wait husk-init ever makes: idle, it waits without a timeout.
fn reap_until_gone(ns: u64, o: &Options) -> bool {
    let deadline = now() + ns;
    loop {
        if !reap_zombies(None, o).1 {
            return true;
        }
        let left = deadline.saturating_sub(now());
        if left == 0 {
            return false;
        }
        let _ = signal::rt_sigtimedwait(SigSet::EMPTY.with(SIGCHLD), Some(left));
    }
}

fn now() -> u64 {
    husk_sys::time::clock_gettime(husk_sys::time::CLOCK_MONOTONIC)
}

/// As PID 1: every process in the namespace. As a subreaper: every process
/// whose chain of parents leads to us.
fn signal_others(sig: i32) {
    let me = process::getpid();
    if me == 1 {
        let _ = process::kill(-1, sig);
        return;
    }
    let Ok(proc) = fs::openat(Fd::CWD, c"/proc", fs::O_RDONLY | fs::O_DIRECTORY | fs::O_CLOEXEC, 0) else {
        return;
    };
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = fs::getdents64(proc.fd(), &mut buf) {
        for name in dirent_names(&buf[..n]) {
            match fmt::parse_u64(name) {
                Some(pid) if is_descendant(pid as i32, me) => {
                    let _ = process::kill(pid as i32, sig);
                }
                _ => {}
            }
        }
    }
}

fn is_descendant(pid: i32, me: i32) -> bool {
    let mut p = pid;
    // Bounded: a pid reused mid-walk could in theory form a loop.
    for _ in 0..1024 {
        match parent_of(p) {
            Some((_, true)) if p == pid => return false, // a zombie: nothing to signal
            Some((ppid, _)) if ppid == me => return true,
            Some((ppid, _)) if ppid > 1 => p = ppid,
            _ => return false,
        }
    }
    false
}

fn parent_of(pid: i32) -> Option<(i32, bool)> {
    let mut path = CBuf::<32>::new();
    path.s("/proc/").u(pid as u64).s("/stat");
    let mut buf = [0u8; 512];
    stat_parent(fs::read_file(Fd::CWD, path.cstr().ok()?, &mut buf).ok()?)
}

type Result<T> = core::result::Result<T, Fail<'static>>;

/// Name the step and the object of a failed syscall.
trait At<T> {
    fn at(self, op: &'static str, obj: &'static [u8]) -> Result<T>;
}

impl<T> At<T> for SysResult<T> {
    fn at(self, op: &'static str, obj: &'static [u8]) -> Result<T> {
        self.map_err(|e| Fail { op, obj, errno: e.0 })
    }
}

fn report(f: &Fail) {
    f.render(&mut fmt::stderr());
}

fn warn(o: &Options, f: &Fail) {
    if o.verbosity > 0 {
        report(f);
    }
}

/// `husk-init: WHAT N` on stderr when the verbosity is at least `level`.
fn note(o: &Options, level: u64, what: &str, n: i32) {
    if o.verbosity >= level {
        fmt::stderr().s(PROG).s(": ").s(what).c(b' ').i(n as i64).c(b'\n');
    }
}
