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

use crate::state::{self, State, StateDir, Status};
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

// The commands' flags, as bits.
const ALL: u8 = 1;
const JSON: u8 = 2;
const FORCE: u8 = 4;
const TIME: u8 = 8;
const ROOT: u8 = 16;
const FLAGS: [(&str, u8); 8] = [
    ("--root", ROOT),
    ("-a", ALL),
    ("--all", ALL),
    ("--json", JSON),
    ("-f", FORCE),
    ("--force", FORCE),
    ("-t", TIME),
    ("--time", TIME),
];

/// Options of one command: `--root DIR` anywhere before the first operand,
/// the command's own flags, then the operands.
struct Cmd<'a> {
    root: Vec<u8>,
    flags: u8,
    /// `-t SECONDS` (`-t5`, `--time=5`).
    time: Option<&'a [u8]>,
    operands: &'a [&'a [u8]],
}

/// Split `args`; `allowed` holds the command's flag bits. Operands start at
/// the first non-option or after `--`.
fn parse<'a>(cmd: &'static str, args: &'a [&'a [u8]], allowed: u8) -> Result<Cmd<'a>> {
    let (mut root, mut flags, mut time) = (None, 0, None);
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        i += 1;
        if a == b"--" {
            break;
        }
        if a.len() < 2 || a[0] != b'-' {
            i -= 1;
            break;
        }
        let (name, inline) = match a.iter().position(|&b| b == b'=') {
            Some(e) if a.starts_with(b"--") => (&a[..e], a.get(e + 1..)),
            _ => (a, None),
        };
        let bit = FLAGS
            .iter()
            .find(|f| f.0.as_bytes() == name)
            .map_or(0, |f| f.1);
        let valued = bit & (TIME | ROOT) != 0;
        if bit & (allowed | ROOT) == 0 || (!valued && inline.is_some()) {
            // `-t5`: a short option glued to its value.
            if allowed & TIME != 0 && a.starts_with(b"-t") {
                time = a.get(2..);
                continue;
            }
            return Err(Error::msg(cmd, a, "unknown option"));
        }
        if !valued {
            flags |= bit;
            continue;
        }
        let v = match inline {
            Some(v) => v,
            None => {
                i += 1;
                match args.get(i - 1) {
                    Some(v) => *v,
                    None => return Err(Error::msg(cmd, a, "needs a value")),
                }
            }
        };
        if bit == ROOT {
            root = Some(v);
        } else {
            time = Some(v);
        }
    }
    Ok(Cmd {
        root: root.map_or_else(state::default_root, <[u8]>::to_vec),
        flags,
        time,
        operands: args.get(i..).unwrap_or(&[]),
    })
}

/// The exit code of a command: its own, or (printed) husk's failure.
fn done(r: Result<i32>) -> i32 {
    r.unwrap_or_else(|e| {
        e.print("husk");
        FAILED
    })
}

fn usage(text: &'static str) -> Error {
    Error::msg("", b"", text)
}

// ---- ps and state -----------------------------------------------------------

type Row = (Vec<u8>, Result<(Seen, State)>);

/// `husk ps [-a] [--json]`: running containers (all with `-a`), as a table
/// or as a JSON array of the objects `husk state` prints.
pub fn ps(args: &[&[u8]]) -> i32 {
    done(list(args))
}

fn list(args: &[&[u8]]) -> Result<i32> {
    let c = parse("ps", args, ALL | JSON)?;
    if !c.operands.is_empty() {
        return Err(usage("usage: husk ps [-a] [--json]"));
    }
    let all = c.flags & ALL != 0;
    let mut rows: Vec<Row> = Vec::new();
    for name in state::list(&c.root)? {
        let row = StateDir::open(&c.root, &name).and_then(|d| {
            let st = d.read()?;
            Ok((seen(&d, &st), st))
        });
        let shown = match &row {
            // Removed since the listing: not a container any more.
            Err(e) if state::is_gone(e) => false,
            Ok((s, _)) => all || *s == Seen::Running,
            Err(_) => all,
        };
        if shown {
            rows.push((name, row));
        }
    }
    let mut out = Vec::new();
    if c.flags & JSON != 0 {
        for (i, (name, row)) in rows.iter().enumerate() {
            out.push(if i > 0 { b',' } else { b'[' });
            match row {
                Ok((s, st)) => state_json(&mut out, *s, st),
                Err(e) => {
                    let mut why = Vec::new();
                    e.render("husk", &mut why);
                    out.s("{\"name\":");
                    json_str(&mut out, name);
                    out.s(",\"status\":\"corrupt\",\"error\":");
                    json_str(&mut out, &why);
                    out.push(b'}');
                }
            }
        }
        if rows.is_empty() {
            out.push(b'[');
        }
        out.s("]\n");
    } else {
        table(&mut out, &rows, state::now());
    }
    stdout().b(&out);
    Ok(0)
}

/// The ps table: NAME PID STATUS CREATED COMMAND, columns padded to fit.
fn table(out: &mut Vec<u8>, rows: &[Row], now: u64) {
    let mut cells: Vec<Vec<u8>> = Vec::new();
    for h in ["NAME", "PID", "STATUS", "CREATED", "COMMAND"] {
        cells.push(h.as_bytes().to_vec());
    }
    for (name, row) in rows {
        cells.push(name.clone());
        let mut c: [Vec<u8>; 4] = Default::default();
        match row {
            Ok((s, st)) => {
                match s {
                    Seen::Running | Seen::Created if st.pid > 0 => c[0].u(st.pid as u64),
                    _ => c[0].s("-"),
                };
                match s {
                    Seen::Exited(code) => c[1].s("exited (").i(*code as i64).s(")"),
                    s => c[1].s(seen_word(*s)),
                };
                let secs = now.saturating_sub(st.created);
                let (n, unit) = match secs {
                    0..=59 => (secs, "s ago"),
                    60..=3599 => (secs / 60, "m ago"),
                    3600..=86399 => (secs / 3600, "h ago"),
                    _ => (secs / 86400, "d ago"),
                };
                c[2].u(n).s(unit);
                for (i, a) in st.command.iter().enumerate() {
                    if i > 0 {
                        c[3].push(b' ');
                    }
                    // One line per container, whatever the arguments hold.
                    for &b in a {
                        c[3].push(if b < b' ' || b == 0x7f { b'?' } else { b });
                    }
                }
            }
            Err(_) => {
                c[0].s("-");
                c[1].s("corrupt");
                c[2].s("-");
            }
        }
        cells.extend(c);
    }
    let mut width = [0usize; 5];
    for (i, cell) in cells.iter().enumerate() {
        width[i % 5] = width[i % 5].max(cell.len() + 3);
    }
    for (i, cell) in cells.iter().enumerate() {
        out.b(cell);
        if i % 5 == 4 {
            out.push(b'\n');
        } else {
            for _ in cell.len()..width[i % 5] {
                out.push(b' ');
            }
        }
    }
}

/// Append `s` as a JSON string. Strings are bytes: valid UTF-8 is written
/// as is, any other byte as `\u00XX`, so no path makes the output invalid.
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let (good, bad) = match core::str::from_utf8(rest) {
            Ok(_) => (rest.len(), 0),
            Err(e) => (
                e.valid_up_to(),
                e.error_len().unwrap_or(rest.len() - e.valid_up_to()),
            ),
        };
        let (ok, tail) = rest.split_at(good);
        let (bytes, tail) = tail.split_at(bad);
        for &c in ok {
            match c {
                b'"' => out.s("\\\""),
                b'\\' => out.s("\\\\"),
                b'\n' => out.s("\\n"),
                b'\t' => out.s("\\t"),
                0..=0x1f | 0x7f => out.s("\\u00").hex(c as u64, 2),
                _ => out.c(c),
            };
        }
        for &c in bytes {
            out.s("\\u00").hex(c as u64, 2);
        }
        rest = tail;
    }
    out.push(b'"');
}

fn json_list<T: AsRef<[u8]>>(out: &mut Vec<u8>, key: &str, items: &[T]) {
    out.s(",\"").s(key).s("\":[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, s.as_ref());
    }
    out.push(b']');
}

/// The object `husk state` prints and `ps --json` lists.
fn state_json(out: &mut Vec<u8>, s: Seen, st: &State) {
    out.s("{\"name\":");
    json_str(out, st.name.as_bytes());
    out.s(",\"pid\":").i(st.pid as i64);
    out.s(",\"status\":\"")
        .s(seen_word(s))
        .s("\",\"exit_code\":");
    match s {
        Seen::Exited(c) => out.i(c as i64),
        _ => out.s("null"),
    };
    out.s(",\"rootfs\":");
    json_str(out, &st.rootfs);
    json_list(out, "cgroup", &st.cgroup_paths);
    out.s(",\"created\":").u(st.created);
    json_list(out, "command", &st.command);
    out.push(b'}');
}

/// `husk state NAME`: one JSON object (name, pid, status, exit_code, rootfs,
/// cgroup, created, command).
pub fn state(args: &[&[u8]]) -> i32 {
    done(
        one(args, "state", "usage: husk state NAME").and_then(|(root, name)| {
            let dir = StateDir::open(&root, name)?;
            let st = dir.read()?;
            let mut out = Vec::new();
            state_json(&mut out, seen(&dir, &st), &st);
            out.push(b'\n');
            stdout().b(&out);
            Ok(0)
        }),
    )
}

/// The root and the one NAME of `husk state` and `husk wait`.
fn one<'a>(
    args: &'a [&'a [u8]],
    cmd: &'static str,
    text: &'static str,
) -> Result<(Vec<u8>, &'a [u8])> {
    let c = parse(cmd, args, 0)?;
    match c.operands {
        [name] => Ok((c.root, name)),
        _ => Err(usage(text)),
    }
}

// ---- kill, stop, wait -------------------------------------------------------

/// A pidfd for the container's init, or why there is none. The pidfd is
/// opened first and the start time compared after: if they match, the
/// pidfd holds the container's init, not a later owner of its pid.
fn open_init(name: &[u8], st: &State) -> Result<Option<OwnedFd>> {
    if st.pid <= 0 || matches!(st.status, Status::Exited(_)) {
        return Ok(None);
    }
    match pidfd_open(st.pid) {
        Ok(fd) => Ok(state::is_alive(st.pid, st.start_time).then_some(fd)),
        Err(Errno::ESRCH) => Ok(None),
        Err(e) => Err(e).at("pidfd_open for", name),
    }
}

/// `husk kill NAME [SIGNAL]`: signal the container's init (default TERM),
/// which forwards it to the container's processes.
pub fn kill(args: &[&[u8]]) -> i32 {
    let run = || -> Result<i32> {
        let c = parse("kill", args, 0)?;
        let (name, sig) = match c.operands {
            [n] => (*n, Some(SIGTERM)),
            [n, s] => (*n, parse_signal(s)),
            _ => return Err(usage("usage: husk kill NAME [SIGNAL]")),
        };
        let Some(sig) = sig else {
            return Err(Error::msg("signal", c.operands[1], "invalid signal"));
        };
        let st = StateDir::open(&c.root, name)?.read_settled()?;
        match open_init(name, &st)? {
            Some(fd) => pidfd_send_signal(fd.fd(), sig).at("kill", name).map(|_| 0),
            None => Err(Error::msg("kill", name, "container is not running")),
        }
    };
    done(run())
}

/// `husk stop [-t SECONDS] NAME...`: TERM, up to SECONDS (default 10) for
/// the init to end, then KILL. Returns once each container is dead and its
/// monitor has recorded the exit. Stopping a stopped container is no error.
pub fn stop(args: &[&[u8]]) -> i32 {
    each(args, "stop", TIME, "usage: husk stop [-t SECONDS] NAME...")
}

/// `husk rm [-f] NAME...`: remove stopped containers: their cgroups,
/// temporary directories and state. `-f` kills a running one first, and
/// removes one whose state file is damaged.
pub fn rm(args: &[&[u8]]) -> i32 {
    each(args, "rm", FORCE, "usage: husk rm [-f] NAME...")
}

/// `stop` or `rm` on every NAME; one failure does not stop the others.
fn each(args: &[&[u8]], cmd: &'static str, allowed: u8, text: &'static str) -> i32 {
    let c = match parse(cmd, args, allowed) {
        Ok(c) if c.operands.is_empty() => Err(usage(text)),
        r => r,
    };
    let run = || -> Result<(Cmd, u64)> {
        let c = c?;
        let grace = match c.time {
            None => 10,
            Some(v) => match husk_sys::fmt::parse_u64(v).filter(|&s| s <= 1_000_000) {
                Some(s) => s,
                None => return Err(Error::msg("stop -t", v, "not a number of seconds")),
            },
        };
        Ok((c, grace))
    };
    let (c, grace) = match run() {
        Ok(x) => x,
        Err(e) => return done(Err(e)),
    };
    let mut code = 0;
    for name in c.operands {
        let r = if allowed == TIME {
            stop_one(&c.root, name, grace)
        } else {
            rm_one(&c.root, name, c.flags & FORCE != 0)
        };
        if let Err(e) = r {
            code = done(Err(e));
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
    wait_gone(&dir).map(|_| ())
}

/// `dir.wait_monitor()`, where a container that went meanwhile (`--rm`,
/// a concurrent `rm`) is `Ok(None)` too.
fn wait_gone(dir: &StateDir) -> Result<Option<i32>> {
    match dir.wait_monitor() {
        Err(e) if state::is_gone(&e) => Ok(None),
        r => r,
    }
}

/// `husk wait NAME`: block until the container exits, print its exit code
/// and exit with it.
pub fn wait(args: &[&[u8]]) -> i32 {
    let run = || -> Result<i32> {
        let (root, name) = one(args, "wait", "usage: husk wait NAME")?;
        let dir = StateDir::open(&root, name)?;
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
    let r = run();
    if let Ok(code) = r {
        stdout().i(code as i64).c(b'\n');
    }
    done(r)
}

// ---- rm -------------------------------------------------------------------

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
    wait_gone(&dir)?;
    let _lock = match dir.lock() {
        Err(e) if state::is_gone(&e) => return Ok(()),
        r => r?,
    };
    // What a dead container leaves: cgroups (usually removed by the monitor
    // already), temporary directories, and the state directory, in that
    // order so a failure leaves the state that lets `rm` be retried.
    let st = dir.read()?;
    crate::cgroup::remove_paths(&st.cgroup_paths)?;
    for d in &st.cleanup {
        if let Ok(p) = husk_sys::CBuf::<4096>::from(d).cstr() {
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
        let c = parse("stop", &a, TIME).unwrap();
        assert_eq!(
            (c.time, &c.root[..], c.operands.len()),
            (Some(&b"3"[..]), &b"/r"[..], 2)
        );
        let a = argv(&["-t5", "--root", "/x", "--", "-n"]);
        let c = parse("stop", &a, TIME).unwrap();
        assert_eq!(
            (c.time, &c.root[..], c.operands),
            (Some(&b"5"[..]), &b"/x"[..], &[&b"-n"[..]][..])
        );
        let a = argv(&["-f", "c", "-x"]);
        let c = parse("rm", &a, FORCE).unwrap();
        assert!(c.flags == FORCE && c.operands.len() == 2);
        let e = parse("rm", &argv(&["-x"]), FORCE).err().unwrap();
        assert_eq!(format!("{e:?}"), "husk: rm -x: unknown option");
        let e = parse("stop", &argv(&["-t"]), TIME).err().unwrap();
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
    fn json_strings_escape_quotes_controls_and_bad_utf8() {
        let mut o = Vec::new();
        json_str(&mut o, b"a\"b\\c\nd\x01\xffcaf\xc3\xa9");
        assert_eq!(o, b"\"a\\\"b\\\\c\\nd\\u0001\\u00ffcaf\xc3\xa9\"".to_vec());
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
