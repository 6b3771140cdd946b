//! `husk check`: what this host offers and what `husk run` will use.
//!
//! Runs in the caller's process, as the caller. It probes the running
//! kernel rather than its config: each namespace is tried with unshare(2) in
//! a forked child (so the caller is untouched), clone3 and openat2 are
//! called with arguments the kernel must refuse, and cgroups are found the
//! way `husk run` finds them. One line per item, then a verdict.
//!
//! Exit status: 0 when `husk run` can work here (possibly with fallbacks),
//! 1 when it cannot at all: no mount namespace (every container gets one),
//! no cgroup filesystem (every container gets a cgroup), or, for a caller
//! without CAP_SYS_ADMIN, no user namespace (rootless runs need one).
//! 125 for a bad command line.

use crate::cgroup::{self, Layout, Mode, CONTROLLERS};
use alloc::vec::Vec;
use husk_sys::errno::Errno;
use husk_sys::fmt::{parse_u64, Sink};
use husk_sys::process::{self, Argv, Exit};
use husk_sys::{fs, ns, Error, Fd};

/// How a namespace could be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsProbe {
    /// unshare(flag) worked.
    Yes,
    /// Only together with a new user namespace (no CAP_SYS_ADMIN here).
    InUserNs,
    No(Errno),
}

/// What the probes found.
#[derive(Clone, Debug)]
pub struct Report {
    pub euid: u32,
    /// (name, result) for mnt pid net ipc uts cgroup time user.
    pub ns: Vec<(&'static str, NsProbe)>,
    pub max_user_namespaces: Option<u64>,
    pub cgroup: Result<Layout, Error>,
    pub overlay: bool,
    /// Errno of clone3's size probe: EINVAL = present.
    pub clone3: Errno,
    /// Errno of the CLONE_INTO_CGROUP probe: EBADF = understood.
    pub into_cgroup: Errno,
    /// openat2("/", RESOLVE_IN_ROOT).
    pub openat2: Result<(), Errno>,
    /// The Seccomp: field of /proc/self/status (None: kernel without seccomp).
    pub seccomp: Option<u64>,
}

/// The namespaces probed, in order, and what the absence of each means for
/// `husk run`.
static NS: [(&str, &str); 8] = [
    ("mnt", "husk run cannot work"),
    ("pid", "run with --share of it"),
    ("net", "run with --share of it"),
    ("ipc", "run with --share of it"),
    ("uts", "run with --share of it"),
    ("cgroup", "skipped with a warning"),
    ("time", "not used by husk"),
    ("user", "no --userns, no rootless runs"),
];

/// Entry point of `husk check`. `args` may be the whole argv (`husk check
/// ...`) or only what follows `check`: words up to and including `check`
/// are skipped. Returns the exit status.
pub fn main(args: &Argv) -> i32 {
    let mut i = 0;
    for j in 0..args.len() {
        if args.get(j) == Some(b"check".as_slice()) {
            i = j + 1;
            break;
        }
    }
    let mut out = husk_sys::fmt::stdout();
    match args.get(i) {
        None => {}
        Some(b"-h" | b"--help") => {
            out.s("usage: husk check\n  print what this host offers and what husk run will use;\n  exit 1 when husk run cannot work here\n");
            return 0;
        }
        Some(a) => {
            Error::msg("check: unknown argument", a, "usage: husk check").print("husk");
            return 125;
        }
    }
    let report = probe();
    render(&report, &mut out);
    verdict(&report).map_or(0, |_| 1)
}

/// Run every probe.
pub fn probe() -> Report {
    let mut ns = Vec::new();
    for &(n, _) in &NS {
        ns.push((n, probe_ns(ns::kind_flag(n.as_bytes()).unwrap_or(0))));
    }
    let mut buf = [0u8; 32];
    let max = fs::read_file(Fd::CWD, c"/proc/sys/user/max_user_namespaces", &mut buf);
    let read = |file| fs::read_to_vec(Fd::CWD, file).unwrap_or_default();
    Report {
        euid: process::geteuid(),
        ns,
        max_user_namespaces: max.ok().and_then(|t| parse_u64(t.trim_ascii_end())),
        cgroup: cgroup::detect(),
        overlay: has_overlay(&read(c"/proc/filesystems")),
        clone3: process::clone3_probe(false),
        into_cgroup: process::clone3_probe(true),
        openat2: fs::openat2(Fd::CWD, c"/", fs::O_PATH | fs::O_CLOEXEC, 0, fs::RESOLVE_IN_ROOT).map(drop),
        seccomp: seccomp_field(&read(c"/proc/self/status")),
    }
}

/// Try unshare(flag) in a child; without privilege, the rootless way
/// (together with CLONE_NEWUSER).
fn probe_ns(flag: i32) -> NsProbe {
    match unshare_in_child(flag) {
        Ok(()) => NsProbe::Yes,
        Err(Errno::EPERM) if flag != ns::CLONE_NEWUSER => match unshare_in_child(flag | ns::CLONE_NEWUSER) {
            Ok(()) => NsProbe::InUserNs,
            Err(_) => NsProbe::No(Errno::EPERM),
        },
        Err(e) => NsProbe::No(e),
    }
}

fn unshare_in_child(flags: i32) -> Result<(), Errno> {
    match process::fork()? {
        0 => process::exit(match ns::unshare(flags) {
            Ok(()) => 0,
            Err(e) => e.0 & 0xff,
        }),
        pid => match Exit::from_status(process::wait4(pid, 0)?.1) {
            Exit::Code(0) => Ok(()),
            Exit::Code(e) => Err(Errno(e)),
            _ => Err(Errno::ECHILD),
        },
    }
}

/// /proc/filesystems lists `nodev\toverlay` once the module is loaded.
pub fn has_overlay(text: &[u8]) -> bool {
    text.split(|&c| c == b'\n' || c == b'\t').any(|w| w == b"overlay")
}

/// The value of `Seccomp:` in /proc/self/status.
pub fn seccomp_field(status: &[u8]) -> Option<u64> {
    for l in status.split(|&c| c == b'\n') {
        if let Some(v) = l.strip_prefix(b"Seccomp:") {
            return parse_u64(v.trim_ascii());
        }
    }
    None
}

/// Why `husk run` cannot work here, if it cannot.
pub fn verdict(r: &Report) -> Option<&'static str> {
    let (mut mnt, mut user) = (NsProbe::No(Errno(0)), NsProbe::No(Errno(0)));
    for &(n, p) in r.ns.iter().rev() {
        match n {
            "mnt" => mnt = p,
            "user" => user = p,
            _ => {}
        }
    }
    if let NsProbe::No(_) = mnt {
        return Some("no mount namespace");
    }
    if r.cgroup.is_err() {
        return Some("no cgroup filesystem");
    }
    // Without privilege a mount namespace comes only inside a user namespace.
    match (mnt, user) {
        (NsProbe::InUserNs, NsProbe::No(_)) => Some("no user namespace for a rootless run"),
        _ => None,
    }
}

/// `label` padded to the value column.
fn label<S: Sink>(out: &mut S, label: &str, suffix: &str) {
    out.s(label).s(suffix);
    for _ in label.len() + suffix.len()..12 {
        out.c(b' ');
    }
}

/// A probe that failed: `no (ERRNO): `.
fn no<S: Sink>(out: &mut S, e: Errno) -> &mut S {
    match e.name() {
        Some(n) => out.s("no (").s(n),
        None => out.s("no (errno ").u(e.0 as u64),
    };
    out.s("): ")
}

/// Print the report, one line per item.
pub fn render<S: Sink>(r: &Report, out: &mut S) {
    match r.euid {
        0 => out.s("user        root\n"),
        n => out.s("user        uid ").u(n as u64).s(" (rootless: --userns implied)\n"),
    };
    for &(name, p) in &r.ns {
        label(out, name, " ns");
        match p {
            NsProbe::Yes => out.s("yes"),
            NsProbe::InUserNs => out.s("yes, inside a new user namespace"),
            NsProbe::No(e) => no(out, e).s(NS.iter().find(|n| n.0 == name).map_or("", |n| n.1)),
        };
        match (name, r.max_user_namespaces) {
            ("user", Some(m)) => {
                out.s(" (max_user_namespaces ").u(m).c(b')');
            }
            ("time", _) if !matches!(p, NsProbe::No(_)) => {
                out.s(" (not used by husk)");
            }
            _ => {}
        }
        out.c(b'\n');
    }
    render_cgroup(r, out);
    out.s(match r.overlay {
        true => "overlayfs   yes (layered ROOTFS a:b:c)\n",
        false => "overlayfs   not in /proc/filesystems: only a single-directory ROOTFS (a module may still load on first mount)\n",
    });
    out.s("clone3      ");
    let v2_only = matches!(&r.cgroup, Ok(l) if l.mode() == Mode::V2);
    match (r.clone3, r.into_cgroup) {
        (Errno::ENOSYS, _) => no(out, Errno::ENOSYS).s("clone, then cgroup.procs before the child runs\n"),
        (_, Errno::EBADF) if v2_only => out.s("yes (CLONE_INTO_CGROUP)\n"),
        (_, Errno::EBADF) => {
            out.s("yes (CLONE_INTO_CGROUP when only the v2 cgroup is used; else cgroup.procs first)\n")
        }
        _ => out.s("yes, without CLONE_INTO_CGROUP (before 5.7): cgroup.procs before the child runs\n"),
    };
    out.s("openat2     ");
    match r.openat2 {
        Ok(()) => out.s("yes (RESOLVE_IN_ROOT for mount targets)\n"),
        Err(e) => no(out, e).s("O_NOFOLLOW walk for mount targets\n"),
    };
    out.s("seccomp     ");
    match r.seccomp {
        Some(0) => out.s("yes (husk adds no filter)\n"),
        Some(m) => out.s("yes, this process already runs in mode ").u(m).s(" (probes may see a filter's ENOSYS)\n"),
        None => out.s("no (no Seccomp: in /proc/self/status)\n"),
    };
    match verdict(r) {
        None => out.s("verdict     husk run works here\n"),
        Some(why) => out.s("verdict     husk run cannot work here: ").s(why).s("\n"),
    };
}

fn controllers<S: Sink>(out: &mut S, list: &[alloc::string::String]) {
    for c in list {
        out.c(b' ').s(c);
    }
}

fn render_cgroup<S: Sink>(r: &Report, out: &mut S) {
    let l = match &r.cgroup {
        Ok(l) => l,
        Err(e) => {
            e.render("husk", out.s("cgroup      none: "));
            out.c(b'\n');
            return;
        }
    };
    out.s("cgroup      ").s(l.mode().name());
    let mut sep = " (";
    if !l.v1().is_empty() {
        out.s(sep).s("v1:");
        for h in l.v1() {
            controllers(out, &h.controllers);
        }
        sep = "; ";
    }
    if let Some(h) = l.v2() {
        out.s(sep).s("v2");
        if h.controllers.is_empty() {
            out.s(": no controllers");
        } else {
            out.c(b':');
            controllers(out, &h.controllers);
        }
        out.s(" at ").s(&h.path);
    }
    out.s(")\n");
    // Where each limit would be written: memory, cpu, pids, cpuset, io.
    out.s("limits      ");
    for (n, i) in [1, 2, 3, 0, 4].into_iter().enumerate() {
        let c = &CONTROLLERS[i];
        if n > 0 {
            out.s(", ");
        }
        out.s(c.v2).s(": ");
        match l.place(c) {
            Some((_, true)) => out.s("v2"),
            Some(_) if c.v1 != c.v2 => out.s("v1 ").s(c.v1),
            Some(_) => out.s("v1"),
            None => out.s("missing (refused if asked)"),
        };
    }
    out.c(b'\n');
    match l.v2() {
        Some(h) => out.s("tracking    every container in ").s(&h.path).s("/<parent>/<name>"),
        None => out.s("tracking    v1 hierarchies of the limits asked, else pids"),
    };
    if r.euid != 0 {
        out.s(" (rootless: only when limits are asked, and then needs write access there)");
    }
    out.c(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::Hierarchy;

    fn report(mnt: NsProbe, user: NsProbe, cgroup: bool) -> Report {
        let layout = Layout::new(
            Some(Hierarchy::new("/sys/fs/cgroup/unified", &["hugetlb"])),
            vec![
                Hierarchy::new("/sys/fs/cgroup/memory", &["memory"]),
                Hierarchy::new("/sys/fs/cgroup/cpu", &["cpu", "cpuacct"]),
            ],
        )
        .unwrap();
        Report {
            euid: 0,
            ns: vec![("mnt", mnt), ("pid", NsProbe::Yes), ("cgroup", NsProbe::No(Errno::EINVAL)), ("user", user)],
            max_user_namespaces: Some(7),
            cgroup: if cgroup {
                Ok(layout)
            } else {
                Err(Error::msg("find cgroups in", b"/proc/self/mountinfo", "no cgroup filesystem is mounted"))
            },
            overlay: false,
            clone3: Errno::ENOSYS,
            into_cgroup: Errno::ENOSYS,
            openat2: Err(Errno::ENOSYS),
            seccomp: Some(2),
        }
    }

    fn text(r: &Report) -> String {
        let mut v: Vec<u8> = Vec::new();
        render(r, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn degraded_host_names_each_fallback() {
        let t = text(&report(NsProbe::Yes, NsProbe::Yes, true));
        let want = "\
user        root
mnt ns      yes
pid ns      yes
cgroup ns   no (EINVAL): skipped with a warning
user ns     yes (max_user_namespaces 7)
cgroup      hybrid (v1: memory cpu cpuacct; v2: hugetlb at /sys/fs/cgroup/unified)
limits      memory: v1, cpu: v1, pids: missing (refused if asked), cpuset: missing (refused if asked), io: missing (refused if asked)
tracking    every container in /sys/fs/cgroup/unified/<parent>/<name>
overlayfs   not in /proc/filesystems: only a single-directory ROOTFS (a module may still load on first mount)
clone3      no (ENOSYS): clone, then cgroup.procs before the child runs
openat2     no (ENOSYS): O_NOFOLLOW walk for mount targets
seccomp     yes, this process already runs in mode 2 (probes may see a filter's ENOSYS)
verdict     husk run works here
";
        assert_eq!(t, want);
    }

    #[test]
    fn verdict_fails_only_when_run_cannot_work() {
        assert_eq!(verdict(&report(NsProbe::Yes, NsProbe::No(Errno::ENOSPC), true)), None);
        assert_eq!(verdict(&report(NsProbe::No(Errno::EPERM), NsProbe::Yes, true)), Some("no mount namespace"));
        assert_eq!(verdict(&report(NsProbe::Yes, NsProbe::Yes, false)), Some("no cgroup filesystem"));
        assert_eq!(verdict(&report(NsProbe::InUserNs, NsProbe::Yes, true)), None);
        assert_eq!(
            verdict(&report(NsProbe::InUserNs, NsProbe::No(Errno::ENOSPC), true)),
            Some("no user namespace for a rootless run")
        );
        let t = text(&report(NsProbe::No(Errno::EPERM), NsProbe::Yes, false));
        assert!(t.contains("mnt ns      no (EPERM): husk run cannot work\n"), "{t}");
        assert!(
            t.contains(
                "cgroup      none: husk: find cgroups in /proc/self/mountinfo: no cgroup filesystem is mounted\n"
            ),
            "{t}"
        );
        assert!(t.ends_with("verdict     husk run cannot work here: no mount namespace\n"), "{t}");
    }

    #[test]
    fn arguments_are_refused_except_help() {
        let mut a = husk_sys::process::CStrVec::new();
        for w in ["husk", "check", "--bogus"] {
            a.push(w.as_bytes()).unwrap();
        }
        assert_eq!(main(&a.argv()), 125);
    }

    #[test]
    fn proc_parsers() {
        assert!(has_overlay(b"nodev\tsysfs\nnodev\toverlay\n"));
        assert!(!has_overlay(b"nodev\toverlayfs2\n"));
        assert_eq!(seccomp_field(b"Name:\tx\nSeccomp:\t2\nSeccomp_filters:\t1\n"), Some(2));
        assert_eq!(seccomp_field(b"Name:\tx\n"), None);
    }

    #[test]
    fn probes_match_this_host() {
        let r = probe();
        // clone3 (5.3) and openat2 (5.6) exist on every kernel husk is
        // developed on; a filter could hide them, so compare with the status.
        if r.seccomp == Some(0) {
            assert_eq!(r.clone3, Errno::EINVAL);
            assert_eq!(r.into_cgroup, Errno::EBADF);
            assert_eq!(r.openat2, Ok(()));
        }
        let fs = std::fs::read_to_string("/proc/filesystems").unwrap();
        assert_eq!(r.overlay, fs.lines().any(|l| l.ends_with("\toverlay")));
        for (n, p) in &r.ns {
            let exists = std::path::Path::new(&format!("/proc/self/ns/{n}")).exists();
            assert_eq!(exists, !matches!(p, NsProbe::No(Errno::EINVAL)), "{n}: {p:?}");
        }
    }
}
