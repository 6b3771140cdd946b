//! cgroups and `husk check`, as a user sees them: what `husk check` reports
//! on this host under various privileges, which cgroup files `husk run`
//! writes for each resource option, and that nothing is left behind, after
//! a run or after a refused one.
//!
//! Expected values are derived from the host itself (mountinfo,
//! cgroup.controllers, /proc/filesystems), so the same tables hold on v1,
//! hybrid and v2 hosts.

use husk_tests::{bin, is_root, run, text, Scratch};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where each controller is mounted: (mount point, is v2, controllers).
fn hierarchies() -> Vec<(String, bool, Vec<String>)> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut out = vec![];
    for l in mi.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let Some(sep) = f.iter().position(|&x| x == "-") else {
            continue;
        };
        let (point, fstype, opts) = (f[4], f[sep + 1], f[sep + 3]);
        match fstype {
            "cgroup2" => {
                let c = std::fs::read_to_string(format!("{point}/cgroup.controllers")).unwrap();
                out.push((point.to_string(), true, c.split_whitespace().map(String::from).collect()));
            }
            "cgroup" => {
                let c: Vec<String> = opts
                    .split(',')
                    .filter(|o| !o.contains('=') && *o != "rw" && *o != "ro")
                    .map(String::from)
                    .collect();
                if !c.is_empty() {
                    out.push((point.to_string(), false, c));
                }
            }
            _ => {}
        }
    }
    out
}

/// The directory of cgroup `parent/name` for controller (v2 name, v1 name).
fn dir_of(ctrl: (&str, &str), parent: &str, name: &str) -> Option<PathBuf> {
    let h = hierarchies();
    let v2 = h.iter().find(|(_, v2, c)| *v2 && c.iter().any(|x| x == ctrl.0));
    let v1 = h.iter().find(|(_, v2, c)| !*v2 && c.iter().any(|x| x == ctrl.1));
    v2.or(v1).map(|(p, _, _)| Path::new(p).join(parent).join(name))
}

/// Every directory named `name` under `parent` in any hierarchy.
/// The container's cgroup directories and its state directory, where they
/// still exist.
fn leftovers(parent: &str, name: &str) -> Vec<PathBuf> {
    let mut left: Vec<PathBuf> =
        hierarchies().into_iter().map(|(p, _, _)| Path::new(&p).join(parent).join(name)).collect();
    left.push(Path::new("/run/husk").join(name));
    left.retain(|p| p.exists());
    left
}

fn check_out(prefix: &[&str]) -> (i32, String, String) {
    let husk = bin("husk");
    let mut cmd = if prefix.is_empty() {
        Command::new(&husk)
    } else {
        let mut c = Command::new(prefix[0]);
        c.args(&prefix[1..]).arg(&husk);
        c
    };
    let o = run(cmd.arg("check"));
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), out, err)
}

/// The value column of `husk check`'s line `label`.
fn item<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find(|l| l.len() > 12 && l[..12].trim_end() == label)
        .map(|l| &l[12..])
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"))
}

#[test]
fn check_reports_this_host_and_succeeds() {
    assert!(is_root(), "integration tests run as root");
    let (code, out, err) = check_out(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "");
    let labels: Vec<&str> = out.lines().map(|l| l[..12].trim_end()).collect();
    assert_eq!(
        labels,
        [
            "user",
            "mnt ns",
            "pid ns",
            "net ns",
            "ipc ns",
            "uts ns",
            "cgroup ns",
            "time ns",
            "user ns",
            "cgroup",
            "limits",
            "tracking",
            "overlayfs",
            "clone3",
            "openat2",
            "seccomp",
            "verdict"
        ]
    );
    assert_eq!(item(&out, "user"), "root");
    for ns in ["mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        let have = Path::new(&format!("/proc/self/ns/{ns}")).exists();
        assert_eq!(item(&out, &format!("{ns} ns")).starts_with("yes"), have, "{ns}");
    }
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap();
    assert!(item(&out, "user ns").ends_with(&format!("(max_user_namespaces {})", max.trim())), "{out}");

    // The cgroup line names the mode and every controller where it lives.
    let h = hierarchies();
    let (v2, v1): (Vec<_>, Vec<_>) = h.iter().partition(|x| x.1);
    let mode = match (v2.is_empty(), v1.is_empty()) {
        (false, true) => "v2",
        (false, false) => "hybrid",
        _ => "v1",
    };
    let cg = item(&out, "cgroup");
    assert!(cg.starts_with(&format!("{mode} (")), "{cg}");
    for (_, _, ctrls) in &v1 {
        for c in ctrls {
            assert!(cg.split(['(', ';']).nth(1).unwrap().split_whitespace().any(|w| w == c), "v1 {c} in {cg}");
        }
    }
    if let Some((path, _, ctrls)) = v2.first() {
        assert!(cg.ends_with(&format!(" at {path})")), "{cg}");
        for c in ctrls {
            assert!(cg.contains(&format!(" {c}")), "v2 {c} in {cg}");
        }
    }
    let limits = item(&out, "limits");
    for (opt, v2n, v1n) in [("memory", "memory", "memory"), ("pids", "pids", "pids"), ("io", "io", "blkio")] {
        let want = if v2.iter().any(|x| x.2.iter().any(|c| c == v2n)) {
            "v2".to_string()
        } else if v1.iter().any(|x| x.2.iter().any(|c| c == v1n)) {
            if v1n == v2n {
                "v1".into()
            } else {
                format!("v1 {v1n}")
            }
        } else {
            "missing (refused if asked)".into()
        };
        assert!(limits.contains(&format!("{opt}: {want}")), "{opt}: {want} in {limits}");
    }

    let overlay = std::fs::read_to_string("/proc/filesystems").unwrap().lines().any(|l| l.ends_with("\toverlay"));
    assert_eq!(item(&out, "overlayfs").starts_with("yes"), overlay);
    assert!(item(&out, "clone3").starts_with("yes"), "kernel 6.18 has clone3: {out}");
    assert_eq!(item(&out, "openat2"), "yes (RESOLVE_IN_ROOT for mount targets)");
    assert_eq!(item(&out, "verdict"), "husk run works here");
}

/// `husk check` under reduced privileges: (what, command prefix, exit code,
/// expected (label, value prefix) lines).
type Privileges<'a> = (&'a str, Vec<&'a str>, i32, &'a [(&'a str, &'a str)]);

#[test]
fn check_under_reduced_privileges() {
    assert!(is_root(), "integration tests run as root");
    let husk = bin("husk");
    // Without capabilities and with user namespaces exhausted, no mount
    // namespace can be made at all: the one case husk run cannot handle.
    let crippled = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --bounding-set=-all --inh-caps=-all {} check",
        husk.display()
    );
    let cases: [Privileges; 2] = [
        (
            "unprivileged user",
            vec!["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
            0,
            &[
                ("user", "uid 65534 (rootless: --userns implied)"),
                ("mnt ns", "yes, inside a new user namespace"),
                ("user ns", "yes"),
                ("verdict", "husk run works here"),
            ],
        ),
        (
            "no capabilities, no user namespaces",
            vec!["unshare", "--user", "--map-root-user", "sh", "-c", &crippled, "sh"],
            1,
            &[
                ("mnt ns", "no (EPERM): husk run cannot work"),
                ("pid ns", "no (EPERM): run with --share of it"),
                ("user ns", "no (ENOSPC): no --userns, no rootless runs (max_user_namespaces 0)"),
                ("verdict", "husk run cannot work here: no mount namespace"),
            ],
        ),
    ];
    for (what, prefix, want_code, lines) in cases {
        let o = if prefix[0] == "unshare" {
            run(Command::new(prefix[0]).args(&prefix[1..]))
        } else {
            run(Command::new(prefix[0]).args(&prefix[1..]).arg(&husk).arg("check"))
        };
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(want_code), "{what}:\n{out}{err}");
        for (label, value) in lines {
            assert!(item(&out, label).starts_with(value), "{what}: {label}: want {value:?} in\n{out}");
        }
    }
}

#[test]
fn check_refuses_arguments() {
    let o = run(Command::new(bin("husk")).args(["check", "--bogus"]));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(out, "");
    assert_eq!(err, "husk: check: unknown argument --bogus: usage: husk check\n");
}

/// A rootfs with busybox: sh, cat, true.
fn rootfs(s: &Scratch) -> PathBuf {
    let root = s.join("root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed (make packages)");
    for app in ["sh", "cat", "true"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(app)).unwrap();
    }
    root
}

fn wait_for(p: &Path) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if p.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Resource options and the file each writes: (options, (v2 controller,
/// v1 controller), v2 (file, value), v1 [(file, value)] — the first file
/// that exists counts, for BFQ vs CFQ).
type Limit = (
    &'static [&'static str],
    (&'static str, &'static str),
    (&'static str, &'static str),
    &'static [(&'static str, &'static str)],
);
const LIMITS: [Limit; 8] = [
    (&["--memory", "8m"], ("memory", "memory"), ("memory.max", "8388608"), &[("memory.limit_in_bytes", "8388608")]),
    (
        &["--memory", "8m", "--memory-swap", "16m"],
        ("memory", "memory"),
        ("memory.swap.max", "8388608"),
        &[("memory.memsw.limit_in_bytes", "16777216")],
    ),
    (&["--pids", "7"], ("pids", "pids"), ("pids.max", "7"), &[("pids.max", "7")]),
    (&["--cpus", "0.5"], ("cpu", "cpu"), ("cpu.max", "50000 100000"), &[("cpu.cfs_quota_us", "50000")]),
    (&["--cpu-weight", "200"], ("cpu", "cpu"), ("cpu.weight", "200"), &[("cpu.shares", "2048")]),
    (
        &["--io-weight", "100"],
        ("io", "blkio"),
        ("io.weight", "default 100"),
        &[("blkio.weight", "500"), ("blkio.bfq.weight", "100")],
    ),
    (&["--cpuset-cpus", "0"], ("cpuset", "cpuset"), ("cpuset.cpus", "0"), &[("cpuset.cpus", "0")]),
    (&["--cpuset-mems", "0"], ("cpuset", "cpuset"), ("cpuset.mems", "0"), &[("cpuset.mems", "0")]),
];

#[test]
fn run_writes_exactly_the_asked_limits_and_removes_the_cgroup() {
    assert!(is_root(), "integration tests run as root");
    let s = Scratch::new("cgroup-run");
    let root = rootfs(&s);
    for (i, (opts, ctrl, v2file, v1files)) in LIMITS.iter().enumerate() {
        let name = format!("cgt-{}-{i}", std::process::id());
        let dir = dir_of(*ctrl, "husk", &name).unwrap_or_else(|| panic!("no {ctrl:?} controller on this host"));
        let is_v2 = hierarchies().iter().any(|(p, v2, _)| *v2 && dir.starts_with(p));
        let mut child = Command::new(bin("husk"))
            .args(["run", "--name", &name])
            .args(opts.iter())
            .arg(&root)
            .args(["sh", "-c", "read x"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let seen = wait_for(&dir);
        let got = if !seen {
            None
        } else if is_v2 {
            Some((v2file.0, std::fs::read_to_string(dir.join(v2file.0)).unwrap()))
        } else {
            v1files
                .iter()
                .find(|(f, _)| dir.join(f).exists())
                .map(|(f, _)| (*f, std::fs::read_to_string(dir.join(f)).unwrap()))
        };
        // The container may already have failed; its output says why.
        let _ = child.stdin.take().unwrap().write_all(b"\n");
        let o = child.wait_with_output().unwrap();
        let (out, err) = text(&o);
        assert!(seen, "{opts:?}: {} never appeared\n{out}{err}", dir.display());
        assert_eq!(o.status.code(), Some(0), "{opts:?}:\n{out}{err}");
        let (file, value) = got.unwrap_or_else(|| panic!("{opts:?}: none of {v1files:?} in {}", dir.display()));
        let want = if is_v2 { v2file.1 } else { v1files.iter().find(|(f, _)| *f == file).unwrap().1 };
        assert_eq!(value.trim(), want, "{opts:?}: {file}");
        assert_eq!(leftovers("husk", &name), Vec::<PathBuf>::new(), "{opts:?}: left behind");
    }
}

#[test]
fn run_without_limits_is_still_tracked_and_sees_its_cgroup_as_root() {
    assert!(is_root(), "integration tests run as root");
    let s = Scratch::new("cgroup-track");
    let root = rootfs(&s);
    let name = format!("cgt-{}-track", std::process::id());
    let o = run(Command::new(bin("husk")).args(["run", "--name", &name]).arg(&root).args(["cat", "/proc/self/cgroup"]));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    // In its own cgroup namespace the container is at the root of every
    // hierarchy it was placed in (v2 `0::/` at least on v2 and hybrid).
    if hierarchies().iter().any(|h| h.1) {
        assert!(out.lines().any(|l| l == "0::/"), "{out}");
    }
    assert_eq!(leftovers("husk", &name), Vec::<PathBuf>::new());
}

/// Refused limits: exit 125, one line naming the problem, no cgroup and no
/// state directory left (the state directory is made before the cgroup).
#[test]
fn refused_limits_leave_no_cgroup_or_state_behind() {
    assert!(is_root(), "integration tests run as root");
    let s = Scratch::new("cgroup-bad");
    let root = rootfs(&s);
    // The command line refuses the first three before any cgroup exists;
    // the cgroup code would too (its unit tests check its own messages).
    let cases: [(&[&str], &str); 4] = [
        (&["--memory", "4k"], "husk: --memory 4"),
        (&["--memory-swap", "8m"], "husk: --memory-swap 8"),
        (&["--cgroup-parent", "../escape"], "husk: --cgroup-parent ../escape: "),
        // Accepted by the syntax check, refused by the kernel after the
        // directories were made: the rollback is what is tested.
        (&["--cpuset-cpus", "4095"], "/cpuset.cpus: E"),
    ];
    for (i, (opts, want)) in cases.iter().enumerate() {
        let name = format!("cgt-{}-bad{i}", std::process::id());
        let o = run(Command::new(bin("husk")).args(["run", "--name", &name]).args(opts.iter()).arg(&root).arg("true"));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(125), "{opts:?}:\n{out}{err}");
        assert_eq!(err.lines().count(), 1, "{opts:?}: one line: {err}");
        assert!(err.contains(want), "{opts:?}: want {want:?} in {err}");
        assert_eq!(leftovers("husk", &name), Vec::<PathBuf>::new(), "{opts:?}: left behind");
    }
}
