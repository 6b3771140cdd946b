//! husk-init as a user runs it. Every scenario runs twice: as PID 1 of a
//! new pid namespace (`unshare --fork --pid --mount-proc`) and as a plain
//! child of the test, where husk-init is a subreaper. The child programs
//! are the host's /bin/sh and coreutils.
use husk_tests::{bin, run, text, Scratch};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Pid1,
    Subreaper,
}
const MODES: [Mode; 2] = [Mode::Pid1, Mode::Subreaper];

/// The words that start husk-init in `mode`.
fn argv(mode: Mode) -> Vec<String> {
    let init = bin("husk-init").display().to_string();
    match mode {
        // --kill-child: if the test kills unshare, the namespace goes too.
        Mode::Pid1 => [which("unshare"), "--fork", "--pid", "--mount-proc", "--kill-child"]
            .iter()
            .map(|s| s.to_string())
            .chain([init])
            .collect(),
        Mode::Subreaper => vec![init],
    }
}

/// `husk-init OPTS -- sh -c SCRIPT`, run in `dir`.
/// A host program's path, so that tests may change the child's PATH.
fn which(prog: &str) -> &'static str {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path.split(':').map(|d| Path::new(d).join(prog)).find(|p| p.exists());
    let found = found.unwrap_or_else(|| panic!("{prog} is not installed"));
    Box::leak(found.display().to_string().into_boxed_str())
}

fn init_sh(mode: Mode, opts: &[&str], script: &str, dir: &Path) -> Command {
    let words = argv(mode);
    let mut c = Command::new(&words[0]);
    c.args(&words[1..]).args(opts).args(["--", "sh", "-c", script]).current_dir(dir);
    c
}

fn init_args(mode: Mode, args: &[&str]) -> Command {
    let words = argv(mode);
    let mut c = Command::new(&words[0]);
    c.args(&words[1..]).args(args);
    c
}

fn kill(pid: u32, sig: &str) {
    let st = Command::new("kill").args(["-s", sig, &pid.to_string()]).status().unwrap();
    assert!(st.success(), "kill -s {sig} {pid}");
}

/// Run to completion, but fail instead of hanging.
fn run_within(cmd: &mut Command, secs: u64) -> Output {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let (done, timer) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        let late = timer.recv_timeout(Duration::from_secs(secs)).is_err();
        if late {
            let _ = Command::new("kill").args(["-s", "KILL", &pid.to_string()]).status();
        }
        late
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    assert!(!watchdog.join().unwrap(), "{cmd:?} hung for {secs} s");
    out
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The pid whose parent is `ppid` (there is one: husk-init under unshare).
fn child_of(ppid: u32) -> u32 {
    let mut found = None;
    wait_for("husk-init under unshare", 5, || {
        found = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            (after.split(' ').nth(1)?.parse::<u32>().ok()? == ppid).then_some(pid)
        });
        found.is_some()
    });
    found.unwrap()
}

/// A husk-init running in the background; killed if the test fails.
struct Running {
    child: Child,
    init: u32,
}

impl Running {
    fn start(mut cmd: Command, mode: Mode) -> Running {
        let child = cmd.stdin(Stdio::null()).spawn().unwrap();
        let init = if mode == Mode::Pid1 { child_of(child.id()) } else { child.id() };
        // Signals sent before husk-init blocks them would kill it, or be
        // dropped by a PID 1 without handlers.
        wait_for("husk-init to block signals", 5, || {
            let exe = std::fs::read_link(format!("/proc/{init}/exe")).unwrap_or_default();
            let status = read(Path::new(&format!("/proc/{init}/status")));
            exe == bin("husk-init") && !status.contains("SigBlk:\t0000000000000000")
        });
        Running { child, init }
    }
    fn signal(&self, sig: &str) {
        kill(self.init, sig);
    }
    fn finish(&mut self, secs: u64) -> ExitStatus {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < end, "husk-init did not exit within {secs} s");
            thread::sleep(Duration::from_millis(5));
        }
    }
    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// Every process whose chain of parents leads to `root`.
fn descendants(root: u32) -> Vec<u32> {
    let parent: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()?))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.split_off(1)
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed test leaves husk-init and its tree behind: kill them all.
        if self.is_running() {
            for pid in descendants(self.child.id()) {
                let _ = Command::new("kill").args(["-s", "KILL", &pid.to_string()]).status();
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn exit_codes_0_to_255_pass_through() {
    let dir = Scratch::new("init-codes");
    for mode in MODES {
        for code in 0..=255 {
            let o = run(&mut init_sh(mode, &[], &format!("exit {code}"), dir.path()));
            assert_eq!(o.status.code(), Some(code), "{mode:?} exit {code}: {:?}", text(&o));
        }
    }
}

#[test]
fn death_by_signal_is_128_plus_n() {
    let dir = Scratch::new("init-sigdeath");
    for mode in MODES {
        for (sig, code) in [("TERM", 143), ("HUP", 129), ("QUIT", 131), ("KILL", 137)] {
            let script = format!("ulimit -c 0; kill -s {sig} $$; sleep 5");
            let o = run(&mut init_sh(mode, &[], &script, dir.path()));
            assert_eq!(o.status.code(), Some(code), "{mode:?} {sig}: {:?}", text(&o));
        }
    }
}

#[test]
fn exec_failures_exit_127_and_126_with_the_errno() {
    let dir = Scratch::new("init-exec");
    std::fs::write(dir.join("not-executable"), "#!/bin/sh\n").unwrap();
    std::fs::write(dir.join("garbage"), [0u8; 64]).unwrap();
    Command::new("chmod").arg("+x").arg(dir.join("garbage")).status().unwrap();
    let noexec = dir.join("not-executable").display().to_string();
    let garbage = dir.join("garbage").display().to_string();
    let cases: [(&str, i32, &str); 4] = [
        ("no-such-program-here", 127, "ENOENT (No such file or directory)"),
        ("/no/such/path", 127, "ENOENT (No such file or directory)"),
        (&noexec, 126, "EACCES (Permission denied)"),
        (&garbage, 126, "ENOEXEC (Exec format error)"),
    ];
    for mode in MODES {
        for (prog, code, why) in cases {
            let o = run(init_args(mode, &["--", prog]).current_dir(dir.path()));
            let (_, err) = text(&o);
            assert_eq!(o.status.code(), Some(code), "{mode:?} {prog}: {err}");
            assert_eq!(err, format!("husk-init: exec {prog}: {why}\n"), "{mode:?}");
        }
    }
}

#[test]
fn program_is_found_through_path_or_the_default_path() {
    let dir = Scratch::new("init-path");
    for mode in MODES {
        let o = run(init_args(mode, &["--", "env"]).env_remove("PATH").current_dir(dir.path()));
        assert_eq!(o.status.code(), Some(0), "{mode:?} {:?}", text(&o));
        let o = run(init_args(mode, &["true"]).env("PATH", dir.path()).current_dir(dir.path()));
        assert_eq!(o.status.code(), Some(127), "{mode:?} PATH without true");
    }
}

#[test]
fn usage_errors_exit_1_with_a_reason_and_the_usage() {
    let cases: [(&[&str], &str); 9] = [
        (&[], "husk-init: missing PROGRAM"),
        (&["-x", "true"], "husk-init: -x: unknown option"),
        (&["--frob", "true"], "husk-init: --frob: unknown option"),
        (&["-e", "256", "true"], "husk-init: -e 256: exit codes are 0..255"),
        (&["-p", "FOO", "true"], "husk-init: -p FOO: unknown signal"),
        (&["-r", "15", "true"], "husk-init: -r 15: expected FROM:TO"),
        (&["-r", "15:x", "true"], "husk-init: -r 15:x: unknown signal"),
        (&["-r", "1:99", "true"], "husk-init: -r 1:99: unknown signal"),
        (&["-t", "soon", "true"], "husk-init: -t soon: needs whole seconds"),
    ];
    for mode in MODES {
        for (args, line) in cases {
            let o = run(&mut init_args(mode, args));
            let (out, err) = text(&o);
            assert_eq!(o.status.code(), Some(1), "{mode:?} {args:?}: {err}");
            assert!(out.is_empty(), "{args:?}: {out}");
            assert_eq!(err.lines().next(), Some(line), "{mode:?} {args:?}");
            assert!(err.contains("Usage: husk-init [OPTIONS] [--] PROGRAM [ARGS...]"), "{err}");
        }
        let o = run(&mut init_args(mode, &["-h"]));
        assert_eq!(o.status.code(), Some(0));
        assert!(text(&o).0.starts_with("Usage: husk-init"), "{:?}", text(&o));
        let o = run(&mut init_args(mode, &["--version"]));
        assert_eq!(text(&o).0, format!("husk-init {}\n", env!("CARGO_PKG_VERSION")));
        // Options after PROGRAM are PROGRAM's.
        let o = run(&mut init_args(mode, &["sh", "-c", "exit 3", "-x"]));
        assert_eq!(o.status.code(), Some(3));
    }
}

/// The signals husk-init forwards: all but KILL/STOP (uncatchable), CHLD
/// (it reaps), TTIN/TTOU (job control) and the synchronous ones, which stay
/// unblocked in husk-init as in tini. Plus SIGRTMIN+3.
const FORWARDED: [u32; 20] = [1, 2, 3, 10, 12, 13, 14, 15, 16, 18, 20, 23, 24, 25, 26, 27, 28, 29, 30, 37];

/// A child that logs each signal in `sigs` to ./log, one line each.
fn logging_child(sigs: &[u32], on_term: &str) -> String {
    let mut s = String::new();
    for sig in sigs {
        s += &format!("trap 'echo {sig} >> log' {sig}; ");
    }
    s + &format!("{on_term} : > ready; while [ ! -e stop ]; do sleep 0.02; done; exit 5")
}

fn lines(p: &Path) -> Vec<String> {
    read(p).lines().map(str::to_string).collect()
}

#[test]
fn every_forwardable_signal_reaches_the_child_once_and_in_order() {
    for mode in MODES {
        let dir = Scratch::new("init-fwd");
        let mut init = Running::start(init_sh(mode, &[], &logging_child(&FORWARDED, ""), dir.path()), mode);
        wait_for("the child's traps", 5, || dir.join("ready").exists());
        for (n, sig) in FORWARDED.iter().enumerate() {
            init.signal(&sig.to_string());
            wait_for(&format!("signal {sig} in the log"), 5, || lines(&dir.join("log")).len() > n);
        }
        std::fs::write(dir.join("stop"), "").unwrap();
        assert_eq!(init.finish(5).code(), Some(5), "{mode:?}");
        let want: Vec<String> = FORWARDED.iter().map(|s| s.to_string()).collect();
        assert_eq!(lines(&dir.join("log")), want, "{mode:?}");
    }
}

#[test]
fn dash_g_signals_the_whole_process_group() {
    // The child signals its subshell with USR2 only after its own USR1 trap
    // ran; a USR1 that husk-init sent to the group is then already pending
    // there, and sh runs pending traps in signal order.
    let script = "trap 'echo child USR1 >> log; kill -USR2 $sub; wait $sub; exit 0' USR1; \
                  (trap 'echo sub USR1 >> log' USR1; trap 'echo sub USR2 >> log; exit 0' USR2; \
                  : > subready; while :; do sleep 0.02; done) & sub=$!; \
                  while [ ! -e subready ]; do sleep 0.01; done; : > ready; \
                  while :; do sleep 0.02; done";
    for mode in MODES {
        for (opts, want) in
            [(&[][..], &["child USR1", "sub USR2"][..]), (&["-g"][..], &["child USR1", "sub USR1", "sub USR2"][..])]
        {
            let dir = Scratch::new("init-group");
            let mut init = Running::start(init_sh(mode, opts, script, dir.path()), mode);
            wait_for("the subshell", 5, || dir.join("ready").exists());
            init.signal("USR1");
            assert_eq!(init.finish(5).code(), Some(0), "{mode:?} {opts:?}");
            let mut got = lines(&dir.join("log"));
            got.sort();
            assert_eq!(got, want, "{mode:?} {opts:?}");
        }
    }
}

#[test]
fn dash_r_rewrites_and_drops_signals() {
    let script = "for s in HUP USR1 USR2 PWR; do trap \"echo $s >> log\" $s; done; \
                  trap 'echo TERM >> log; exit 9' TERM; : > ready; while :; do sleep 0.02; done";
    for mode in MODES {
        let dir = Scratch::new("init-rewrite");
        let opts = ["-r", "USR1:USR2", "-r", "HUP:0", "-r", "RTMIN+3:PWR"];
        let mut init = Running::start(init_sh(mode, &opts, script, dir.path()), mode);
        wait_for("the child's traps", 5, || dir.join("ready").exists());
        init.signal("USR1");
        wait_for("USR2", 5, || lines(&dir.join("log")).len() == 1);
        // HUP goes first; were it forwarded, sh would run its trap before PWR's.
        init.signal("HUP");
        init.signal("37");
        wait_for("PWR", 5, || lines(&dir.join("log")).len() == 2);
        init.signal("TERM");
        assert_eq!(init.finish(5).code(), Some(9), "{mode:?}");
        assert_eq!(lines(&dir.join("log")), ["USR2", "PWR", "TERM"], "{mode:?}");
    }
}

#[test]
fn dash_e_remaps_exit_codes_to_0() {
    let dir = Scratch::new("init-expect");
    let cases: [(&[&str], &str, i32); 5] = [
        (&["-e", "3"], "exit 3", 0),
        (&["-e", "3"], "exit 4", 4),
        (&["-e3", "-e", "4"], "exit 4", 0),
        (&["-e", "143"], "kill -TERM $$", 0),
        (&["-e", "143"], "kill -HUP $$", 129),
    ];
    for mode in MODES {
        for (opts, script, code) in cases {
            let o = run(&mut init_sh(mode, opts, script, dir.path()));
            assert_eq!(o.status.code(), Some(code), "{mode:?} {opts:?} {script}");
        }
    }
}

#[test]
fn a_thousand_orphans_are_all_reaped() {
    // Each `(true &)` leaves an orphan that re-parents to husk-init. The
    // child then waits until it is husk-init's only child (zombies count).
    let script = "i=0; while [ $i -lt 1000 ]; do (true &); i=$((i+1)); done; n=0; \
                  while [ \"$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v p=$PPID '$4 == p' | wc -l)\" != 1 ]; do \
                    n=$((n+1)); [ $n -lt 1000 ] || exit 1; sleep 0.01; done; exit 0";
    for mode in MODES {
        let dir = Scratch::new("init-orphans");
        let o = run_within(&mut init_sh(mode, &["-w"], script, dir.path()), 30);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{mode:?}: zombies left");
        let reaped = err.lines().filter(|l| l.starts_with("husk-init: reaped zombie ")).count();
        assert_eq!(reaped, 1000, "{mode:?}");
    }
}

#[test]
fn coalesced_sigchld_never_hangs() {
    // The main child and two others exit together, so their SIGCHLDs merge.
    // -t 30: waiting out the grace period with nothing left would time out.
    let dir = Scratch::new("init-coalesce");
    for mode in MODES {
        for i in 0..200 {
            let o = run_within(&mut init_sh(mode, &["-t", "30"], "true & true & exit 3", dir.path()), 10);
            assert_eq!(o.status.code(), Some(3), "{mode:?} run {i}");
        }
    }
}

#[test]
fn inherited_signal_mask_and_ignored_signals_are_restored() {
    let dir = Scratch::new("init-sigmask");
    let env_args = ["--block-signal=USR1", "--block-signal=RTMIN+3", "--ignore-signal=HUP", "--ignore-signal=CHLD"];
    let status = |c: &mut Command| -> Vec<String> {
        let o = run(c);
        assert!(o.status.success(), "{:?}", text(&o));
        text(&o).0.lines().filter(|l| l.starts_with("SigBlk") || l.starts_with("SigIgn")).map(str::to_string).collect()
    };
    let mask = |line: &str| u64::from_str_radix(line.split('\t').nth(1).unwrap(), 16).unwrap();
    for mode in MODES {
        // The same start without husk-init: unshare has its own say on CHLD.
        let mut words = argv(mode);
        words.pop();
        let plain = status(Command::new("env").args(env_args).args(&words).args(["grep", "Sig", "/proc/self/status"]));
        // USR1 and RTMIN+3 blocked, HUP ignored: env did its part.
        assert_eq!(mask(&plain[0]) & (1 << 9 | 1 << 36), 1 << 9 | 1 << 36, "{plain:?}");
        assert_eq!(mask(&plain[1]) & 1, 1, "{plain:?}");
        if mode == Mode::Subreaper {
            assert_eq!(mask(&plain[1]) & 1 << 16, 1 << 16, "CHLD not ignored: {plain:?}");
        }
        let mut c = Command::new("env");
        c.args(env_args).args(argv(mode)).args(["--", "grep", "Sig", "/proc/self/status"]);
        assert_eq!(status(c.current_dir(dir.path())), plain, "{mode:?}");
        // An inherited ignored SIGCHLD must not let the kernel reap the child
        // before husk-init learns its exit code.
        let mut c = Command::new("env");
        c.args(env_args).args(argv(mode)).args(["--", "sh", "-c", "exit 6"]);
        assert_eq!(run(&mut c).status.code(), Some(6), "{mode:?}");
    }
}

#[test]
fn husk_init_holds_no_inherited_fd_and_no_cwd() {
    // fd 5 and the cwd stay the child's; husk-init drops its fd 5 and moves
    // to / right after the spawn, so the child polls for that.
    let check = "[ -e /proc/$$/fd/5 ] || exit 2; [ \"$(pwd)\" = \"$WANT\" ] || exit 3; n=0; \
                 while [ -e /proc/$PPID/fd/5 ] || [ \"$(readlink /proc/$PPID/cwd)\" != / ]; do \
                   n=$((n+1)); [ $n -lt 500 ] || exit 4; sleep 0.01; done; exit 0";
    for mode in MODES {
        let dir = Scratch::new("init-hygiene");
        let mut c = Command::new("sh");
        c.args(["-c", "exec 5> fd5; exec \"$@\"", "sh"]).args(argv(mode)).args(["--", "sh", "-c", check]);
        c.current_dir(dir.path()).env("WANT", dir.path());
        let o = run(&mut c);
        assert_eq!(o.status.code(), Some(0), "{mode:?} {:?}", text(&o));
    }
}

#[test]
fn dash_p_forwards_the_parent_death_signal() {
    let script = "trap 'echo got > dead; exit 0' USR1; : > ready; while :; do sleep 0.02; done";
    for mode in MODES {
        let dir = Scratch::new("init-pdeath");
        // The parent that dies: unshare itself, or a shell that waits.
        let mut c = match mode {
            Mode::Pid1 => init_sh(mode, &["-p", "SIGUSR1"], script, dir.path()),
            Mode::Subreaper => {
                let mut c = Command::new("sh");
                c.args(["-c", "\"$@\"; :", "sh"]).args(argv(mode)).args(["-p", "SIGUSR1", "--", "sh", "-c", script]);
                c.current_dir(dir.path());
                c
            }
        };
        let mut parent = c.stdin(Stdio::null()).spawn().unwrap();
        wait_for("the child", 5, || dir.join("ready").exists());
        parent.kill().unwrap();
        parent.wait().unwrap();
        wait_for("USR1 after the parent died", 5, || read(&dir.join("dead")) == "got\n");
    }
}

/// A grandchild that traps TERM and writes a file, one that ignores TERM,
/// and a main child that exits 7 once both are ready.
/// Their output goes to /dev/null, or a survivor would hold the test's pipes.
const GRANDCHILDREN: &str = "exec >/dev/null 2>&1; \
                             sh -c 'echo $$ > trapper; trap \"echo term > trapped; exit 0\" TERM; : > r1; \
                             while :; do sleep 0.02; done' & \
                             sh -c 'echo $$ > stubborn; trap \"\" TERM; : > r2; while :; do sleep 0.02; done' & \
                             while [ ! -e r1 ] || [ ! -e r2 ]; do sleep 0.01; done; exit 7";

fn pid_in(p: &Path) -> u32 {
    read(p).trim().parse().unwrap()
}

#[test]
fn grace_period_terms_then_kills_the_rest() {
    for mode in MODES {
        let dir = Scratch::new("init-grace");
        let start = Instant::now();
        let o = run_within(&mut init_sh(mode, &["-t", "1"], GRANDCHILDREN, dir.path()), 20);
        let took = start.elapsed();
        assert_eq!(o.status.code(), Some(7), "{mode:?} {:?}", text(&o));
        assert_eq!(read(&dir.join("trapped")), "term\n", "{mode:?}: TERM trap did not run");
        // The stubborn one outlives TERM, so the grace period is used up...
        assert!(took >= Duration::from_millis(900), "{mode:?}: exited after {took:?}");
        // ...and then it is KILLed: 1 s of grace plus slack.
        assert!(took < Duration::from_secs(3), "{mode:?}: took {took:?}");
        if mode == Mode::Subreaper {
            let stubborn = pid_in(&dir.join("stubborn"));
            assert!(!Path::new(&format!("/proc/{stubborn}")).exists(), "stubborn {stubborn} survived");
        }
    }
}

#[test]
fn dash_t_0_exits_at_once_like_tini() {
    for mode in MODES {
        let dir = Scratch::new("init-t0");
        let o = run_within(&mut init_sh(mode, &["-t", "0"], GRANDCHILDREN, dir.path()), 20);
        assert_eq!(o.status.code(), Some(7), "{mode:?} {:?}", text(&o));
        if mode == Mode::Subreaper {
            // tini leaves the others to the next reaper up, untouched.
            for f in ["trapper", "stubborn"] {
                let pid = pid_in(&dir.join(f));
                assert!(Path::new(&format!("/proc/{pid}")).exists(), "{f} was killed");
                kill(pid, "KILL");
            }
        }
        // As PID 1 the kernel SIGKILLs the namespace: no TERM, so no trap.
        thread::sleep(Duration::from_millis(100));
        assert!(!dir.join("trapped").exists(), "{mode:?}: got TERM");
    }
}

#[test]
fn pause_mode_sleeps_until_term_or_int() {
    let dir = Scratch::new("init-pause");
    for mode in MODES {
        for stop in ["TERM", "INT"] {
            let mut c = init_args(mode, &["-P"]);
            c.current_dir(dir.path());
            let mut init = Running::start(c, mode);
            init.signal("HUP");
            init.signal("USR1");
            thread::sleep(Duration::from_millis(100));
            assert!(init.is_running(), "{mode:?}: HUP or USR1 ended pause mode");
            init.signal(stop);
            assert_eq!(init.finish(5).code(), Some(0), "{mode:?} {stop}");
        }
    }
}

#[test]
fn ctrl_c_on_a_terminal_reaches_the_interactive_child() {
    // script(1) gives the command a pty; ^C on it signals the foreground
    // process group, which husk-init handed to the child with tcsetpgrp.
    let child = "read -r pid comm state ppid pgrp sid tty tpgid rest < /proc/self/stat; \
                 echo fg=$pgrp:$tpgid; echo ready; exec sleep 30";
    for mode in MODES {
        let mut words = argv(mode);
        words.retain(|w| w != "--kill-child");
        let cmd = format!("{} -- sh -c '{child}'", words.join(" "));
        let mut script = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = script.stdout.take().unwrap();
        let sink = out.clone();
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let seen = || String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
        wait_for("ready on the pty", 10, || seen().contains("ready"));
        let mut stdin = script.stdin.take().unwrap();
        stdin.write_all(b"\x03").unwrap();
        let st = script.wait().unwrap();
        drop(stdin);
        reader.join().unwrap();
        let shown = seen();
        assert_eq!(st.code(), Some(130), "{mode:?}: {shown}");
        let fg = shown.lines().find_map(|l| l.trim().strip_prefix("fg=")).unwrap_or("").to_string();
        let (pgrp, tpgid) = fg.split_once(':').unwrap_or(("", "?"));
        assert_eq!(pgrp, tpgid, "{mode:?}: the child is not the terminal's foreground: {shown}");
    }
}

fn voluntary_switches(pid: u32) -> u64 {
    let status = read(Path::new(&format!("/proc/{pid}/status")));
    let line = status.lines().find(|l| l.starts_with("voluntary_ctxt_switches")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn idle_husk_init_makes_no_syscalls() {
    let handles: Vec<_> = MODES
        .into_iter()
        .map(|mode| {
            thread::spawn(move || {
                let dir = Scratch::new("init-idle");
                let mut init = Running::start(init_sh(mode, &[], "exec sleep 60", dir.path()), mode);
                thread::sleep(Duration::from_millis(300));
                let before = voluntary_switches(init.init);
                thread::sleep(Duration::from_secs(2));
                let after = voluntary_switches(init.init);
                assert_eq!(before, after, "{mode:?}: husk-init woke up while idle");
                init.signal("TERM");
                assert_eq!(init.finish(5).code(), Some(143), "{mode:?}");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
