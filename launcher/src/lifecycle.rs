//! The lifecycle commands: `husk ps`, `kill`, `stop`, `wait`, `rm`, `state`.
//!
//! They run in the caller's process, on the host, and only read a
//! container's state directory (state.rs), signal its init or remove it. They
//! never write the state: its monitor (husk run's host stage) does, so there
//! is one writer per container besides `rm`.
//!
//! Signals go through a pidfd opened *before* the start time is compared:
//! once the pidfd matches, it names that process even if the pid is reused
//! later, so a dead container's pid is never signalled in someone else's
//! name.
//!
//! Exit codes: 0 on success, 125 on any failure (usage included); `wait`
//! exits with the container's code.

use crate::state::{self, Obj, State, StateDir, Status};
use alloc::vec::Vec;
use husk_sys::fd::{ppoll, OwnedFd, POLLIN};
use husk_sys::fmt::{stdout, Sink};
use husk_sys::process::{pidfd_open, pidfd_send_signal};
use husk_sys::signal::{parse_signal, SIGKILL, SIGTERM};
use husk_sys::{Context, Errno, Error, Result};

/// husk's own failure, as for `husk run`.
pub const FAILED: i32 = 125;

/// What a container is doing, judged from its state and the live process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seen {
    /// Being started by `husk run`.
    Created,
    Running,
    Exited(i32),
    /// Its init is gone (or its pid belongs to another process now) and no
    /// exit code was recorded: the monitor died.
    Unknown,
}

/// Judge a container: the state says Running, but only a live process with
/// the recorded start time proves it.
pub fn seen(dir: &StateDir, st: &State) -> Seen {
    match st.status {
        Status::Exited(c) => Seen::Exited(c),
        Status::Running if state::is_alive(st.pid, st.start_time) => Seen::Running,
        Status::Running => dir.recorded_exit().map_or(Seen::Unknown, Seen::Exited),
        Status::Created if dir.monitor_active() => Seen::Created,
        Status::Created => Seen::Unknown,
    }
}

fn seen_word(s: Seen) -> &'static str {
    match s {
        Seen::Created => "created",
        Seen::Running => "running",
        Seen::Exited(_) => "exited",
        Seen::Unknown => "unknown",
    }
}

/// Options of one command: `--root DIR` anywhere before the first operand,
/// the command's own flags, then the operands.
struct Cmd<'a> {
    root: Vec<u8>,
    flags: Vec<&'a [u8]>,
    /// A flag's value (`-t 5`, `-t5`), by flag.
    values: Vec<(&'a [u8], &'a [u8])>,
    operands: &'a [&'a [u8]],
}

/// Split `args`; `flags` lists the known flags, `valued` those taking a
/// value. Operands start at the first non-option or after `--`.
fn parse<'a>(
    cmd: &'static str,
    args: &'a [&'a [u8]],
    flags: &[&'static str],
    valued: &[&'static str],
) -> Result<Cmd<'a>> {
    let mut c = Cmd {
        root: Vec::new(),
        flags: Vec::new(),
        values: Vec::new(),
        operands: &[],
    };
    let mut root = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if a == b"--" {
            i += 1;
            break;
        }
        if a.len() < 2 || a[0] != b'-' {
            break;
        }
        let (name, inline) = match a.iter().position(|&b| b == b'=') {
            Some(e) if a.starts_with(b"--") => (&a[..e], Some(&a[e + 1..])),
            _ => (a, None),
        };
        if name == b"--root" || valued.iter().any(|v| v.as_bytes() == name) {
            let v = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    *args
                        .get(i)
                        .ok_or_else(|| Error::msg(cmd, a, "needs a value"))?
                }
            };
            if name == b"--root" {
                root = Some(v);
            } else {
                c.values.push((name, v));
            }
        } else if flags.iter().any(|f| f.as_bytes() == a) {
            c.flags.push(a);
        } else if let Some(v) = valued
            .iter()
            .find(|v| v.len() == 2 && a.starts_with(v.as_bytes()))
        {
            // `-t5`: a short option glued to its value.
            c.values.push((v.as_bytes(), &a[2..]));
        } else {
            return Err(Error::msg(cmd, a, "unknown option"));
        }
        i += 1;
    }
    c.root = root.map_or_else(state::default_root, <[u8]>::to_vec);
    c.operands = &args[i..];
    Ok(c)
}

impl Cmd<'_> {
    fn has(&self, flag: &str) -> bool {
        self.flags.contains(&flag.as_bytes())
    }
    fn value(&self, flag: &str) -> Option<&[u8]> {
        self.values
            .iter()
            .rev()
            .find(|(f, _)| *f == flag.as_bytes())
            .map(|(_, v)| *v)
    }
}

/// Print an error and return husk's failure code.
fn fail(e: Error) -> i32 {
    e.print("husk");
    FAILED
}

fn usage(cmd: &'static str, text: &'static str) -> Error {
    Error::msg(cmd, b"", text)
}

// ---- ps -----------------------------------------------------------------

/// `husk ps [-a] [--json]`: running containers (all with `-a`), as a table
/// or as a JSON array of the objects `husk state` prints.
pub fn ps(args: &[&[u8]]) -> i32 {
    let run = || -> Result<()> {
        let c = parse("ps", args, &["-a", "--all", "--json"], &[])?;
        if !c.operands.is_empty() {
            return Err(usage("ps", "usage: husk ps [-a] [--json]"));
        }
        let all = c.has("-a") || c.has("--all");
        let mut rows = Vec::new();
        for (name, st) in state::list(&c.root)? {
            let row = match (StateDir::open(&c.root, name.as_bytes()), st) {
                (Ok(dir), Ok(st)) => Ok((seen(&dir, &st), st)),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            let shown = match &row {
                Ok((s, _)) => all || *s == Seen::Running,
                Err(_) => all,
            };
            if shown {
                rows.push((name, row));
            }
        }
        let mut out = Vec::new();
        if c.has("--json") {
            out.push(b'[');
            for (i, (name, row)) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match row {
                    Ok((s, st)) => state_json(&mut out, *s, st),
                    Err(e) => {
                        let mut why = Vec::new();
                        e.render("husk", &mut why);
                        let mut o = Obj::new(&mut out);
                        o.str("name", name.as_bytes())
                            .str("status", b"corrupt")
                            .str("error", &why);
                        o.end();
                    }
                }
            }
            out.s("]\n");
        } else {
            table(&mut out, &rows, state::now());
        }
        stdout().b(&out);
        Ok(())
    };
    run().map_or_else(fail, |_| 0)
}

type Row = (alloc::string::String, Result<(Seen, State)>);

/// The ps table: NAME PID STATUS CREATED COMMAND, columns padded to fit.
fn table(out: &mut Vec<u8>, rows: &[Row], now: u64) {
    let mut cells: Vec<[Vec<u8>; 5]> = Vec::new();
    cells.push([
        b"NAME".to_vec(),
        b"PID".to_vec(),
        b"STATUS".to_vec(),
        b"CREATED".to_vec(),
        b"COMMAND".to_vec(),
    ]);
    for (name, row) in rows {
        let mut c: [Vec<u8>; 5] = Default::default();
        c[0] = name.as_bytes().to_vec();
        match row {
            Ok((s, st)) => {
                match s {
                    Seen::Running | Seen::Created if st.pid > 0 => c[1].u(st.pid as u64),
                    _ => c[1].s("-"),
                };
                match s {
                    Seen::Exited(code) => c[2].s("exited (").i(*code as i64).s(")"),
                    s => c[2].s(seen_word(*s)),
                };
                ago(&mut c[3], now.saturating_sub(st.created));
                for (i, a) in st.command.iter().enumerate() {
                    if i > 0 {
                        c[4].push(b' ');
                    }
                    // One line per container, whatever the arguments hold.
                    c[4].extend(
                        a.iter()
                            .map(|&b| if b < b' ' || b == 0x7f { b'?' } else { b }),
                    );
                }
            }
            Err(_) => {
                c[1].s("-");
                c[2].s("corrupt");
                c[3].s("-");
            }
        }
        cells.push(c);
    }
    let mut width = [0usize; 4];
    for c in &cells {
        for (w, cell) in width.iter_mut().zip(c.iter()) {
            *w = (*w).max(cell.len());
        }
    }
    for c in &cells {
        for (i, cell) in c.iter().enumerate() {
            out.b(cell);
            if i < 4 {
                for _ in cell.len()..width[i] + 3 {
                    out.push(b' ');
                }
            }
        }
        out.push(b'\n');
    }
}

/// `42s ago`, `5m ago`, `3h ago`, `2d ago`.
fn ago(out: &mut Vec<u8>, secs: u64) {
    let (n, unit) = match secs {
        0..=59 => (secs, "s"),
        60..=3599 => (secs / 60, "m"),
        3600..=86399 => (secs / 3600, "h"),
        _ => (secs / 86400, "d"),
    };
    out.u(n).s(unit).s(" ago");
}

/// The object `husk state` prints and `ps --json` lists.
fn state_json(out: &mut Vec<u8>, s: Seen, st: &State) {
    let mut o = Obj::new(out);
    o.str("name", st.name.as_bytes())
        .i("pid", st.pid as i64)
        .str("status", seen_word(s).as_bytes());
    match s {
        Seen::Exited(c) => o.i("exit_code", c as i64),
        _ => {
            o.key("exit_code").s("null");
            &mut o
        }
    };
    o.str("rootfs", &st.rootfs)
        .strs("cgroup", &st.cgroup_paths)
        .u("created", st.created)
        .strs("command", &st.command);
    o.end();
}

// ---- state ----------------------------------------------------------------

/// `husk state NAME`: one JSON object (name, pid, status, exit_code, rootfs,
/// cgroup, created, command).
pub fn state(args: &[&[u8]]) -> i32 {
    let run = || -> Result<()> {
        let c = parse("state", args, &[], &[])?;
        let [name] = c.operands else {
            return Err(usage("state", "usage: husk state NAME"));
        };
        let dir = StateDir::open(&c.root, name)?;
        let st = dir.read()?;
        let mut out = Vec::new();
        state_json(&mut out, seen(&dir, &st), &st);
        out.push(b'\n');
        stdout().b(&out);
        Ok(())
    };
    run().map_or_else(fail, |_| 0)
}

// ---- kill -----------------------------------------------------------------

/// A pidfd for the container's init, or why there is none. The pidfd is
/// opened first and the start time compared after: if they match, the
/// pidfd holds the container's init, not a later owner of its pid.
fn open_init(name: &[u8], st: &State) -> Result<Option<OwnedFd>> {
    if st.pid <= 0 || matches!(st.status, Status::Exited(_)) {
        return Ok(None);
    }
    let fd = match pidfd_open(st.pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(None),
        Err(e) => return Err(e).at("pidfd_open for", name),
    };
    Ok(state::is_alive(st.pid, st.start_time).then_some(fd))
}

fn not_running(op: &'static str, name: &[u8]) -> Error {
    Error::msg(op, name, "container is not running")
}

/// `husk kill NAME [SIGNAL]`: signal the container's init (default TERM),
/// which forwards it to the container's processes.
pub fn kill(args: &[&[u8]]) -> i32 {
    let run = || -> Result<()> {
        let c = parse("kill", args, &[], &[])?;
        let (name, sig) = match c.operands {
            [n] => (*n, SIGTERM),
            [n, s] => (
                *n,
                parse_signal(s).ok_or_else(|| Error::msg("signal", s, "invalid signal"))?,
            ),
            _ => return Err(usage("kill", "usage: husk kill NAME [SIGNAL]")),
        };
        let dir = StateDir::open(&c.root, name)?;
        let st = dir.read_settled()?;
        let fd = open_init(name, &st)?.ok_or_else(|| not_running("kill", name))?;
        pidfd_send_signal(fd.fd(), sig).at("kill", name)
    };
    run().map_or_else(fail, |_| 0)
}

// ---- stop -----------------------------------------------------------------

/// `husk stop [-t SECONDS] NAME...`: TERM, up to SECONDS (default 10) for
/// the init to end, then KILL. Returns once each container is dead and its
/// monitor has recorded the exit. Stopping a stopped container is no error.
pub fn stop(args: &[&[u8]]) -> i32 {
    let c = match parse("stop", args, &[], &["-t", "--time"]) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let grace = match c.value("-t").or(c.value("--time")) {
        None => 10,
        Some(v) => match husk_sys::fmt::parse_u64(v).filter(|&s| s <= 1_000_000) {
            Some(s) => s,
            None => return fail(Error::msg("stop -t", v, "not a number of seconds")),
        },
    };
    if c.operands.is_empty() {
        return fail(usage("stop", "usage: husk stop [-t SECONDS] NAME..."));
    }
    let mut code = 0;
    for name in c.operands {
        if let Err(e) = stop_one(&c.root, name, grace) {
            code = fail(e);
        }
    }
    code
}

fn stop_one(root: &[u8], name: &[u8], grace: u64) -> Result<()> {
    let dir = StateDir::open(root, name)?;
    let st = dir.read_settled()?;
    if let Some(fd) = open_init(name, &st)? {
        pidfd_send_signal(fd.fd(), SIGTERM).at("kill", name)?;
        // A pidfd polls readable once its process has exited.
        if ppoll(fd.fd(), POLLIN, Some(grace * 1_000_000_000)).at("wait for", name)? == 0 {
            pidfd_send_signal(fd.fd(), SIGKILL).at("kill", name)?;
            ppoll(fd.fd(), POLLIN, None).at("wait for", name)?;
        }
    }
    // Let the monitor record the exit and clean up before we return.
    match dir.wait_monitor() {
        Err(e) if state::is_gone(&e) => Ok(()),
        r => r.map(|_| ()),
    }
}

// ---- wait -----------------------------------------------------------------

/// `husk wait NAME`: block until the container exits, print its exit code
/// and exit with it.
pub fn wait(args: &[&[u8]]) -> i32 {
    let run = || -> Result<i32> {
        let c = parse("wait", args, &[], &[])?;
        let [name] = c.operands else {
            return Err(usage("wait", "usage: husk wait NAME"));
        };
        let dir = StateDir::open(&c.root, name)?;
        // The monitor holds its lock until it has written the code.
        if let Some(code) = dir.wait_monitor()? {
            return Ok(code);
        }
        // The monitor died without a code: the state may still have one;
        // else wait for the orphaned init to end, and say we cannot know.
        let st = dir.read()?;
        if let Status::Exited(code) = st.status {
            return Ok(code);
        }
        if let Some(fd) = open_init(name, &st)? {
            ppoll(fd.fd(), POLLIN, None).at("wait for", name)?;
        }
        Err(Error::msg(
            "wait",
            name,
            "exit status unknown: the container's monitor died",
        ))
    };
    match run() {
        Ok(code) => {
            stdout().i(code as i64).c(b'\n');
            code
        }
        Err(e) => fail(e),
    }
}

// ---- rm -------------------------------------------------------------------

/// `husk rm [-f] NAME...`: remove stopped containers: their cgroups,
/// temporary directories and state. `-f` kills a running one first, and
/// removes one whose state file is damaged.
pub fn rm(args: &[&[u8]]) -> i32 {
    let c = match parse("rm", args, &["-f", "--force"], &[]) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if c.operands.is_empty() {
        return fail(usage("rm", "usage: husk rm [-f] NAME..."));
    }
    let force = c.has("-f") || c.has("--force");
    let mut code = 0;
    for name in c.operands {
        if let Err(e) = rm_one(&c.root, name, force) {
            code = fail(e);
        }
    }
    code
}

fn rm_one(root: &[u8], name: &[u8], force: bool) -> Result<()> {
    let dir = StateDir::open(root, name)?;
    {
        // The lock waits out a `husk run` still starting this container.
        let _lock = dir.lock()?;
        let st = match dir.read() {
            Ok(st) => st,
            // Nothing in a damaged file can be trusted, not even its pid or
            // cgroup paths: -f removes only the state directory.
            Err(e) if force && e.errno.0 == 0 => return dir.remove(),
            Err(e) => return Err(e),
        };
        if let Some(fd) = open_init(name, &st)? {
            if !force {
                return Err(Error::msg(
                    "rm",
                    name,
                    "container is running (stop it, or use rm -f)",
                ));
            }
            pidfd_send_signal(fd.fd(), SIGKILL).at("kill", name)?;
        }
    }
    // Without the lock, which the monitor needs to record the exit (it may
    // remove the directory itself: `--rm`). No monitor: no wait.
    match dir.wait_monitor() {
        Err(e) if state::is_gone(&e) => return Ok(()),
        r => r?,
    };
    let _lock = match dir.lock() {
        Err(e) if state::is_gone(&e) => return Ok(()),
        r => r?,
    };
    let st = dir.read()?;
    remove_container(dir, &st)
}

/// What a dead container leaves: cgroups (usually removed by the monitor
/// already), temporary directories, and the state directory, in that order
/// so a failure leaves the state that lets `rm` be retried.
fn remove_container(dir: StateDir, st: &State) -> Result<()> {
    crate::cgroup::remove_paths(&st.cgroup_paths)?;
    for d in &st.cleanup {
        let mut c = husk_sys::CBuf::<4096>::from(d);
        if let Ok(p) = c.cstr() {
            // A tmpfs upper mounted on the host goes first; EINVAL: not a mount.
            let _ = husk_sys::mount::umount2(p, husk_sys::mount::MNT_DETACH | UMOUNT_NOFOLLOW);
        }
        state::remove_tree(husk_sys::Fd::CWD, d)?;
    }
    dir.remove()
}

const UMOUNT_NOFOLLOW: i32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&'static str]) -> Vec<&'static [u8]> {
        s.iter().map(|a| a.as_bytes()).collect()
    }

    #[test]
    fn options_come_before_operands() {
        let a = argv(&["-t", "3", "--root=/r", "c1", "c2"]);
        let c = parse("stop", &a, &[], &["-t"]).unwrap();
        assert_eq!(
            (c.value("-t"), &c.root[..], c.operands.len()),
            (Some(&b"3"[..]), &b"/r"[..], 2)
        );
        let a = argv(&["-t5", "--root", "/x", "--", "-n"]);
        let c = parse("stop", &a, &[], &["-t"]).unwrap();
        assert_eq!(
            (c.value("-t"), &c.root[..], c.operands),
            (Some(&b"5"[..]), &b"/x"[..], &[&b"-n"[..]][..])
        );
        let a = argv(&["-f", "c", "-x"]);
        let c = parse("rm", &a, &["-f"], &[]).unwrap();
        assert!(c.has("-f") && c.operands.len() == 2);
        let e = parse("rm", &argv(&["-x"]), &["-f"], &[]).err().unwrap();
        assert_eq!(format!("{e:?}"), "husk: rm -x: unknown option");
        let e = parse("stop", &argv(&["-t"]), &[], &["-t"]).err().unwrap();
        assert_eq!(format!("{e:?}"), "husk: stop -t: needs a value");
    }

    #[test]
    fn the_table_pads_columns_and_spells_statuses() {
        let st = |pid, status, cmd: &[&str]| State {
            name: "x".into(),
            pid,
            status,
            created: 1000,
            command: cmd.iter().map(|c| c.as_bytes().to_vec()).collect(),
            ..State::default()
        };
        let rows: Vec<Row> = vec![
            (
                "a".into(),
                Ok((Seen::Running, st(42, Status::Running, &["sleep", "9"]))),
            ),
            (
                "long-name".into(),
                Ok((
                    Seen::Exited(137),
                    st(43, Status::Exited(137), &["sh", "-c", "a\nb"]),
                )),
            ),
            (
                "gone".into(),
                Ok((Seen::Unknown, st(44, Status::Running, &["x"]))),
            ),
            (
                "bad".into(),
                Err(Error::msg("read", b"f", "corrupt state file")),
            ),
        ];
        let mut out = Vec::new();
        table(&mut out, &rows, 1000 + 7200);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "NAME        PID   STATUS         CREATED   COMMAND\n\
             a           42    running        2h ago    sleep 9\n\
             long-name   -     exited (137)   2h ago    sh -c a?b\n\
             gone        -     unknown        2h ago    x\n\
             bad         -     corrupt        -         \n"
        );
    }

    #[test]
    fn state_json_has_the_documented_keys() {
        let st = State {
            name: "c".into(),
            pid: 7,
            created: 5,
            command: vec![b"true".to_vec()],
            ..State::default()
        };
        let mut out = Vec::new();
        state_json(&mut out, Seen::Exited(3), &st);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"name":"c","pid":7,"status":"exited","exit_code":3,"rootfs":"","cgroup":[],"created":5,"command":["true"]}"#
        );
    }
}
