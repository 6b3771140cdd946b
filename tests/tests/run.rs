//! `husk run` as a user runs it: security properties, limits, overlay,
//! rootless, and bad input. Scenario tables in the spirit of bubblewrap's
//! test-run.sh: one row per case with its expected outcome.
//!
//! Needs root and busybox-static (`make test` installs it). Every test uses
//! its own rootfs copy and container names, so test files may run at once.
use husk_tests::{bin, is_root, run, text, Scratch};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "cat", "ps", "ls", "mount", "id", "true", "false", "echo", "sleep", "hostname", "grep", "head", "wc",
    "readlink", "touch", "stat", "dd", "mkdir", "rm", "test",
];

/// A busybox rootfs: /bin/busybox and its applets as symlinks, /etc/passwd
/// and /etc/group with root, alice (1000) and nobody.
fn busybox_rootfs(s: &Scratch, dir: &str) -> PathBuf {
    let r = s.join(dir);
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, r.join("bin/busybox")).unwrap();
    for a in APPLETS {
        symlink("busybox", r.join("bin").join(a)).unwrap();
    }
    std::fs::write(
        r.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\nalice:x:1000:\nnogroup:x:65534:\n").unwrap();
    r
}

/// A 134-byte static x86_64 ELF that exits with its effective uid (mod
/// 256): geteuid(); exit(euid). Used as a setuid-root binary: it exits 0
/// only if the setuid bit took effect.
fn euid_probe() -> Vec<u8> {
    let code: &[u8] = &[
        0xb8, 107, 0, 0, 0, // mov eax, SYS_geteuid
        0x0f, 0x05, // syscall
        0x89, 0xc7, // mov edi, eax
        0xb8, 60, 0, 0, 0, // mov eax, SYS_exit
        0x0f, 0x05, // syscall
    ];
    let base = 0x40_0000u64;
    let total = (64 + 56 + code.len()) as u64;
    let mut e = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&0x3eu16.to_le_bytes()); // x86_64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(base + 120).to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, 1, 0, 0, 0] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0, base, base, total, total, 0x1000] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(code);
    e
}

fn husk(args: &[&str]) -> Output {
    run(Command::new(bin("husk")).arg("run").args(args))
}

fn unique(tag: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!("t{}-{tag}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn skip() -> bool {
    if !is_root() || !Path::new(BUSYBOX).exists() {
        eprintln!("skipped: needs root and {BUSYBOX}");
        return true;
    }
    false
}

/// No cgroup directory, state directory or mount of the container remains.
fn assert_nothing_left(name: &str, scratch: &Path) {
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = h.path().join("husk").join(name);
        assert!(!p.exists(), "{} left behind", p.display());
    }
    assert!(!Path::new("/run/husk").join(name).exists(), "state dir of {name} left behind");
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let s = scratch.to_str().unwrap();
    assert!(!mi.contains(s) && !mi.contains(&format!("/run/husk/{name}")), "mount left behind:\n{mi}");
}

struct Case {
    what: &'static str,
    args: &'static [&'static str],
    cmd: &'static str,
    code: i32,
    stdout: &'static str,
}

#[test]
fn security_defaults() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-sec");
    let root = busybox_rootfs(&s, "rootfs");
    let probe = root.join("bin/euid");
    std::fs::write(&probe, euid_probe()).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let marker = s.join("host-marker");
    std::fs::write(&marker, "HOST").unwrap();
    let cases = [
        Case {
            what: "PID 1 is husk-init",
            args: &[],
            cmd: "cat /proc/1/cmdline | head -c 9",
            code: 0,
            stdout: "husk-init",
        },
        Case {
            what: "only its own processes",
            args: &[],
            cmd: "echo /proc/[0-9]*",
            code: 0,
            stdout: "/proc/1 /proc/2\n",
        },
        Case {
            what: "/proc/1/exe is a memfd",
            args: &[],
            cmd: "readlink /proc/1/exe",
            code: 0,
            stdout: "/memfd:husk-init (deleted)\n",
        },
        Case {
            what: "PID 1 without init is COMMAND",
            args: &["--no-init"],
            cmd: "readlink /proc/1/exe",
            code: 0,
            stdout: "/bin/busybox\n",
        },
        Case {
            what: "Docker's 14 capabilities, none inheritable, no_new_privs",
            args: &[],
            cmd: "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status",
            code: 0,
            stdout: "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n\
                     CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n",
        },
        Case {
            what: "a non-root user has no capabilities",
            args: &["-u", "alice"],
            cmd: "id -u; grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status",
            code: 0,
            stdout: "1000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n",
        },
        Case {
            what: "--cap-add reaches a non-root user through the ambient set",
            args: &["-u", "1000", "--cap-add", "NET_ADMIN"],
            cmd: "grep -E '^Cap(Eff|Amb)' /proc/self/status",
            code: 0,
            stdout: "CapEff:\t0000000000001000\nCapAmb:\t0000000000001000\n",
        },
        Case {
            what: "mount() fails with EPERM",
            args: &[],
            cmd: "mount -t tmpfs x /tmp 2>&1",
            code: 1,
            stdout: "mount: permission denied (are you root?)\n",
        },
        Case {
            what: "/proc/keys is masked with /dev/null",
            args: &[],
            cmd: "stat -c '%t %T' /proc/keys",
            code: 0,
            stdout: "1 3\n",
        },
        Case {
            what: "/proc/kcore is masked if the kernel has it",
            args: &[],
            cmd: "test ! -e /proc/kcore || stat -c '%t %T' /proc/kcore | grep -qx '1 3'",
            code: 0,
            stdout: "",
        },
        Case {
            what: "/proc/acpi is an empty directory",
            args: &[],
            cmd: "ls /proc/acpi | wc -l",
            code: 0,
            stdout: "0\n",
        },
        Case {
            what: "/proc/sys is read-only",
            args: &[],
            cmd: "grep -c ' /proc/sys ro,' /proc/self/mountinfo",
            code: 0,
            stdout: "1\n",
        },
        Case { what: "/sys is read-only", args: &[], cmd: "touch /sys/x 2>/dev/null", code: 1, stdout: "" },
        Case {
            what: "a private hostname, the name by default",
            args: &["--name", "NAME", "--domainname", "example.org"],
            cmd: "hostname; cat /proc/sys/kernel/domainname",
            code: 0,
            stdout: "NAME\nexample.org\n",
        },
        Case {
            what: "the old root is unreachable",
            args: &[],
            cmd: "cat MARKER /proc/1/root/MARKER /../../MARKER 2>/dev/null",
            code: 1,
            stdout: "",
        },
        Case {
            what: "a setuid binary does not elevate",
            args: &["-u", "1000"],
            cmd: "/bin/euid",
            code: 232,
            stdout: "",
        },
        Case {
            what: "control: it does with --allow-new-privs",
            args: &["-u", "1000", "--allow-new-privs"],
            cmd: "/bin/euid",
            code: 0,
            stdout: "",
        },
        Case { what: "the exit status is the container's", args: &[], cmd: "exit 42", code: 42, stdout: "" },
        Case { what: "a signal death is 128+N", args: &[], cmd: "kill -9 $$; sleep 1", code: 137, stdout: "" },
        Case {
            what: "default environment",
            args: &["-e", "X=1", "-w", "/tmp"],
            cmd: "echo $PATH $HOME $X; pwd",
            code: 0,
            stdout: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /root 1\n/tmp\n",
        },
        Case {
            what: "rlimits apply",
            args: &["--rlimit", "nofile=100:200"],
            cmd: "grep 'open files' /proc/self/limits",
            code: 0,
            stdout: "Max open files            100                  200                  files     \n",
        },
        Case {
            what: "loopback is up in the new net namespace",
            args: &[],
            cmd: "cat /sys/class/net/lo/operstate",
            code: 0,
            stdout: "unknown\n",
        },
    ];
    for c in &cases {
        let name = unique("sec");
        let cmd = c.cmd.replace("MARKER", marker.to_str().unwrap());
        let mut args: Vec<String> = vec!["run".into()];
        args.extend(c.args.iter().map(|a| a.replace("NAME", &name)));
        if !args.contains(&"--name".to_string()) {
            args.extend(["--name".to_string(), name.clone()]);
        }
        args.extend([root.to_str().unwrap().to_string(), "sh".into(), "-c".into(), cmd]);
        let o = run(Command::new(bin("husk")).args(&args));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(c.code), "{}: stdout {out:?} stderr {err:?}", c.what);
        assert_eq!(out, c.stdout.replace("NAME", &name), "{}: stderr {err:?}", c.what);
        assert_nothing_left(&name, s.path());
    }
}

#[test]
fn only_fds_0_1_2_reach_the_command() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-fds");
    let root = busybox_rootfs(&s, "rootfs");
    // fd 5 is left open (not close-on-exec) by the caller on purpose.
    let o = run(Command::new("sh").arg("-c").arg(format!(
        "exec 5</etc/hostname; {} run --no-init {} sh -c 'ls /proc/1/fd; true'",
        bin("husk").display(),
        root.display()
    )));
    assert_eq!(text(&o).0, "0\n1\n2\n", "{:?}", text(&o));
}

#[test]
fn signals_to_husk_reach_the_container() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-sig");
    let root = busybox_rootfs(&s, "rootfs");
    let name = unique("sig");
    let t0 = std::time::Instant::now();
    let mut child = Command::new(bin("husk"))
        .args(["run", "--name", &name, root.to_str().unwrap(), "sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let st = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!((st.code(), st.signal()), (Some(143), None), "sleep should die of the forwarded TERM");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    assert_nothing_left(&name, s.path());
}

#[test]
fn mounts_inside_stay_inside() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-mnt");
    let root = busybox_rootfs(&s, "rootfs");
    let name = unique("mnt");
    let tag = format!("husk-leak-{name}");
    let o = husk(&[
        "--name",
        &name,
        "--cap-add",
        "SYS_ADMIN",
        root.to_str().unwrap(),
        "mount",
        "-t",
        "tmpfs",
        &tag,
        "/tmp",
    ]);
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(0), "mount with CAP_SYS_ADMIN inside: {err}");
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(&tag), "the container's mount reached the host:\n{mi}");
    assert_nothing_left(&name, s.path());
}

#[test]
fn limits_are_enforced() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-lim");
    let root = busybox_rootfs(&s, "rootfs");
    let r = root.to_str().unwrap();
    // The OOM killer ends dd; husk-init passes on SIGKILL as 128+9.
    let name = unique("oom");
    let o = husk(&["--name", &name, "--memory", "16m", r, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]);
    assert_eq!(o.status.code(), Some(137), "{:?}", text(&o));
    assert_nothing_left(&name, s.path());
    let name = unique("pids");
    let o = husk(&["--name", &name, "--pids", "3", r, "sh", "-c", "for i in 1 2 3 4 5; do sleep 1 & done; wait"]);
    assert!(text(&o).1.contains("can't fork"), "{:?}", text(&o));
    // The floor of the benchmark: 1 MiB and two pids still start husk-init and true.
    let o = husk(&["--memory", "1m", "--pids", "2", r, "true"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

#[test]
fn the_cgroup_holds_the_limits_while_running() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-cg");
    let root = busybox_rootfs(&s, "rootfs");
    let name = unique("cg");
    let o = husk(&[
        "--name",
        &name,
        "--memory",
        "64m",
        "--pids",
        "10",
        root.to_str().unwrap(),
        "sh",
        "-c",
        "cat /proc/self/cgroup",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    // The cgroup namespace shows the container at the root of every hierarchy.
    assert!(out.lines().all(|l| l.ends_with(":/")), "{out}");
    let mut child = Command::new(bin("husk"))
        .args(["run", "--name", &name, "--memory", "64m", "--pids", "10", root.to_str().unwrap(), "sleep", "2"])
        .spawn()
        .unwrap();
    let mut found = None;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(40));
        let mem = format!("/sys/fs/cgroup/memory/husk/{name}/memory.limit_in_bytes");
        let v2 = format!("/sys/fs/cgroup/husk/{name}/memory.max");
        if let Ok(v) = std::fs::read_to_string(&mem).or_else(|_| std::fs::read_to_string(&v2)) {
            found = Some(v);
            break;
        }
    }
    assert_eq!(found.as_deref().map(str::trim), Some("67108864"));
    assert!(child.wait().unwrap().success());
    assert_nothing_left(&name, s.path());
}

#[test]
fn overlay_writes_land_in_the_upper_layer() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-ovl");
    let base = busybox_rootfs(&s, "base");
    let top = s.join("top");
    std::fs::create_dir_all(top.join("etc")).unwrap();
    std::fs::write(top.join("etc/top"), "top\n").unwrap();
    let layers = format!("{}:{}", top.display(), base.display());
    // Throw-away upper on a tmpfs: both layers unchanged afterwards.
    let name = unique("ovl");
    let o = husk(&["--name", &name, &layers, "sh", "-c", "cat /etc/top; echo new > /etc/new; rm /etc/group; ls /etc"]);
    assert_eq!(text(&o).0, "top\nnew\npasswd\ntop\n", "{:?}", text(&o));
    assert!(!top.join("etc/new").exists() && !base.join("etc/new").exists());
    assert!(base.join("etc/group").exists());
    assert_nothing_left(&name, s.path());
    // A kept upper: the writes are there, the lowers still unchanged.
    let upper = s.join("upper");
    let o = husk(&["--upper", upper.to_str().unwrap(), &layers, "sh", "-c", "echo kept > /etc/kept; rm /etc/top"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(std::fs::read_to_string(upper.join("etc/kept")).unwrap(), "kept\n");
    assert!(top.join("etc/top").exists(), "the lower layer changed");
    let o = husk(&["--upper", upper.to_str().unwrap(), &layers, "sh", "-c", "cat /etc/kept; ls /etc"]);
    assert_eq!(text(&o).0, "kept\ngroup\nkept\npasswd\n", "{:?}", text(&o));
    // --read-only: nothing can be written.
    let o = husk(&["--read-only", base.to_str().unwrap(), "touch", "/x"]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
}

#[test]
fn binds_and_tmpfs_resolve_inside_the_root() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-bind");
    let root = busybox_rootfs(&s, "rootfs");
    let data = s.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "host data\n").unwrap();
    // An absolute symlink in the rootfs: the mount must land in the rootfs's
    // /target, never on the host's /target-of-the-link.
    let host_side = s.join("must-stay-empty");
    std::fs::create_dir_all(&host_side).unwrap();
    symlink(&host_side, root.join("link")).unwrap();
    let bind_ro = format!("{}:/data:ro", data.display());
    let bind_link = format!("{}:/link/x", data.display());
    let o = husk(&["--bind", &bind_ro, "--bind", &bind_link, "--tmpfs", "/scratch:1m", root.to_str().unwrap(), "sh", "-c",
        "cat /data/f /link/x/f; touch /data/new 2>/dev/null && echo writable; grep -c ' /scratch .*size=1024k' /proc/self/mounts"]);
    assert_eq!(text(&o).0, "host data\nhost data\n1\n", "{:?}", text(&o));
    assert_eq!(std::fs::read_dir(&host_side).unwrap().count(), 0, "a mount target followed a symlink onto the host");
    assert!(root.join(host_side.strip_prefix("/").unwrap()).join("x").is_dir());
}

#[test]
fn rootless_is_uid_0_inside_and_the_user_outside() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-rootless");
    let root = busybox_rootfs(&s, "rootfs");
    let out_dir = s.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    // The mount point exists: an unprivileged user cannot create it in a
    // root-owned rootfs.
    std::fs::create_dir_all(root.join("out")).unwrap();
    std::process::Command::new("chown").args(["65534:65534", out_dir.to_str().unwrap()]).status().unwrap();
    let bind = format!("{}:/out", out_dir.display());
    let o = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin("husk"))
        .args([
            "run",
            "--bind",
            &bind,
            root.to_str().unwrap(),
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; touch /out/made; hostname >/dev/null",
        ]));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields, ["0", "0", "65534", "1"], "{out}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(out_dir.join("made")).unwrap().uid(), 65534, "the file's owner outside");
}

#[test]
fn bad_input_is_one_line_exit_125_and_nothing_left() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-bad");
    let root = busybox_rootfs(&s, "rootfs");
    symlink("../../../..", root.join("up")).unwrap();
    let file = s.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let r = root.to_str().unwrap().to_string();
    let busy = unique("busy");
    let mut holder = Command::new(bin("husk")).args(["run", "--name", &busy, &r, "sleep", "3"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let table: &[(&str, &[&str], i32, &str)] = &[
        (
            "missing rootfs",
            &["/nonexistent/rootfs", "true"],
            125,
            "husk: rootfs /nonexistent/rootfs: ENOENT (No such file or directory)",
        ),
        ("rootfs is a file", &["FILE", "true"], 125, "ENOTDIR (Not a directory)"),
        (
            "command missing in the rootfs",
            &["ROOT", "nosuchcmd"],
            127,
            "husk: exec nosuchcmd: ENOENT (No such file or directory)",
        ),
        ("command not executable", &["ROOT", "/etc/passwd"], 126, "husk: exec /etc/passwd: EACCES (Permission denied)"),
        ("unknown option", &["--bogus", "ROOT", "true"], 125, "unknown option"),
        ("bad size", &["--memory", "12x", "ROOT", "true"], 125, "husk: --memory 12x: bad size"),
        ("negative size", &["--memory", "-1", "ROOT", "true"], 125, "bad size"),
        ("overflowing size", &["--memory", "99999999999999g", "ROOT", "true"], 125, "bad size"),
        ("memory too small", &["--memory", "64k", "ROOT", "true"], 125, "too small"),
        ("unknown capability", &["--cap-add", "CAP_BOGUS", "ROOT", "true"], 125, "unknown capability"),
        ("bad --bind", &["--bind", "/tmp", "ROOT", "true"], 125, "want SRC:DST[:ro]"),
        ("relative bind destination", &["--bind", "/tmp:tmp", "ROOT", "true"], 125, "must be an absolute path"),
        ("destination escaping via ..", &["--bind", "/tmp:/a/../../etc", "ROOT", "true"], 125, "escapes the root"),
        (
            "destination escaping via a symlink",
            &["--bind", "/tmp:/up/etc", "ROOT", "true"],
            125,
            "escapes the root through a symlink",
        ),
        (
            "missing bind source",
            &["--bind", "/nonexistent/src:/x", "ROOT", "true"],
            125,
            "bind source /nonexistent/src: ENOENT",
        ),
        ("bad name", &["--name", "-x", "ROOT", "true"], 125, "bad name"),
        ("duplicate name", &["--name", "BUSY", "ROOT", "true"], 125, "already in use"),
        ("--read-only with --upper", &["--read-only", "--upper", "/tmp/u", "ROOT", "true"], 125, "excludes --upper"),
        ("unknown user", &["-u", "mallory", "ROOT", "true"], 125, "no such user"),
        (
            "missing --init image",
            &["--init", "/nonexistent/init", "ROOT", "true"],
            125,
            "init image /nonexistent/init: ENOENT",
        ),
    ];
    for (what, args, code, want) in table {
        let name = unique("bad");
        let mut a: Vec<String> = vec!["run".into()];
        if !args.contains(&"--name") {
            a.extend(["--name".into(), name.clone()]);
        }
        a.extend(
            args.iter().map(|x| x.replace("ROOT", &r).replace("FILE", file.to_str().unwrap()).replace("BUSY", &busy)),
        );
        let o = run(Command::new(bin("husk")).args(&a));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(*code), "{what}: {err}");
        assert!(out.is_empty(), "{what}: stdout {out:?}");
        assert_eq!(err.lines().count(), 1, "{what}: not one line: {err:?}");
        assert!(err.starts_with("husk: ") && err.contains(want), "{what}: {err:?} lacks {want:?}");
        assert_nothing_left(&name, s.path());
    }
    assert!(holder.wait().unwrap().success(), "the container holding the name was disturbed");
    assert_nothing_left(&busy, s.path());
}

// ---------------------------------------------------------------------------
// `husk run --join TYPE:PATH`: namespaces made here by unshare(1), set up
// through nsenter(1), then entered by husk.

/// A process of unshare(1) whose namespaces `--join` enters: `pid` is the
/// one inside them (unshare's child with --fork, for the pid namespace).
/// Both are killed by pid on drop.
struct Target {
    unshare: std::process::Child,
    pid: u32,
}

impl Target {
    fn start(flags: &[&str]) -> Target {
        let mut unshare = Command::new("unshare").args(flags).args(["sleep", "60"]).spawn().unwrap();
        let u = unshare.id();
        let fork = flags.contains(&"--fork");
        let mut pid = None;
        for _ in 0..200 {
            let p = match fork {
                true => std::fs::read_to_string(format!("/proc/{u}/task/{u}/children"))
                    .ok()
                    .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok())),
                false => Some(u),
            };
            // Ready once sleep runs: its namespaces are final then.
            if let Some(p) = p {
                if std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0")) {
                    pid = Some(p);
                    break;
                }
            }
            if let Ok(Some(st)) = unshare.try_wait() {
                panic!("unshare {flags:?} ended: {st}");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let pid = pid.unwrap_or_else(|| panic!("unshare {flags:?}: sleep never started"));
        Target { unshare, pid }
    }

    fn ns(&self, ty: &str) -> String {
        format!("/proc/{}/ns/{ty}", self.pid)
    }

    /// The namespace's identity, as `readlink /proc/PID/ns/TYPE` shows it.
    fn link(&self, ty: &str) -> String {
        std::fs::read_link(self.ns(ty)).unwrap().to_str().unwrap().to_string()
    }

    /// Run a shell command inside the target's namespaces (nsenter flags).
    fn enter(&self, ns: &str, script: &str) -> String {
        let o = run(Command::new("nsenter").args(["-t", &self.pid.to_string(), ns, "sh", "-c", script]));
        let (out, err) = text(&o);
        assert!(o.status.success(), "nsenter {ns} {script}: {out}{err}");
        out
    }
}

impl Drop for Target {
    // unshare first: it complains on stderr when its child dies before it.
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        if self.pid != self.unshare.id() {
            let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
        }
    }
}

type Joins = &'static [(&'static str, usize)];

#[test]
fn join_enters_the_given_namespaces() {
    if skip() {
        return;
    }
    let s = Scratch::new("run-join");
    let root = busybox_rootfs(&s, "rootfs");
    std::fs::create_dir_all(root.join("mnt")).unwrap();
    let r = root.to_str().unwrap();
    // Target 0: net, uts, ipc, mnt and pid (its sleep is the pid ns's PID
    // 1); each gets something a fresh namespace would not have.
    let t0 = Target::start(&["--net", "--uts", "--ipc", "--mount", "--pid", "--fork"]);
    t0.enter("-u", "hostname joined-uts");
    t0.enter("-n", "ip link add hj0 type veth peer name hj1 && echo 77 > /proc/sys/net/ipv4/ip_default_ttl");
    t0.enter("-i", "ipcmk -Q >/dev/null");
    t0.enter("-m", &format!("mount -t tmpfs husk-join {r}/mnt && echo target > {r}/mnt/marker"));
    // Target 1: a user namespace mapping root to root, with a net namespace
    // it owns.
    let t1 = Target::start(&["--user", "--map-root-user", "--net"]);
    let targets = [&t0, &t1];
    let ns_of = |want: &str| -> String {
        let mut w = want.to_string();
        for (i, t) in targets.iter().enumerate() {
            for ty in ["net", "uts", "ipc", "pid", "mnt", "user"] {
                w = w.replace(&format!("{{{i}:{ty}}}"), &t.link(ty));
            }
        }
        w
    };
    let net_cmd = "readlink /proc/self/ns/net; ls /sys/class/net; cat /proc/sys/net/ipv4/ip_default_ttl";
    // (what, each --join as TYPE and index in `targets`, command, stdout)
    let table: &[(&str, Joins, &str, &str)] = &[
        ("control: no --join, a fresh net ns with lo only", &[], net_cmd, "NEW\nlo\n64\n"),
        ("net: the target's interfaces and sysctls", &[("net", 0)], net_cmd, "{0:net}\nhj0\nhj1\nlo\n77\n"),
        (
            "uts: the target's hostname, not --hostname's",
            &[("uts", 0)],
            "readlink /proc/self/ns/uts; hostname",
            "{0:uts}\njoined-uts\n",
        ),
        (
            "ipc: the target's message queue",
            &[("ipc", 0)],
            "readlink /proc/self/ns/ipc; wc -l < /proc/sysvipc/msg",
            "{0:ipc}\n2\n",
        ),
        (
            "pid: the target's PID 1 is sleep",
            &[("pid", 0)],
            "readlink /proc/self/ns/pid; head -c 5 /proc/1/cmdline",
            "{0:pid}\nsleep",
        ),
        (
            "mnt: a copy of the target's mounts, not the target's own ns",
            &[("mnt", 0)],
            "cat /mnt/marker; test \"$(readlink /proc/self/ns/mnt)\" != '{0:mnt}' && echo copy",
            "target\ncopy\n",
        ),
        (
            "four at once",
            &[("net", 0), ("uts", 0), ("ipc", 0), ("pid", 0)],
            "for t in net uts ipc pid; do readlink /proc/self/ns/$t; done",
            "{0:net}\n{0:uts}\n{0:ipc}\n{0:pid}\n",
        ),
        (
            "user: uid 0 of the target's map, devices bound, not made",
            &[("user", 1)],
            "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map; test -c /dev/null && echo null",
            "{1:user}\n0\n         0          0          1\nnull\n",
        ),
        (
            "user and the net ns it owns",
            &[("user", 1), ("net", 1)],
            "readlink /proc/self/ns/user; readlink /proc/self/ns/net",
            "{1:user}\n{1:net}\n",
        ),
    ];
    for (what, joins, cmd, want) in table {
        let name = unique("join");
        let mut a: Vec<String> = vec!["run".into(), "--name".into(), name.clone(), "--hostname".into(), "other".into()];
        for (ty, t) in joins.iter() {
            a.extend(["--join".into(), format!("{ty}:{}", targets[*t].ns(ty))]);
        }
        a.extend([r.to_string(), "sh".into(), "-c".into(), ns_of(cmd)]);
        let o = run(Command::new(bin("husk")).args(&a));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{what}: {err}");
        let mut want = ns_of(want);
        if want.starts_with("NEW\n") {
            let own = out.lines().next().unwrap_or_default();
            assert!(own != t0.link("net") && own != t1.link("net") && own.starts_with("net:["), "{what}: {out}");
            want = want.replacen("NEW", own, 1);
        }
        assert_eq!(out, want, "{what}: stderr {err:?}");
        assert_nothing_left(&name, s.path());
    }
    // Joining changed nothing in the targets.
    assert_eq!(t0.enter("-u", "hostname"), "joined-uts\n");
    assert_eq!(t0.enter("-n", "ip -o link | grep -c ' hj[01]@'; cat /proc/sys/net/ipv4/ip_default_ttl"), "2\n77\n");

    // Bad input: one line, 125, nothing left, the target untouched.
    let file = s.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let bad: &[(&str, &[String], String)] = &[
        (
            "a path that does not exist",
            &["--join".into(), "net:/nonexistent/ns".into()],
            "husk: join /nonexistent/ns: ENOENT (No such file or directory)".into(),
        ),
        (
            "a namespace of another type",
            &["--join".into(), format!("net:{}", t0.ns("uts"))],
            format!("husk: setns {}: EINVAL (Invalid argument)", t0.ns("uts")),
        ),
        (
            "a file that is no namespace",
            &["--join".into(), format!("uts:{}", file.display())],
            format!("husk: setns {}: EINVAL (Invalid argument)", file.display()),
        ),
        (
            "a type joined twice",
            &["--join".into(), format!("net:{}", t0.ns("net")), "--join".into(), format!("net:{}", t1.ns("net"))],
            "joined twice".into(),
        ),
        ("an unknown type", &["--join".into(), "time:/proc/self/ns/time".into()], "TYPE is one of".into()),
        ("no path", &["--join".into(), "net:".into()], "want TYPE:PATH".into()),
    ];
    for (what, args, want) in bad {
        let name = unique("join-bad");
        let o = run(Command::new(bin("husk")).args(["run", "--name", &name]).args(*args).args([r, "true"]));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(125), "{what}: {err}");
        assert!(out.is_empty(), "{what}: stdout {out:?}");
        assert_eq!(err.lines().count(), 1, "{what}: not one line: {err:?}");
        assert!(err.starts_with("husk: ") && err.contains(want.as_str()), "{what}: {err:?} lacks {want:?}");
        assert_nothing_left(&name, s.path());
    }
    assert_eq!(t0.enter("-u", "hostname"), "joined-uts\n");
}

// ---------------------------------------------------------------------------
// `husk run --image`: an image imported by husk-rootfs from an OCI layout
// made here (tar, gzip and sha256sum), two layers, the upper one hiding a
// file of the lower one with a whiteout.

fn sh_ok(script: &str) -> String {
    let o = run(Command::new("sh").arg("-c").arg(script));
    let (out, err) = text(&o);
    assert!(o.status.success(), "sh -c {script}\n{out}{err}");
    out
}

/// Store `data` as a blob of the layout; returns (hex digest, size).
fn put_blob(layout: &Path, data: &[u8]) -> (String, usize) {
    let tmp = layout.join("blob.tmp");
    std::fs::write(&tmp, data).unwrap();
    let hex = sh_ok(&format!("sha256sum '{}'", tmp.display()))[..64].to_string();
    std::fs::rename(&tmp, layout.join("blobs/sha256").join(&hex)).unwrap();
    (hex, data.len())
}

/// tar and gzip `dir` into the layout: (blob digest, size, diff_id).
fn put_layer(layout: &Path, dir: &Path) -> (String, usize, String) {
    let tar = layout.join("layer.tar");
    sh_ok(&format!("tar --sort=name --numeric-owner -C '{}' -cf '{}' .", dir.display(), tar.display()));
    let diff_id = sh_ok(&format!("sha256sum '{}'", tar.display()))[..64].to_string();
    sh_ok(&format!("gzip -n -f '{}'", tar.display()));
    let gz = std::fs::read(layout.join("layer.tar.gz")).unwrap();
    let (d, s) = put_blob(layout, &gz);
    (d, s, diff_id)
}

/// Import an image of a busybox base layer (with /etc/hidden and /srv) and
/// an upper layer that whites /etc/hidden out; returns the store.
fn image_store(s: &Scratch, name: &str) -> PathBuf {
    let base = busybox_rootfs(s, "base");
    std::fs::create_dir_all(base.join("srv")).unwrap();
    std::fs::write(base.join("etc/hidden"), "lower\n").unwrap();
    let top = s.join("top");
    std::fs::create_dir_all(top.join("etc")).unwrap();
    std::fs::write(top.join("etc/.wh.hidden"), "").unwrap();
    std::fs::write(top.join("etc/motd"), "upper\n").unwrap();
    let layout = s.join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layers = [put_layer(&layout, &base), put_layer(&layout, &top)];
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/bin","GREETING=hi"],"Entrypoint":["/bin/sh","-c"],"Cmd":["echo $GREETING; pwd; id -u; id -g"],"WorkingDir":"/srv","User":"1000:1000"}},"rootfs":{{"type":"layers","diff_ids":["sha256:{}","sha256:{}"]}}}}"#,
        layers[0].2, layers[1].2
    );
    let (cd, cs) = put_blob(&layout, config.as_bytes());
    let descs: Vec<String> = layers
        .iter()
        .map(|(d, s, _)| {
            format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{d}","size":{s}}}"#)
        })
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{cd}","size":{cs}}},"layers":[{}]}}"#,
        descs.join(",")
    );
    let (md, ms) = put_blob(&layout, manifest.as_bytes());
    std::fs::write(
        layout.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{md}","size":{ms},"annotations":{{"org.opencontainers.image.ref.name":"{name}"}}}}]}}"#
        ),
    )
    .unwrap();
    let store = s.join("store");
    let o = run(Command::new(bin("husk-rootfs")).args(["import", "--store"]).arg(&store).arg(&layout));
    let (out, err) = text(&o);
    assert!(o.status.success(), "import: {out}{err}");
    store
}

#[test]
fn an_image_runs_with_its_config_and_its_layers() {
    if skip() || !bin("husk-rootfs").exists() {
        return;
    }
    let s = Scratch::new("run-image");
    let store = image_store(&s, "demo:1");
    let st = store.to_str().unwrap();
    struct ImageCase {
        what: &'static str,
        args: &'static [&'static str],
        stdout: &'static str,
    }
    let cases = [
        ImageCase {
            what: "Env, Entrypoint, Cmd, WorkingDir and User from the image",
            args: &[],
            stdout: "hi\n/srv\n1000\n1000\n",
        },
        ImageCase {
            what: "COMMAND replaces Cmd, after the Entrypoint",
            args: &["echo $GREETING-$PATH"],
            stdout: "hi-/bin\n",
        },
        ImageCase {
            what: "-e, -w and -u win over the image",
            args: &["-e", "GREETING=bye", "-w", "/tmp", "-u", "0:0", "--"],
            stdout: "bye\n/tmp\n0\n0\n",
        },
        ImageCase {
            what: "a whiteout in the upper layer hides the lower file",
            args: &["test -e /etc/hidden || echo hidden; cat /etc/motd"],
            stdout: "hidden\nupper\n",
        },
        ImageCase {
            what: "the image's layers are read-only underneath the container",
            args: &["-u", "0", "--", "echo x > /etc/motd && cat /etc/motd"],
            stdout: "x\n",
        },
    ];
    for c in cases {
        let name = unique("img");
        let mut args = vec!["--name", &name, "--image", "demo:1", "--store", st];
        // Options go before COMMAND: split the case's own.
        let (opts, cmd): (Vec<&str>, Vec<&str>) = match c.args.iter().position(|a| *a == "--") {
            Some(p) => (c.args[..p].to_vec(), c.args[p + 1..].to_vec()),
            None => (vec![], c.args.to_vec()),
        };
        args.extend(opts);
        args.extend(cmd);
        let o = husk(&args);
        let (out, err) = text(&o);
        assert_eq!((o.status.code(), out.as_str()), (Some(0), c.stdout), "{}: {err}", c.what);
        assert_nothing_left(&name, s.path());
    }
    // The store's layers are untouched by the containers' writes.
    let motd = sh_ok(&format!("cat '{st}'/layers/*/etc/motd"));
    assert_eq!(motd, "upper\n");

    // An unknown image: one line, 125, nothing left.
    let name = unique("img");
    let o = husk(&["--name", &name, "--image", "nosuch:1", "--store", st]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.starts_with("husk: ") && err.lines().count() == 1 && err.contains("nosuch"), "{err}");
    assert_nothing_left(&name, s.path());
}
