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

// Every command's options, as bits: each command passes the ones it takes.
const ALL: u16 = 1;
const JSON: u16 = 2;
const FORCE: u16 = 4;
const TIME: u16 = 8;
pub(crate) const ROOT: u16 = 16;
pub(crate) const DETACH: u16 = 32;
pub(crate) const USER: u16 = 64;
pub(crate) const ENV: u16 = 128;
pub(crate) const WORKDIR: u16 = 256;
/// The options that take a value (`-t 5`, `-t5`, `--time 5`, `--time=5`).
const VALUED: u16 = TIME | ROOT | USER | ENV | WORKDIR;
const OPTIONS: [(&str, u16); 16] = [
    ("--root", ROOT),
    ("-a", ALL),
    ("--all", ALL),
    ("--json", JSON),
    ("-f", FORCE),
    ("--force", FORCE),
    ("-t", TIME),
    ("--time", TIME),
    ("-d", DETACH),
    ("--detach", DETACH),
    ("-u", USER),
    ("--user", USER),
    ("-e", ENV),
    ("--env", ENV),
    ("-w", WORKDIR),
    ("--workdir", WORKDIR),
];

/// The option at `args[*i]` of `cmd`, which takes the options in `allowed`:
/// its bit and value (empty for a flag), or `None` at the first operand
/// (`*i` then indexes it) or after `--`. Shared by these commands and
/// `husk exec`.
pub(crate) fn next_opt<'a>(
    cmd: &'static str,
    args: &[&'a [u8]],
    i: &mut usize,
    allowed: u16,
) -> Result<Option<(u16, &'a [u8])>> {
    let Some(&a) = args.get(*i) else {
        return Ok(None);
    };
    if a.len() < 2 || a.first() != Some(&b'-') {
        return Ok(None);
    }
    *i += 1;
    if a == b"--" {
        return Ok(None);
    }
    let (name, inline) = match a.iter().position(|&b| b == b'=') {
        Some(e) if a.starts_with(b"--") => (a.split_at(e).0, a.get(e + 1..)),
        _ if a.starts_with(b"--") => (a, None),
        // `-t5`: a short option glued to its value.
        _ => (a.get(..2).unwrap_or(a), a.get(2..).filter(|v| !v.is_empty())),
    };
    let mut bit = 0;
    for (o, b) in OPTIONS {
        if o.as_bytes() == name {
            bit = b & allowed;
        }
    }
    if bit == 0 || (bit & VALUED == 0 && inline.is_some()) {
        return Err(Error::msg(cmd, a, "unknown option"));
    }
    let v = match inline {
        Some(v) => v,
        None if bit & VALUED == 0 => b"",
        None => {
            *i += 1;
            match args.get(*i - 1) {
                Some(v) => v,
                None => return Err(Error::msg(cmd, a, "needs a value")),
            }
        }
    };
    Ok(Some((bit, v)))
}

/// Options of one command: `--root DIR` anywhere before the first operand,
/// the command's own flags, then the operands.
struct Cmd<'a> {
    root: Vec<u8>,
    flags: u16,
    /// `-t SECONDS` (`-t5`, `--time=5`).
    time: Option<&'a [u8]>,
    operands: &'a [&'a [u8]],
}

/// Split `args`; `allowed` holds the command's flag bits.
fn parse<'a>(cmd: &'static str, args: &'a [&'a [u8]], allowed: u16) -> Result<Cmd<'a>> {
    let (mut root, mut flags, mut time) = (None, 0, None);
    let mut i = 0;
    while let Some((bit, v)) = next_opt(cmd, args, &mut i, allowed | ROOT)? {
        match bit {
            ROOT => root = Some(v),
            TIME => time = Some(v),
            _ => flags |= bit,
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
    r.unwrap_or_else(fail)
}

#[cold]
fn fail(e: Error) -> i32 {
    e.print("husk");
    FAILED
}

fn usage(text: &'static str) -> Error {
    Error::msg("", b"", text)
}

// ---- ps and state -----------------------------------------------------------

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
    let (all, json) = (c.flags & ALL != 0, c.flags & JSON != 0);
    let mut out = Vec::new();
    let mut cells = HEADER.as_bytes().to_vec();
    let now = state::now();
    let mut why = Vec::new();
    for name in state::list(&c.root)? {
        let mut st = State::default();
        why.clear();
        let row = StateDir::open(&c.root, &name).and_then(|d| {
            d.read_into(&mut st)?;
            Ok(seen(&d, &st))
        });
        // `None`: a corrupt state, `why` says how.
        let s = match row {
            // Removed since the listing: not a container any more.
            Err(e) if state::is_gone(&e) => continue,
            Err(e) => {
                e.render("husk", &mut why);
                None
            }
            Ok(s) => Some(s),
        };
        if !all && s != Some(Seen::Running) {
            continue;
        }
        if !json {
            row_cells(&mut cells, &name, s.map(|s| (s, &st)), now);
            continue;
        }
        out.push(if out.is_empty() { b'[' } else { b',' });
        match s {
            Some(s) => state_json(&mut out, s, &st),
            None => {
                out.s("{\"name\":");
                json_str(&mut out, &name);
                out.s(",\"status\":\"corrupt\",\"error\":");
                json_str(&mut out, &why);
                out.push(b'}');
            }
        }
    }
    if !json {
        pad(&mut out, &cells);
    } else {
        if out.is_empty() {
            out.push(b'[');
        }
        out.s("]\n");
    }
    stdout().b(&out);
    Ok(0)
}

/// The ps table's first row. Cells are kept in one buffer, each ended by
/// a NUL (no cell holds one: names are checked, commands sanitized).
const HEADER: &str = "NAME\0PID\0STATUS\0CREATED\0COMMAND\0";

/// The ps table: NAME PID STATUS CREATED COMMAND, columns padded to fit.
#[cfg(test)]
fn table(out: &mut Vec<u8>, rows: &[Row], now: u64) {
    let mut cells = HEADER.as_bytes().to_vec();
    for (name, row) in rows {
        row_cells(&mut cells, name, row.as_ref().ok().map(|(s, st)| (*s, st)), now);
    }
    pad(out, &cells);
}

#[cfg(test)]
type Row = (Vec<u8>, Result<(Seen, State)>);

/// Append the five cells of one container (`None`: its state is corrupt).
fn row_cells(c: &mut Vec<u8>, name: &[u8], row: Option<(Seen, &State)>, now: u64) {
    c.b(name).c(0);
    let Some((s, st)) = row else {
        c.s("-\0corrupt\0-\0\0");
        return;
    };
    match s {
        Seen::Running | Seen::Created if st.pid > 0 => c.u(st.pid as u64),
        _ => c.s("-"),
    };
    c.c(0);
    match s {
        Seen::Exited(code) => c.s("exited (").i(code as i64).s(")"),
        s => c.s(seen_word(s)),
    };
    let secs = now.saturating_sub(st.created);
    let (n, unit) = match secs {
        0..=59 => (secs, "s ago"),
        60..=3599 => (secs / 60, "m ago"),
        3600..=86399 => (secs / 3600, "h ago"),
        _ => (secs / 86400, "d ago"),
    };
    c.c(0).u(n).s(unit).c(0);
    for (i, a) in st.command.iter().enumerate() {
        if i > 0 {
            c.push(b' ');
        }
        // One line per container, whatever the arguments hold.
        for &b in a {
            c.push(if b < b' ' || b == 0x7f { b'?' } else { b });
        }
    }
    c.push(0);
}

/// Write `cells` five to a line, every column padded to its widest cell.
fn pad(out: &mut Vec<u8>, cells: &[u8]) {
    let cells = cells.strip_suffix(&[0]).unwrap_or(cells);
    let mut width = [0usize; 5];
    for (i, cell) in cells.split(|&b| b == 0).enumerate() {
        width[i % 5] = width[i % 5].max(cell.len() + 3);
    }
    for (i, cell) in cells.split(|&b| b == 0).enumerate() {
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
            Err(e) => (e.valid_up_to(), e.error_len().unwrap_or(rest.len() - e.valid_up_to())),
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
    out.s(",\"status\":\"").s(seen_word(s)).s("\",\"exit_code\":");
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
    single(args, false)
}

/// `husk wait NAME`: block until the container exits, print its exit code
/// and exit with it.
pub fn wait(args: &[&[u8]]) -> i32 {
    single(args, true)
}

/// `state` or (`wait`) `wait`: its one line of output goes out on success only.
fn single(args: &[&[u8]], wait: bool) -> i32 {
    let mut out = Vec::new();
    let r = inspect(args, wait, &mut out);
    if let Ok(code) = r {
        if wait {
            out.i(code as i64);
        }
        stdout().b(&out).c(b'\n');
    }
    done(r)
}

fn inspect(args: &[&[u8]], wait: bool, out: &mut Vec<u8>) -> Result<i32> {
    let (cmd, text) = match wait {
        true => ("wait", "usage: husk wait NAME"),
        false => ("state", "usage: husk state NAME"),
    };
    let c = parse(cmd, args, 0)?;
    let [name] = c.operands else {
        return Err(usage(text));
    };
    let dir = StateDir::open(&c.root, name)?;
    // The monitor holds its lock until it has written the code.
    if wait {
        if let Some(code) = dir.wait_monitor()? {
            return Ok(code);
        }
    }
    let mut st = State::default();
    dir.read_into(&mut st)?;
    if !wait {
        state_json(out, seen(&dir, &st), &st);
        return Ok(0);
    }
    // The monitor died without a code: the state may still have one;
    // else wait for the orphaned init to end, and say we cannot know.
    if let Status::Exited(code) = st.status {
        return Ok(code);
    }
    if let Some(fd) = open_init(name, &st)? {
        ppoll(fd.fd(), POLLIN, None).at("wait for", name)?;
    }
    Err(Error::msg("wait", name, "exit status unknown: the container's monitor died"))
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

fn signal(fd: &OwnedFd, sig: i32, name: &[u8]) -> Result<()> {
    pidfd_send_signal(fd.fd(), sig).at("kill", name)
}

/// `husk kill NAME [SIGNAL]`: signal the container's init (default TERM),
/// which forwards it to the container's processes.
pub fn kill(args: &[&[u8]]) -> i32 {
    each(args, "kill", 0, "usage: husk kill NAME [SIGNAL]")
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

/// `kill`, `stop` or `rm` (told apart by the flags they allow: none, TIME,
/// FORCE) on every NAME; one failure does not stop the others.
fn each(args: &[&[u8]], cmd: &'static str, allowed: u16, text: &'static str) -> i32 {
    let c = match parse(cmd, args, allowed) {
        Ok(c) if c.operands.is_empty() => return fail(usage(text)),
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let grace = match c.time.map(husk_sys::fmt::parse_u64) {
        None => 10,
        Some(Some(s)) if s <= 1_000_000 => s,
        Some(_) => {
            let v = c.time.unwrap_or_default();
            return fail(Error::msg("stop -t", v, "not a number of seconds"));
        }
    };
    let mut names = c.operands;
    let mut sig = if allowed == FORCE { SIGKILL } else { SIGTERM };
    if allowed == 0 {
        match names {
            [_] => {}
            [n, s] => {
                sig = match parse_signal(s) {
                    Some(sig) => sig,
                    None => return fail(Error::msg("signal", s, "invalid signal")),
                };
                names = core::slice::from_ref(n);
            }
            _ => return fail(usage(text)),
        }
    }
    let mut code = 0;
    for name in names {
        let mut st = State::default();
        let op = (allowed, c.flags & FORCE != 0, sig, grace);
        if let Err(e) = act(&c.root, name, op, &mut st) {
            code = fail(e);
        }
    }
    code
}

/// One container of [`each`]; `op` is (command, `-f`, signal, grace).
/// kill signals the init; stop then waits up to `grace` seconds for it to
/// end and KILLs it; rm (KILL with `-f`) then removes what is left.
fn act(root: &[u8], name: &[u8], op: (u16, bool, i32, u64), st: &mut State) -> Result<()> {
    let (cmd, force, sig, grace) = op;
    let dir = StateDir::open(root, name)?;
    let init = {
        // The lock waits out a `husk run` still starting this container.
        let _lock = dir.lock()?;
        match dir.read_into(st) {
            Ok(()) => {}
            // Nothing in a damaged file can be trusted, not even its pid or
            // cgroup paths: -f removes only the state directory.
            Err(e) if force && e.errno.0 == 0 => return dir.remove(),
            Err(e) => return Err(e),
        }
        let init = open_init(name, st)?;
        match &init {
            None if cmd == 0 => return Err(Error::msg("kill", name, "container is not running")),
            Some(_) if cmd == FORCE && !force => {
                return Err(Error::msg("rm", name, "container is running (stop it, or use rm -f)"))
            }
            Some(fd) => signal(fd, sig, name)?,
            None => {}
        }
        init
    };
    if cmd == 0 {
        return Ok(());
    }
    if let (TIME, Some(fd)) = (cmd, &init) {
        // A pidfd polls readable once its process has exited.
        if ppoll(fd.fd(), POLLIN, Some(grace * 1_000_000_000)).at("wait for", name)? == 0 {
            signal(fd, SIGKILL, name)?;
            ppoll(fd.fd(), POLLIN, None).at("wait for", name)?;
        }
    }
    // Without the lock, which the monitor needs to record the exit (it may
    // remove the directory itself: `--rm`). No monitor: no wait.
    wait_gone(&dir)?;
    if cmd == TIME {
        return Ok(());
    }
    let _lock = match dir.lock() {
        Err(e) if state::is_gone(&e) => return Ok(()),
        r => r?,
    };
    // What a dead container leaves: cgroups (usually removed by the monitor
    // already), temporary directories, and the state directory, in that
    // order so a failure leaves the state that lets `rm` be retried.
    dir.read_into(st)?;
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

/// `dir.wait_monitor()`, where a container that went meanwhile (`--rm`,
/// a concurrent `rm`) is `Ok(None)` too.
fn wait_gone(dir: &StateDir) -> Result<Option<i32>> {
    match dir.wait_monitor() {
        Err(e) if state::is_gone(&e) => Ok(None),
        r => r,
    }
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
        assert_eq!((c.time, &c.root[..], c.operands.len()), (Some(&b"3"[..]), &b"/r"[..], 2));
        let a = argv(&["-t5", "--root", "/x", "--", "-n"]);
        let c = parse("stop", &a, TIME).unwrap();
        assert_eq!((c.time, &c.root[..], c.operands), (Some(&b"5"[..]), &b"/x"[..], &[&b"-n"[..]][..]));
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
            ("a".into(), Ok((Seen::Running, st(42, Status::Running, &["sleep", "9"])))),
            ("long-name".into(), Ok((Seen::Exited(137), st(43, Status::Exited(137), &["sh", "-c", "a\nb"])))),
            ("gone".into(), Ok((Seen::Unknown, st(44, Status::Running, &["x"])))),
            ("bad".into(), Err(Error::msg("read", b"f", "corrupt state file"))),
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
        let st = State { name: "c".into(), pid: 7, created: 5, command: vec![b"true".to_vec()], ..State::default() };
        let mut out = Vec::new();
        state_json(&mut out, Seen::Exited(3), &st);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"name":"c","pid":7,"status":"exited","exit_code":3,"rootfs":"","cgroup":[],"created":5,"command":["true"]}"#
        );
    }
}
