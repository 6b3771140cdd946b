//! Container lifecycle (issue 5): `husk run -d`, `ps`, `exec`, `kill`,
//! `stop`, `wait`, `rm`, `state`, as a user runs them. Every test uses its
//! own state root and container names, and ends by checking that nothing
//! was left behind: no state directory, no cgroup, no host mount.
use husk_tests::{bin, is_root, run, text, Scratch};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A busybox rootfs with a user 1000 and the usual mount points.
fn rootfs(s: &Scratch) -> PathBuf {
    let r = s.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "home/u", "root"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
    let list = run(Command::new("/bin/busybox").arg("--list"));
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        let _ = std::os::unix::fs::symlink("busybox", r.join("bin").join(applet));
    }
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\nu:x:1000:\n").unwrap();
    r
}

/// One test's world: a state root, a rootfs, and names unique to the test.
struct World {
    s: Scratch,
    root: PathBuf,
    rootfs: PathBuf,
    tag: String,
}

impl World {
    fn new(tag: &str) -> Option<World> {
        if !is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        let s = Scratch::new(&format!("life-{tag}"));
        let rootfs = rootfs(&s);
        let root = s.join("state");
        Some(World { s, root, rootfs, tag: format!("{tag}{}", std::process::id() % 100000) })
    }
    fn name(&self, n: &str) -> String {
        format!("{n}-{}", self.tag)
    }
    /// `husk CMD --root ROOT ARGS...`
    fn cmd(&self, cmd: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin("husk"));
        c.arg(cmd).arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c
    }
    fn husk(&self, cmd: &str, args: &[&str]) -> Output {
        run(&mut self.cmd(cmd, args))
    }
    /// `husk run -d --name NAME [OPTS] ROOTFS COMMAND...`, which must work.
    fn start(&self, name: &str, opts: &[&str], command: &[&str]) {
        let o = self.try_start(name, opts, command);
        assert_eq!(o.status.code(), Some(0), "run -d {name}: {:?}", text(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), name);
    }
    fn try_start(&self, name: &str, opts: &[&str], command: &[&str]) -> Output {
        let mut a = vec!["-d", "--name", name];
        a.extend_from_slice(opts);
        a.push(self.rootfs.to_str().unwrap());
        a.extend_from_slice(command);
        self.husk("run", &a)
    }
    fn state_json(&self, name: &str) -> String {
        let o = self.husk("state", &[name]);
        assert_eq!(o.status.code(), Some(0), "state {name}: {:?}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    }
    fn pid(&self, name: &str) -> i32 {
        field(&self.state_json(name), "pid").parse().unwrap()
    }
    /// The state directory and cgroups of `name` are gone, and no mount on
    /// the host mentions the state root or the rootfs.
    fn assert_gone(&self, name: &str) {
        assert!(!self.root.join(name).exists(), "state dir of {name} left behind");
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd {
                let n = e.unwrap().file_name().into_string().unwrap();
                assert!(!n.starts_with(".new-"), "half-created state dir {n} left behind");
            }
        }
        let cgroups = cgroups_named(name);
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        for m in [self.root.to_str().unwrap(), self.rootfs.to_str().unwrap()] {
            assert!(!mi.contains(m), "a host mount under {m} left behind:\n{mi}");
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Whatever a failed assertion left running.
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for e in rd.flatten() {
                let n = e.file_name().into_string().unwrap();
                let _ = self.husk("rm", &["-f", &n]);
            }
        }
        let _ = &self.s;
    }
}

/// Every cgroup directory called `name` below a `husk` parent.
fn cgroups_named(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = h.path().join("husk").join(name);
        if p.exists() {
            out.push(p);
        }
    }
    out
}

/// The value of `"key":` in a flat JSON object, without quotes.
fn field(json: &str, key: &str) -> String {
    let k = format!("\"{key}\":");
    let at = json.find(&k).unwrap_or_else(|| panic!("no {key} in {json}")) + k.len();
    let rest = &json[at..];
    match rest.strip_prefix('"') {
        Some(s) => s[..s.find('"').unwrap()].to_string(),
        None => rest[..rest.find([',', '}']).unwrap()].to_string(),
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assert_fails(o: &Output, code: i32, msg: &str) {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(code), "stdout {out:?} stderr {err:?}");
    assert!(err.contains(msg), "expected {msg:?} in {err:?}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// kill(1), so the tests need no libc.
fn send_signal(pid: u32, sig: &str) {
    let o = run(Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()));
    assert!(o.status.success(), "{:?}", text(&o));
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

#[test]
fn a_detached_container_is_listed_waited_for_and_removed() {
    let Some(w) = World::new("basic") else { return };
    let n = w.name("c");
    w.start(&n, &[], &["sh", "-c", "sleep 1; exit 3"]);
    let ps = stdout(&w.husk("ps", &[]));
    let mut lines = ps.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PID", "STATUS", "CREATED", "COMMAND"]
    );
    let row: Vec<&str> = lines.next().unwrap_or_else(|| panic!("{n} not listed: {ps}")).split_whitespace().collect();
    assert_eq!((row[0], row[2]), (n.as_str(), "running"), "{ps}");
    assert!(alive(row[1].parse().unwrap()));
    assert_eq!(row[5..], ["sh", "-c", "sleep", "1;", "exit", "3"]);
    let j = w.state_json(&n);
    assert_eq!(
        (field(&j, "name"), field(&j, "status"), field(&j, "exit_code")),
        (n.clone(), "running".into(), "null".into())
    );
    assert!(
        j.contains(&format!("\"rootfs\":\"{}\"", w.rootfs.display())) && j.contains("\"command\":[\"sh\",\"-c\""),
        "{j}"
    );

    let o = w.husk("wait", &[&n]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(3), "3\n".into()));
    // Waiting again returns at once with the same code.
    assert_eq!(w.husk("wait", &[&n]).status.code(), Some(3));
    assert_eq!(stdout(&w.husk("ps", &[])).lines().count(), 1, "only the header once it exited");
    let all = stdout(&w.husk("ps", &["-a"]));
    assert!(all.lines().any(|l| l.starts_with(&n) && l.contains("exited (3)")), "{all}");
    let j = w.state_json(&n);
    assert_eq!((field(&j, "status"), field(&j, "exit_code")), ("exited".into(), "3".into()));
    // The monitor cleaned the cgroup up when the container ended.
    assert!(cgroups_named(&n).is_empty());

    let o = w.husk("rm", &[&n]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    w.assert_gone(&n);
    assert_fails(&w.husk("state", &[&n]), 125, &format!("husk: {n}: no such container"));
}

#[test]
fn unknown_names_and_bad_input_are_one_line_errors() {
    let Some(w) = World::new("bad") else { return };
    let n = w.name("c");
    let nosuch = "husk: nosuch: no such container";
    for (cmd, args) in [
        ("state", &["nosuch"][..]),
        ("kill", &["nosuch"]),
        ("stop", &["nosuch"]),
        ("wait", &["nosuch"]),
        ("rm", &["nosuch"]),
        ("rm", &["-f", "nosuch"]),
        ("exec", &["nosuch", "true"]),
    ] {
        assert_fails(&w.husk(cmd, args), 125, nosuch);
    }
    w.start(&n, &[], &["sleep", "100"]);
    let cases: &[(&str, &[&str], &str)] = &[
        ("kill", &[&n, "FOO"], "husk: signal FOO: invalid signal"),
        ("kill", &[&n, "65"], "husk: signal 65: invalid signal"),
        ("rm", &[&n], "container is running"),
        ("stop", &["-t", "x", &n], "husk: stop -t x: not a number of seconds"),
        ("ps", &["-z"], "husk: ps -z: unknown option"),
        ("exec", &[&n], "usage: husk exec"),
    ];
    for (cmd, args, msg) in cases {
        assert_fails(&w.husk(cmd, args), 125, msg);
    }
    // The monitor's failures come back whole, and leave nothing behind.
    let m = w.name("missing");
    assert_fails(&w.try_start(&m, &[], &["nonexistent"]), 127, "husk: exec nonexistent: ENOENT");
    w.assert_gone(&m);
    let o = w.try_start(&n, &[], &["true"]);
    assert_fails(&o, 125, &format!("husk: create container {n}: name already in use"));
    assert_eq!(w.husk("stop", &["-t", "0", &n]).status.code(), Some(0));
    assert_fails(&w.husk("exec", &[&n, "true"]), 125, &format!("husk: exec {n}: container is not running"));
    assert_fails(&w.husk("kill", &[&n]), 125, &format!("husk: kill {n}: container is not running"));
    assert_eq!(w.husk("rm", &[&n]).status.code(), Some(0));
    w.assert_gone(&n);
}

#[test]
fn kill_sends_the_named_signal_and_stop_ends_a_term_ignoring_container() {
    let Some(w) = World::new("kill") else { return };
    let (a, b, c) = (w.name("a"), w.name("b"), w.name("c"));
    w.start(&a, &[], &["sleep", "100"]);
    // The init forwards the signal to sleep, which dies of it: 128 + 10.
    assert_eq!(w.husk("kill", &[&a, "usr1"]).status.code(), Some(0));
    assert_eq!(stdout(&w.husk("wait", &[&a])), "138\n");

    w.start(&b, &[], &["sleep", "100"]);
    let o = w.husk("stop", &[&b]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(field(&w.state_json(&b), "exit_code"), "143");

    w.start(&c, &[], &["sh", "-c", "trap '' TERM; touch /tmp/ready; while :; do sleep 1; done"]);
    let pid = w.pid(&c);
    // TERM must not arrive before the trap is set.
    wait_until("the trap", || w.husk("exec", &[&c, "test", "-e", "/tmp/ready"]).status.success());
    let t = Instant::now();
    let o = w.husk("stop", &["-t", "1", &c]);
    let took = t.elapsed();
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    // Loose on purpose: grace 1 s, plus 1 s for everything else.
    assert!(took < Duration::from_secs(2), "stop -t 1 took {took:?}");
    assert!(!alive(pid), "stop returned with the init alive");
    assert_eq!(field(&w.state_json(&c), "exit_code"), "137");
    // Stopping a stopped container is fine.
    assert_eq!(w.husk("stop", &[&c]).status.code(), Some(0));
    assert_eq!(w.husk("rm", &[&a, &b, &c]).status.code(), Some(0));
    for n in [&a, &b, &c] {
        w.assert_gone(n);
    }
}

#[test]
fn exec_joins_the_containers_namespaces_cgroup_and_limits() {
    let Some(w) = World::new("exec") else { return };
    let n = w.name("c");
    w.start(&n, &["--hostname", "inside", "--pids", "50", "--rlimit", "nofile=200:300"], &["sleep", "100"]);
    let pid = w.pid(&n);
    let exec = |args: &[&str]| {
        let mut a = vec![n.as_str()];
        a.extend_from_slice(args);
        w.husk("exec", &a)
    };
    let ok = |args: &[&str]| {
        let o = exec(args);
        assert_eq!(o.status.code(), Some(0), "exec {args:?}: {:?}", text(&o));
        stdout(&o)
    };
    assert_eq!(ok(&["hostname"]), "inside\n");
    // The same namespaces as the container's init, each by inode.
    for ns in ["mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        let host = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_eq!(ok(&["readlink", &format!("/proc/self/ns/{ns}")]).trim(), host.to_str().unwrap(), "{ns}");
    }
    // The same mounts, and the same cgroup as PID 1 of the container.
    let mounts = |s: &str| s.lines().map(|l| l.split(' ').nth(4).unwrap().to_string()).collect::<Vec<_>>();
    let host_view = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert_eq!(mounts(&ok(&["cat", "/proc/self/mountinfo"])), mounts(&host_view));
    assert_eq!(ok(&["cat", "/proc/self/cgroup"]), ok(&["cat", "/proc/1/cgroup"]));
    assert!(!cgroups_named(&n).is_empty(), "the container has cgroups");
    // Its own pid namespace: PID 1 is the container's init, and only the
    // container's processes are there.
    let procs = ok(&["sh", "-c", "ls -d /proc/[0-9]*"]);
    assert!(procs.lines().count() <= 5 && procs.contains("/proc/1\n"), "{procs}");
    // CVE-2019-5736: no process the container can see runs the husk binary.
    let exes = ok(&["sh", "-c", "for p in /proc/[0-9]*; do readlink $p/exe; done; true"]);
    assert!(!exes.lines().any(|l| l.ends_with("/husk")), "{exes}");
    // The container's limits, capabilities and no_new_privs; fds 0-2 only
    // (3 is the directory ls reads).
    assert_eq!(ok(&["sh", "-c", "ulimit -n; ulimit -Hn"]), "200\n300\n");
    let status = ok(&["cat", "/proc/self/status"]);
    for want in [
        "CapInh:\t0000000000000000",
        "CapPrm:\t00000000a80425fb",
        "CapEff:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
        "NoNewPrivs:\t1",
    ] {
        assert!(status.contains(want), "{want} in {status}");
    }
    assert_eq!(ok(&["ls", "/proc/self/fd"]), "0\n1\n2\n3\n");

    // -e, -w, -u, and a user without capabilities.
    let o = w.husk(
        "exec",
        &[
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-u",
            "1000",
            &n,
            "sh",
            "-c",
            "echo $A; pwd; id -u; id -g; grep CapEff /proc/self/status",
        ],
    );
    assert_eq!(stdout(&o), "1\n/tmp\n1000\n1000\nCapEff:\t0000000000000000\n", "{:?}", text(&o));

    // Exit codes: COMMAND's own, 127 missing, 126 not executable.
    assert_eq!(exec(&["sh", "-c", "exit 7"]).status.code(), Some(7));
    assert_fails(&exec(&["nonexistent"]), 127, "husk: exec nonexistent: ENOENT");
    assert_fails(&exec(&["/etc/passwd"]), 126, "husk: exec /etc/passwd: EACCES");
    assert_fails(&w.husk("exec", &["-w", "/nonexistent", &n, "true"]), 125, "husk: chdir /nonexistent: ENOENT");

    // A signal sent to husk exec reaches COMMAND: sleep dies of TERM.
    let mut child = w.cmd("exec", &[&n, "sleep", "101"]).spawn().unwrap();
    wait_until("the exec'd sleep", || {
        ok(&["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]).contains("sleep 101")
    });
    std::thread::sleep(Duration::from_millis(50));
    send_signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(143));

    // -d returns at once; the command runs on inside.
    let t = Instant::now();
    let o = w.husk("exec", &["-d", &n, "sh", "-c", "sleep 1; echo done > /tmp/mark"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(t.elapsed() < Duration::from_millis(900), "exec -d waited for its command");
    wait_until("the detached command", || stdout(&exec(&["cat", "/tmp/mark"])) == "done\n");

    assert_eq!(w.husk("rm", &["-f", &n]).status.code(), Some(0));
    w.assert_gone(&n);
}

#[test]
fn exec_enters_a_user_namespace_first() {
    let Some(w) = World::new("userns") else {
        return;
    };
    let n = w.name("c");
    w.start(&n, &["--userns"], &["sleep", "100"]);
    let pid = w.pid(&n);
    let host = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_ne!(host, std::fs::read_link("/proc/self/ns/user").unwrap());
    let o = w.husk("exec", &[&n, "sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u"]);
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), host.to_str(), "{:?}", text(&o));
    let map: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!((map[0], map[2]), ("0", "1"), "root inside, one id mapped: {out}");
    assert_eq!(lines.next(), Some("0"));
    // A uid the user namespace does not map cannot be used.
    let o = w.husk("exec", &["-u", "1000:0", &n, "true"]);
    assert_fails(&o, 125, "husk: setuid 1000: EINVAL (Invalid argument): the id is not mapped");
    assert_eq!(w.husk("rm", &["-f", &n]).status.code(), Some(0));
    w.assert_gone(&n);
}

#[test]
fn a_reused_or_dead_pid_is_never_the_container() {
    let Some(w) = World::new("reuse") else { return };
    // Hand-written states: one whose pid is now this test process (a
    // different start time), one whose pid does not exist.
    let me = std::process::id();
    for (name, pid) in [("reused", me), ("dead", 4_194_000)] {
        let d = w.root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("monitor"), "").unwrap();
        std::fs::write(
            d.join("state"),
            format!("husk-state 1\nname {name}\npid {pid}\nstart_time 1\nstatus running\ncreated 1\narg x\nend\n"),
        )
        .unwrap();
    }
    let ps = stdout(&w.husk("ps", &[]));
    assert_eq!(ps.lines().count(), 1, "neither is running: {ps}");
    let all = stdout(&w.husk("ps", &["-a"]));
    for name in ["dead", "reused"] {
        assert!(all.lines().any(|l| l.starts_with(name) && l.contains("unknown")), "{all}");
        assert_eq!(field(&w.state_json(name), "status"), "unknown");
        assert_fails(&w.husk("kill", &[name, "KILL"]), 125, "container is not running");
        assert_fails(&w.husk("exec", &[name, "true"]), 125, "container is not running");
        assert_eq!(w.husk("stop", &["-t", "0", name]).status.code(), Some(0));
        assert_fails(&w.husk("wait", &[name]), 125, "exit status unknown");
    }
    // Still here: nothing was sent to our pid.
    assert_eq!(w.husk("rm", &["reused", "dead"]).status.code(), Some(0));
    w.assert_gone("reused");
}

#[test]
fn a_damaged_state_file_is_reported_and_removable_with_force() {
    let Some(w) = World::new("corrupt") else {
        return;
    };
    let n = w.name("c");
    w.start(&n, &[], &["true"]);
    assert_eq!(w.husk("wait", &[&n]).status.code(), Some(0));
    let file = w.root.join(&n).join("state");
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, &good[..good.len() / 2]).unwrap();
    let msg = format!("husk: read {}: truncated state file", file.display());
    assert_fails(&w.husk("state", &[&n]), 125, &msg);
    assert_fails(&w.husk("rm", &[&n]), 125, &msg);
    let all = stdout(&w.husk("ps", &["-a"]));
    assert!(all.lines().any(|l| l.starts_with(&n) && l.contains("corrupt")), "{all}");
    std::fs::write(&file, b"{\"name\": 12").unwrap();
    assert_fails(&w.husk("state", &[&n]), 125, "corrupt state file");
    assert_eq!(w.husk("rm", &["-f", &n]).status.code(), Some(0));
    w.assert_gone(&n);
}

#[test]
fn run_detached_with_rm_leaves_nothing_behind() {
    let Some(w) = World::new("autorm") else {
        return;
    };
    let n = w.name("c");
    w.start(&n, &["--rm"], &["sh", "-c", "sleep 0.5; exit 4"]);
    // A waiter that started before the end still gets the code.
    assert_eq!(stdout(&w.husk("wait", &[&n])), "4\n");
    wait_until("the state to go", || !w.root.join(&n).exists());
    assert_eq!(stdout(&w.husk("ps", &["-a"])).lines().count(), 1);
    w.assert_gone(&n);
}

#[test]
fn concurrent_runs_and_removals_corrupt_nothing() {
    let Some(w) = World::new("race") else { return };
    let same = w.name("same");
    let names: Vec<String> = (0..10).map(|i| w.name(&format!("r{i}"))).collect();
    let spawn =
        |cmd: &str, args: &[&str]| w.cmd(cmd, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let rootfs = w.rootfs.to_str().unwrap();
    let mut runs = Vec::new();
    let mut rms = Vec::new();
    for n in &names {
        runs.push(spawn("run", &["-d", "--name", &same, rootfs, "sleep", "100"]));
        runs.push(spawn("run", &["-d", "--name", n, rootfs, "sleep", "100"]));
        rms.push(spawn("rm", &["-f", n]));
        rms.push(spawn("rm", &["-f", &same]));
    }
    for c in runs {
        let o = c.wait_with_output().unwrap();
        if o.status.code() != Some(0) {
            assert_fails(&o, 125, "name already in use");
        }
    }
    for c in rms {
        let o = c.wait_with_output().unwrap();
        if o.status.code() != Some(0) {
            assert_fails(&o, 125, "no such container");
        }
    }
    // Every state left is whole and consistent with the processes.
    let json = stdout(&w.husk("ps", &["-a", "--json"]));
    assert!(json.starts_with('[') && !json.contains("corrupt"), "{json}");
    for n in names.iter().chain([&same]) {
        if w.root.join(n).exists() {
            let j = w.state_json(n);
            assert_eq!(field(&j, "status"), "running", "{j}");
            assert!(alive(field(&j, "pid").parse().unwrap()));
        }
    }
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.push(&same);
    let mut a = vec!["-f"];
    a.extend(&all);
    let o = w.husk("rm", &a);
    for l in String::from_utf8_lossy(&o.stderr).lines() {
        assert!(l.ends_with("no such container"), "{l}");
    }
    for n in all {
        w.assert_gone(n);
    }
}

#[test]
fn ps_json_lists_every_container_as_state_does() {
    let Some(w) = World::new("json") else { return };
    let (a, b) = (w.name("a"), w.name("b"));
    w.start(&a, &[], &["sleep", "100"]);
    w.start(&b, &[], &["true"]);
    assert_eq!(w.husk("wait", &[&b]).status.code(), Some(0));
    let running = stdout(&w.husk("ps", &["--json"]));
    assert_eq!(running.trim(), format!("[{}]", w.state_json(&a).trim()));
    let all = stdout(&w.husk("ps", &["-a", "--json"]));
    assert_eq!(all.matches("\"name\"").count(), 2, "{all}");
    assert!(all.contains("\"status\":\"exited\",\"exit_code\":0"), "{all}");
    assert_eq!(w.husk("rm", &["-f", &a, &b]).status.code(), Some(0));
    w.assert_gone(&a);
    w.assert_gone(&b);
}
