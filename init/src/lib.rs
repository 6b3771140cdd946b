//! husk-init's logic that needs no syscalls: the command line, where each
//! signal goes, the exit code, and the one field of /proc/PID/stat it reads.
//!
//! Everything here is a plain function over bytes so that it can be unit
//! tested on the host; main.rs owns the syscalls.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use husk_sys::fmt::{parse_u64, Sink};
use husk_sys::process::Exit;
use husk_sys::signal::{parse_signal, SIGTTIN, SIGTTOU};

/// The search path when PATH is unset, as in Docker and execvp(3).
pub const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub const VERSION: &str = concat!("husk-init ", env!("CARGO_PKG_VERSION"), "\n");

macro_rules! usage {
    () => {
        "Usage: husk-init [OPTIONS] [--] PROGRAM [ARGS...]\n       husk-init -P\n"
    };
}

/// Printed after a usage error, on stderr.
pub const USAGE: &str = concat!(usage!(), "Run husk-init -h for the options.\n");

/// `-h`, on stdout.
pub const HELP: &str = concat!(
    usage!(),
    "Run PROGRAM, forward signals to it, reap zombies, exit with its code.\n",
    "  -g          signal PROGRAM's process group, not PROGRAM alone\n",
    "  -p SIGNAL   signal to get (and forward) when our parent dies\n",
    "  -e CODE     exit code CODE becomes 0 (repeatable)\n",
    "  -r FROM:TO  forward signal FROM as TO, 0 drops it (repeatable)\n",
    "  -t SECONDS  grace period for the other processes (default 2)\n",
    "  -w          report reaped zombies\n",
    "  -v          more diagnostics (repeatable)\n",
    "  -P          pause until TERM or INT\n",
    "  -s          accepted; husk-init is a subreaper unless it is PID 1\n",
    "Env: TINI_SUBREAPER, TINI_KILL_PROCESS_GROUP (-g), TINI_VERBOSITY=N\n",
);

/// What the command line asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    /// Run the program whose name is argument N.
    Run(usize),
    Pause,
    Help,
    Version,
}

/// The parsed command line and environment.
pub struct Options {
    pub action: Action,
    /// `-g`: signal the child's process group, not the child alone.
    pub group: bool,
    /// `-p`: the parent-death signal, 0 for none.
    pub parent_death: i32,
    /// `-e`: a bit per exit code that becomes 0.
    pub expect: [u64; 4],
    /// `-r`: signal N is forwarded as `rewrite[N]`; 0 drops it.
    pub rewrite: [u8; 65],
    /// `-t`: seconds the other processes get between TERM and KILL.
    pub grace_secs: u64,
    /// `-w`: report each reaped zombie.
    pub warn_reap: bool,
    /// 0 quiet, 1 warnings (default), 2 and up more.
    pub verbosity: u64,
}

/// A usage error: `husk-init: -e 256: exit codes are 0..255`.
#[derive(Debug, PartialEq, Eq)]
pub struct Usage<'a> {
    /// The option letter, or 0 when the error is about a bare argument.
    pub opt: u8,
    pub arg: &'a [u8],
    pub why: &'static str,
}

impl Usage<'_> {
    pub fn render(&self, out: &mut impl Sink) {
        out.s("husk-init: ");
        if self.opt != 0 {
            out.c(b'-').c(self.opt);
            if !self.arg.is_empty() {
                out.c(b' ');
            }
        }
        if self.opt != 0 || !self.arg.is_empty() {
            out.b(self.arg).s(": ");
        }
        out.s(self.why).c(b'\n');
    }
}

fn usage<'a>(opt: u8, arg: &'a [u8], why: &'static str) -> Usage<'a> {
    Usage { opt, arg, why }
}

/// Parse `husk-init [OPTIONS] [--] PROGRAM [ARGS...]` the way getopt(3)
/// does for tini (`-vv`, `-e3`, `-e 3`), stopping at the first non-option so
/// that PROGRAM's own options stay its own. `arg(0)` is argv[0].
pub fn parse<'a>(
    argc: usize,
    arg: impl Fn(usize) -> &'a [u8],
    env: impl Fn(&[u8]) -> Option<&'a [u8]>,
) -> Result<Options, Usage<'a>> {
    let mut rewrite = [0u8; 65];
    for (sig, to) in rewrite.iter_mut().enumerate() {
        *to = sig as u8;
    }
    // Job control stays between the terminal and the child's process group:
    // husk-init's own TTIN/TTOU (from a tty write in the background) are not
    // the child's business.
    rewrite[SIGTTIN as usize] = 0;
    rewrite[SIGTTOU as usize] = 0;
    let mut o = Options {
        action: Action::Help,
        group: env(b"TINI_KILL_PROCESS_GROUP").is_some(),
        parent_death: 0,
        expect: [0; 4],
        rewrite,
        grace_secs: 2,
        warn_reap: false,
        // atoi(3) as in tini: junk reads as 0.
        verbosity: env(b"TINI_VERBOSITY").map_or(1, |v| parse_u64(v).unwrap_or(0)),
    };
    let mut pause = false;
    let mut i = 1;
    while i < argc {
        let a = arg(i);
        if a == b"--" {
            i += 1;
            break;
        }
        if a == b"--version" {
            o.action = Action::Version;
            return Ok(o);
        }
        if a.len() < 2 || a[0] != b'-' {
            break;
        }
        if a[1] == b'-' {
            return Err(usage(0, a, "unknown option"));
        }
        let mut j = 1;
        while j < a.len() {
            let c = a[j];
            j += 1;
            match c {
                b'h' => return Ok(o),
                b's' => {}
                b'g' => o.group = true,
                b'w' => o.warn_reap = true,
                b'v' => o.verbosity += 1,
                b'P' => pause = true,
                b'p' | b'e' | b'r' | b't' => {
                    let value = if j < a.len() {
                        let v = &a[j..];
                        j = a.len();
                        v
                    } else if i + 1 < argc {
                        i += 1;
                        arg(i)
                    } else {
                        return Err(usage(c, b"", "needs a value"));
                    };
                    o.set(c, value)?;
                }
                _ => return Err(usage(c, b"", "unknown option")),
            }
        }
        i += 1;
    }
    o.action = match (pause, i < argc) {
        (true, false) => Action::Pause,
        (true, true) => return Err(usage(b'P', b"", "takes no PROGRAM")),
        (false, true) => Action::Run(i),
        (false, false) => return Err(usage(0, b"", "missing PROGRAM")),
    };
    Ok(o)
}

impl Options {
    /// Apply an option that takes a value.
    fn set<'a>(&mut self, opt: u8, v: &'a [u8]) -> Result<(), Usage<'a>> {
        match opt {
            b'p' => self.parent_death = parse_signal(v).ok_or(usage(opt, v, "unknown signal"))?,
            b'e' => match parse_u64(v) {
                Some(code) if code <= 255 => self.expect[code as usize / 64] |= 1 << (code % 64),
                _ => return Err(usage(opt, v, "exit codes are 0..255")),
            },
            b'r' => {
                let bad = usage(opt, v, "expected FROM:TO");
                let colon = v.iter().position(|&c| c == b':').ok_or(bad)?;
                let (from, to) = (&v[..colon], &v[colon + 1..]);
                let from = parse_signal(from).ok_or(usage(opt, v, "unknown signal"))?;
                let to = if to == b"0" { 0 } else { parse_signal(to).ok_or(usage(opt, v, "unknown signal"))? };
                self.rewrite[from as usize] = to as u8;
            }
            _ => self.grace_secs = parse_u64(v).ok_or(usage(opt, v, "needs whole seconds"))?,
        }
        Ok(())
    }

    /// The signal to forward when `sig` arrives, or `None` to drop it.
    pub fn route(&self, sig: i32) -> Option<i32> {
        match self.rewrite.get(sig as usize) {
            Some(&to) if to != 0 => Some(to as i32),
            _ => None,
        }
    }

    /// husk-init's exit code for the main child's end: its code, 128+N for
    /// signal N as a shell reports it, then `-e` turns expected codes into 0.
    pub fn exit_code(&self, end: Exit) -> i32 {
        let code = end.shell_code() & 0xff;
        if self.expect[code as usize / 64] & (1 << (code % 64)) != 0 {
            0
        } else {
            code
        }
    }
}

/// A failed step, rendered as `husk-init: exec foo: ENOENT (No such file or
/// directory)`.
///
/// husk_sys::Error would do, but its table of every errno costs about 4 KiB
/// of husk-init's 16 KiB; these are the errnos husk-init's few syscalls can
/// return, and anything else prints as `errno N`.
pub struct Fail<'a> {
    pub op: &'static str,
    pub obj: &'a [u8],
    pub errno: i32,
}

/// Each entry is the errno as one byte, then `NAME (text)`, ended by NUL:
/// one string, so no table of pointers.
const ERRNOS: &[u8] = b"\x01EPERM (Operation not permitted)\0\
\x02ENOENT (No such file or directory)\0\
\x03ESRCH (No such process)\0\
\x07E2BIG (Argument list too long)\0\
\x08ENOEXEC (Exec format error)\0\
\x0bEAGAIN (Resource temporarily unavailable)\0\
\x0cENOMEM (Cannot allocate memory)\0\
\x0dEACCES (Permission denied)\0\
\x0eEFAULT (Bad address)\0\
\x14ENOTDIR (Not a directory)\0\
\x16EINVAL (Invalid argument)\0\
\x18EMFILE (Too many open files)\0\
\x1aETXTBSY (Text file busy)\0\
\x24ENAMETOOLONG (File name too long)\0\
\x26ENOSYS (Function not implemented)\0\
\x28ELOOP (Too many levels of symbolic links)\0";

/// `NAME (text)` for the errnos in [`ERRNOS`].
fn errno_text(errno: i32) -> Option<&'static [u8]> {
    ERRNOS.split(|&c| c == 0).find(|e| e.first() == Some(&(errno as u8)) && errno < 256).map(|e| &e[1..])
}

impl Fail<'_> {
    pub fn render(&self, out: &mut impl Sink) {
        out.s("husk-init: ").s(self.op);
        if !self.obj.is_empty() {
            out.c(b' ').b(self.obj);
        }
        out.s(": ");
        match errno_text(self.errno) {
            Some(text) => out.b(text),
            None => out.s("errno ").u(self.errno as u64),
        };
        out.c(b'\n');
    }
}

/// The exit status of a child whose exec failed, as shells report it:
/// 127 not found, 126 found but not executable, 1 anything else.
pub fn exec_failure_code(errno: i32) -> i32 {
    match errno {
        2 => 127,      // ENOENT
        8 | 13 => 126, // ENOEXEC, EACCES
        _ => 1,
    }
}

/// The parent pid in a /proc/PID/stat line, and whether the process is a
/// zombie. The command name may hold spaces and `)`, so the fields are
/// counted from the last `)`.
pub fn stat_parent(stat: &[u8]) -> Option<(i32, bool)> {
    let close = stat.iter().rposition(|&c| c == b')')?;
    let rest = stat.get(close + 2..)?;
    let mut fields = rest.split(|&c| c == b' ');
    let state = fields.next()?;
    let ppid = parse_u64(fields.next()?)?;
    Some((ppid as i32, state == b"Z"))
}

/// The names in a buffer of `struct linux_dirent64` records, as getdents64
/// fills it: `u64 ino; i64 off; u16 reclen; u8 type; char name[]` (NUL
/// padded). A short or corrupt record ends the walk.
pub fn dirent_names(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = buf;
    core::iter::from_fn(move || {
        let reclen = u16::from_ne_bytes([*rest.get(16)?, *rest.get(17)?]) as usize;
        let name = rest.get(19..reclen)?;
        rest = &rest[reclen..];
        name.split(|&c| c == 0).next()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&'static str]) -> Result<Options, Usage<'static>> {
        parse_env(args, &[])
    }

    fn parse_env(args: &[&'static str], env: &'static [(&str, &str)]) -> Result<Options, Usage<'static>> {
        let mut all = vec!["husk-init"];
        all.extend_from_slice(args);
        let all: &'static [&str] = Vec::leak(all);
        parse(
            all.len(),
            |i| all[i].as_bytes(),
            |name| env.iter().find(|(k, _)| k.as_bytes() == name).map(|(_, v)| v.as_bytes()),
        )
    }

    fn err(args: &[&'static str]) -> String {
        let e = parse_args(args).err().expect("a usage error");
        let mut b = husk_sys::CBuf::<256>::new();
        e.render(&mut b);
        String::from_utf8(b.bytes().to_vec()).unwrap()
    }

    #[test]
    fn parsing_stops_at_the_first_non_option() {
        assert_eq!(parse_args(&["prog", "-x"]).ok().unwrap().action, Action::Run(1));
        assert_eq!(parse_args(&["-g", "--", "-prog"]).ok().unwrap().action, Action::Run(3));
        assert_eq!(parse_args(&["-s", "-v", "prog"]).ok().unwrap().action, Action::Run(3));
        assert_eq!(parse_args(&["-", "x"]).ok().unwrap().action, Action::Run(1));
    }

    #[test]
    fn flags_bundle_and_values_attach_like_getopt() {
        let o = parse_args(&["-vvgw", "-e3", "-e", "4", "-t1", "prog"]).ok().unwrap();
        assert_eq!(o.verbosity, 3);
        assert!(o.group && o.warn_reap);
        assert_eq!(o.grace_secs, 1);
        assert_eq!(o.exit_code(Exit::Code(3)), 0);
        assert_eq!(o.exit_code(Exit::Code(4)), 0);
        assert_eq!(o.exit_code(Exit::Code(5)), 5);
        assert_eq!(parse_args(&["-ve", "7", "p"]).ok().unwrap().exit_code(Exit::Code(7)), 0);
    }

    #[test]
    fn help_version_and_pause() {
        assert_eq!(parse_args(&["-h"]).ok().unwrap().action, Action::Help);
        assert_eq!(parse_args(&["-g", "-h", "-x"]).ok().unwrap().action, Action::Help);
        assert_eq!(parse_args(&["--version"]).ok().unwrap().action, Action::Version);
        assert_eq!(parse_args(&["-P"]).ok().unwrap().action, Action::Pause);
        assert_eq!(err(&["-P", "sleep"]), "husk-init: -P: takes no PROGRAM\n");
    }

    #[test]
    fn usage_errors_name_the_option_and_the_value() {
        assert_eq!(err(&[]), "husk-init: missing PROGRAM\n");
        assert_eq!(err(&["-g"]), "husk-init: missing PROGRAM\n");
        assert_eq!(err(&["-x", "prog"]), "husk-init: -x: unknown option\n");
        assert_eq!(err(&["-gx", "prog"]), "husk-init: -x: unknown option\n");
        assert_eq!(err(&["--frob", "prog"]), "husk-init: --frob: unknown option\n");
        assert_eq!(err(&["-e"]), "husk-init: -e: needs a value\n");
        assert_eq!(err(&["-e", "256", "p"]), "husk-init: -e 256: exit codes are 0..255\n");
        assert_eq!(err(&["-e", "-1", "p"]), "husk-init: -e -1: exit codes are 0..255\n");
        assert_eq!(err(&["-p", "FOO", "p"]), "husk-init: -p FOO: unknown signal\n");
        assert_eq!(err(&["-r", "15", "p"]), "husk-init: -r 15: expected FROM:TO\n");
        assert_eq!(err(&["-r", "15:x", "p"]), "husk-init: -r 15:x: unknown signal\n");
        assert_eq!(err(&["-r", "1:99", "p"]), "husk-init: -r 1:99: unknown signal\n");
        assert_eq!(err(&["-r", ":1", "p"]), "husk-init: -r :1: unknown signal\n");
        assert_eq!(err(&["-t", "1.5", "p"]), "husk-init: -t 1.5: needs whole seconds\n");
    }

    #[test]
    fn parent_death_signal_takes_every_spelling() {
        for s in ["SIGUSR1", "USR1", "10", "usr1"] {
            assert_eq!(parse_args(&["-p", s, "p"]).ok().unwrap().parent_death, 10, "{s}");
        }
    }

    #[test]
    fn rewrites_route_drop_and_allow_realtime_signals() {
        let o =
            parse_args(&["-r", "USR1:USR2", "-r", "HUP:0", "-r", "RTMIN+3:TERM", "-r", "2:RTMAX", "p"]).ok().unwrap();
        assert_eq!(o.route(10), Some(12));
        assert_eq!(o.route(1), None);
        assert_eq!(o.route(37), Some(15));
        assert_eq!(o.route(2), Some(64));
        assert_eq!(o.route(15), Some(15));
        assert_eq!(o.route(38), Some(38));
        // Job control signals stop at husk-init unless explicitly rewritten.
        assert_eq!(o.route(21), None);
        assert_eq!(o.route(22), None);
        assert_eq!(o.route(20), Some(20));
        assert_eq!(o.route(0), None);
        assert_eq!(o.route(65), None);
    }

    #[test]
    fn exit_codes_follow_the_shell_and_then_expectations() {
        let o = parse_args(&["-e", "143", "-e", "0", "p"]).ok().unwrap();
        assert_eq!(o.exit_code(Exit::Signal(15)), 0);
        assert_eq!(o.exit_code(Exit::Signal(9)), 137);
        assert_eq!(o.exit_code(Exit::Code(255)), 255);
        assert_eq!(o.exit_code(Exit::Code(0)), 0);
        let plain = parse_args(&["p"]).ok().unwrap();
        assert_eq!(plain.exit_code(Exit::Code(0)), 0);
        assert_eq!(plain.exit_code(Exit::Signal(1)), 129);
    }

    #[test]
    fn environment_variables_as_in_tini() {
        let o = parse_env(&["-v", "p"], &[("TINI_VERBOSITY", "3"), ("TINI_KILL_PROCESS_GROUP", "1")]).ok().unwrap();
        assert_eq!(o.verbosity, 4);
        assert!(o.group);
        let o = parse_env(&["p"], &[("TINI_VERBOSITY", "x"), ("TINI_SUBREAPER", "1")]).ok().unwrap();
        assert_eq!(o.verbosity, 0);
        assert!(!o.group);
        assert_eq!(parse_args(&["p"]).ok().unwrap().verbosity, 1);
    }

    fn fail(op: &'static str, obj: &'static [u8], errno: i32) -> String {
        let mut b = husk_sys::CBuf::<256>::new();
        Fail { op, obj, errno }.render(&mut b);
        String::from_utf8(b.bytes().to_vec()).unwrap()
    }

    #[test]
    fn failures_name_the_step_the_object_and_the_errno() {
        assert_eq!(fail("exec", b"nope", 2), "husk-init: exec nope: ENOENT (No such file or directory)\n");
        assert_eq!(fail("signalfd", b"", 24), "husk-init: signalfd: EMFILE (Too many open files)\n");
        assert_eq!(fail("exec", b"x", 4000), "husk-init: exec x: errno 4000\n");
        // The texts are strerror(3)'s, as husk_sys knows them.
        let mut seen = 0;
        for n in 1..256 {
            if let Some(text) = errno_text(n) {
                let e = husk_sys::Errno(n);
                assert_eq!(String::from_utf8_lossy(text), format!("{} ({})", e.name().unwrap(), e.text().unwrap()));
                seen += 1;
            }
        }
        assert_eq!(seen, 16);
        assert_eq!(errno_text(256 + 2), None);
    }

    #[test]
    fn exec_failures_map_to_shell_codes() {
        assert_eq!(exec_failure_code(2), 127);
        assert_eq!(exec_failure_code(13), 126);
        assert_eq!(exec_failure_code(8), 126);
        assert_eq!(exec_failure_code(7), 1);
    }

    fn dirent(name: &str) -> Vec<u8> {
        let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
        let mut r = vec![0u8; reclen];
        r[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
        r[19..19 + name.len()].copy_from_slice(name.as_bytes());
        r
    }

    #[test]
    fn dirent_names_walks_getdents_records() {
        let mut buf = [dirent("."), dirent(".."), dirent("1"), dirent("self"), dirent("4194304")].concat();
        let names: Vec<&[u8]> = dirent_names(&buf).collect();
        assert_eq!(names, [&b"."[..], b"..", b"1", b"self", b"4194304"]);
        // A record cut short by the buffer's end is not read past.
        buf.truncate(buf.len() - 3);
        assert_eq!(dirent_names(&buf).count(), 4);
        assert_eq!(dirent_names(&[0u8; 40]).count(), 0);
    }

    #[test]
    fn stat_parent_survives_odd_command_names() {
        assert_eq!(stat_parent(b"42 (sleep) S 7 42 42 0 -1"), Some((7, false)));
        assert_eq!(stat_parent(b"42 (a) b) Z 1 42 42 0"), Some((1, true)));
        assert_eq!(stat_parent(b"42 (x y) R 1234 1"), Some((1234, false)));
        assert_eq!(stat_parent(b"42 (x"), None);
    }
}
