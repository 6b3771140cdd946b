//! Unit tests: mountinfo parsing, and creation/removal against a fake
//! cgroupfs tree in a temp dir; plus, when run as root on a host with v1
//! hierarchies, a real cgroup round trip.

use super::*;
use std::path::{Path, PathBuf};

/// A temp dir removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("husk-cg-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn s(&self, rel: &str) -> String {
        self.0.join(rel).to_str().unwrap().into()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake cgroupfs: mkdir creates the interface files a real kernel would
/// (on v2 only for controllers the parent enabled in cgroup.subtree_control),
/// rmdir refuses while a child or a listed process remains.
struct Fake {
    /// (hierarchy root, v2, files of each new v1 dir / v2 controllers' files)
    roots: Vec<(String, bool, Vec<&'static str>)>,
}

fn errno(e: std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(5))
}

impl Kernel for Fake {
    fn mkdir(&self, path: &str) -> SysResult<()> {
        std::fs::create_dir(path).map_err(errno)?;
        let (_, v2, files) = self.roots.iter().filter(|r| path.starts_with(&r.0)).max_by_key(|r| r.0.len()).unwrap();
        let p = Path::new(path);
        let mut all: Vec<&str> = vec!["cgroup.procs"];
        if *v2 {
            all.extend(["cgroup.kill", "cgroup.subtree_control", "cgroup.controllers"]);
            let enabled = std::fs::read_to_string(p.parent().unwrap().join("cgroup.subtree_control")).unwrap();
            for f in files {
                let ctrl = f.split('.').next().unwrap();
                if enabled.split_whitespace().any(|t| t == format!("+{ctrl}")) {
                    all.push(f);
                }
            }
        } else {
            all.extend(files.iter().copied());
        }
        for f in all {
            std::fs::write(p.join(f), "").unwrap();
        }
        Ok(())
    }
    fn rmdir(&self, path: &str) -> SysResult<()> {
        let p = Path::new(path);
        if !p.exists() {
            return Err(Errno::ENOENT);
        }
        let entries: Vec<_> = std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect();
        let procs = std::fs::read_to_string(p.join("cgroup.procs")).unwrap_or_default();
        if entries.iter().any(|e| e.is_dir()) || !procs.trim().is_empty() {
            return Err(Errno::EBUSY);
        }
        for e in entries {
            std::fs::remove_file(e).unwrap();
        }
        std::fs::remove_dir(p).map_err(errno)
    }
}

const V2_FILES: [&str; 8] =
    ["memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max", "cpuset.cpus", "cpuset.mems", "io.weight"];

fn fake_v2(t: &Tmp) -> (Layout, Fake) {
    let root = t.s("cg2");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(t.0.join("cg2/cgroup.controllers"), "cpuset cpu io memory hugetlb pids\n").unwrap();
    std::fs::write(t.0.join("cg2/cgroup.subtree_control"), "").unwrap();
    let layout = layout_from(vec![Mount { path: root.clone(), v2: true, controllers: vec![] }]).unwrap();
    (layout, Fake { roots: vec![(root, true, V2_FILES.to_vec())] })
}

/// This host's shape: v1 memory, cpu,cpuacct, cpuset, pids, blkio (BFQ
/// only) and a cgroup2 `unified` mount offering only hugetlb.
fn fake_hybrid(t: &Tmp, memsw: bool) -> (Layout, Fake) {
    let mut roots = vec![];
    let mut v1 = vec![];
    let mem: &[&str] =
        if memsw { &["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"] } else { &["memory.limit_in_bytes"] };
    for (dir, ctrls, files) in [
        ("memory", &["memory"][..], mem),
        ("cpu,cpuacct", &["cpu", "cpuacct"][..], &["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"][..]),
        ("cpuset", &["cpuset"][..], &["cpuset.cpus", "cpuset.mems"][..]),
        ("pids", &["pids"][..], &["pids.max"][..]),
        ("blkio", &["blkio"][..], &["blkio.bfq.weight"][..]),
    ] {
        std::fs::create_dir(t.0.join(dir)).unwrap();
        roots.push((t.s(dir), false, files.to_vec()));
        v1.push(Hierarchy::new(&t.s(dir), ctrls));
    }
    std::fs::write(t.0.join("cpuset/cpuset.cpus"), "0-1\n").unwrap();
    std::fs::write(t.0.join("cpuset/cpuset.mems"), "0\n").unwrap();
    std::fs::create_dir(t.0.join("unified")).unwrap();
    std::fs::write(t.0.join("unified/cgroup.subtree_control"), "").unwrap();
    roots.push((t.s("unified"), true, vec!["hugetlb.2MB.max"]));
    let layout = Layout::new(Some(Hierarchy::new(&t.s("unified"), &["hugetlb"])), v1).unwrap();
    (layout, Fake { roots })
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn line(e: &Error) -> String {
    format!("{e:?}")
}

/// Every directory under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.push(p.strip_prefix(root).unwrap().to_str().unwrap().to_string());
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

const HOST_MOUNTINFO: &str = "\
23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:5 - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
";

#[test]
fn mountinfo_finds_v1_hierarchies_and_the_v2_mount() {
    let m = parse_mountinfo(HOST_MOUNTINFO.as_bytes());
    let got: Vec<(&str, bool, Vec<&str>)> =
        m.iter().map(|m| (m.path.as_str(), m.v2, m.controllers.iter().map(String::as_str).collect())).collect();
    assert_eq!(
        got,
        [
            ("/sys/fs/cgroup/cpu", false, vec!["cpu"]),
            ("/sys/fs/cgroup/cpuacct", false, vec!["cpuacct"]),
            ("/sys/fs/cgroup/memory", false, vec!["memory"]),
            ("/sys/fs/cgroup/pids", false, vec!["pids"]),
            ("/sys/fs/cgroup/unified", true, vec![]),
        ]
    );
}

#[test]
fn mountinfo_handles_comounts_escapes_duplicates_and_overmounts() {
    let text = "\
50 31 0:40 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
51 31 0:40 / /mnt/again rw - cgroup cgroup rw,cpu,cpuacct
52 31 0:41 / /my\\040cg rw - cgroup2 cgroup2 rw
53 31 0:42 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
54 31 0:43 / /sys/fs/cgroup rw - tmpfs tmpfs rw
garbage
";
    let m = parse_mountinfo(text.as_bytes());
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!((m[0].path.as_str(), m[0].controllers.len()), ("/sys/fs/cgroup/cpu,cpuacct", 2));
    assert_eq!((m[1].path.as_str(), m[1].v2), ("/my cg", true));
}

#[test]
fn proc_mounts_fallback_parses_the_same() {
    let text = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\ncgroup /x/memory cgroup rw,memory 0 0\n";
    let m = parse_mounts(text.as_bytes());
    assert_eq!(
        m.iter().map(|m| (m.path.as_str(), m.v2)).collect::<Vec<_>>(),
        [("/sys/fs/cgroup", true), ("/x/memory", false)]
    );
}

#[test]
fn layout_modes() {
    let v2 = || Some(Hierarchy::new("/sys/fs/cgroup", &["memory"]));
    let v1 = || vec![Hierarchy::new("/sys/fs/cgroup/memory", &["memory"])];
    assert_eq!(Layout::new(v2(), vec![]).unwrap().mode(), Mode::V2);
    assert_eq!(Layout::new(None, v1()).unwrap().mode(), Mode::V1);
    assert_eq!(Layout::new(v2(), v1()).unwrap().mode(), Mode::Hybrid);
    assert!(Layout::new(None, vec![]).is_none());
}

#[test]
fn v2_create_enables_controllers_writes_limits_and_removes() {
    let t = Tmp::new("v2");
    let (layout, k) = fake_v2(&t);
    let res = Resources {
        memory: Some(64 << 20),
        memory_swap: Some(u64::MAX),
        cpus_milli: Some(500),
        pids: Some(32),
        io_weight: Some(300),
        ..Default::default()
    };
    let cg = create_in(&k, &layout, "husk/nested", "c1", &res).unwrap();
    let leaf = t.s("cg2/husk/nested/c1");
    assert_eq!(cg.paths(), std::slice::from_ref(&leaf));
    assert!(cg.clone_into_fd().is_some(), "pure v2: CLONE_INTO_CGROUP places the child");
    for level in ["cg2", "cg2/husk", "cg2/husk/nested"] {
        assert_eq!(read(&t.s(&format!("{level}/cgroup.subtree_control"))), "+memory +cpu +pids +io", "{level}");
    }
    let want = [
        ("memory.max", "67108864"),
        ("memory.swap.max", "max"),
        ("cpu.max", "50000 100000"),
        ("pids.max", "32"),
        ("io.weight", "default 300"),
        ("cpu.weight", ""),
    ];
    for (f, v) in want {
        assert_eq!(read(&format!("{leaf}/{f}")), v, "{f}");
    }
    assert!(!Path::new(&format!("{leaf}/cpuset.cpus")).exists(), "cpuset was not enabled");
    cg.add_pid(4242).unwrap();
    assert_eq!(read(&format!("{leaf}/cgroup.procs")), "4242");
    std::fs::write(format!("{leaf}/cgroup.procs"), "").unwrap();
    remove_all(&k, cg.leaves.iter().map(|l| l.path.as_str())).unwrap();
    assert_eq!(tree(&t.0), ["cg2", "cg2/husk", "cg2/husk/nested"], "parents stay, the leaf is gone");
}

#[test]
fn v2_without_limits_makes_only_the_directory() {
    let t = Tmp::new("v2none");
    let (layout, k) = fake_v2(&t);
    let cg = create_in(&k, &layout, "husk", "c2", &Resources::default()).unwrap();
    assert_eq!(read(&t.s("cg2/cgroup.subtree_control")), "", "nothing enabled that was not asked");
    assert_eq!(cg.paths(), [t.s("cg2/husk/c2")]);
    assert!(!Path::new(&t.s("cg2/husk/c2/memory.max")).exists());
}

#[test]
fn hybrid_create_uses_v1_controllers_and_the_v2_directory() {
    let t = Tmp::new("hybrid");
    let (layout, k) = fake_hybrid(&t, true);
    assert_eq!(layout.mode(), Mode::Hybrid);
    let res = Resources {
        memory: Some(8 << 20),
        memory_swap: Some(16 << 20),
        cpu_weight: Some(50),
        cpuset_mems: Some("0".into()),
        io_weight: Some(10000),
        ..Default::default()
    };
    let cg = create_in(&k, &layout, "husk", "c1", &res).unwrap();
    assert_eq!(
        cg.paths(),
        ["unified/husk/c1", "cpuset/husk/c1", "memory/husk/c1", "cpu,cpuacct/husk/c1", "blkio/husk/c1"].map(|p| t.s(p))
    );
    assert!(cg.clone_into_fd().is_none(), "v1 hierarchies need cgroup.procs writes");
    let want = [
        ("memory/husk/c1/memory.limit_in_bytes", "8388608"),
        ("memory/husk/c1/memory.memsw.limit_in_bytes", "16777216"),
        ("cpu,cpuacct/husk/c1/cpu.shares", "512"),
        ("cpu,cpuacct/husk/c1/cpu.cfs_quota_us", ""),
        ("blkio/husk/c1/blkio.bfq.weight", "1000"),
        // New cpuset levels inherit the parent's CPUs and nodes.
        ("cpuset/husk/cpuset.cpus", "0-1"),
        ("cpuset/husk/cpuset.mems", "0"),
        ("cpuset/husk/c1/cpuset.cpus", "0-1"),
        ("cpuset/husk/c1/cpuset.mems", "0"),
        ("unified/cgroup.subtree_control", ""),
    ];
    for (f, v) in want {
        assert_eq!(read(&t.s(f)), v, "{f}");
    }
    assert!(!Path::new(&t.s("pids/husk")).exists(), "no pids limit, no pids cgroup");
    cg.add_pid(7).unwrap();
    for p in cg.paths() {
        assert_eq!(read(&format!("{p}/cgroup.procs")), "7");
        std::fs::write(format!("{p}/cgroup.procs"), "").unwrap();
    }
    remove_all(&k, cg.leaves.iter().map(|l| l.path.as_str())).unwrap();
    assert!(tree(&t.0).iter().all(|d| !d.ends_with("c1")), "{:?}", tree(&t.0));
}

#[test]
fn an_empty_existing_cpuset_parent_is_initialised() {
    let t = Tmp::new("cpuset");
    let (layout, k) = fake_hybrid(&t, true);
    k.mkdir(&t.s("cpuset/husk")).unwrap(); // made by someone else, left empty
    std::fs::write(t.0.join("cpuset/husk/cpuset.mems"), "0").unwrap();
    let res = Resources { cpuset_cpus: Some("1".into()), ..Default::default() };
    create_in(&k, &layout, "husk", "c1", &res).unwrap();
    assert_eq!(read(&t.s("cpuset/husk/cpuset.cpus")), "0-1");
    assert_eq!(read(&t.s("cpuset/husk/cpuset.mems")), "0", "a set value is kept");
    assert_eq!(read(&t.s("cpuset/husk/c1/cpuset.cpus")), "1");
    assert_eq!(read(&t.s("cpuset/husk/c1/cpuset.mems")), "0");
}

#[test]
fn pure_v1_without_limits_tracks_in_the_pids_hierarchy() {
    let t = Tmp::new("v1");
    let (hybrid, k) = fake_hybrid(&t, true);
    let layout = Layout::new(None, hybrid.v1().to_vec()).unwrap();
    let cg = create_in(&k, &layout, "husk", "c1", &Resources::default()).unwrap();
    assert_eq!(cg.paths(), [t.s("pids/husk/c1")]);
    assert!(cg.clone_into_fd().is_none());
}

#[test]
fn a_missing_controller_is_named_and_nothing_is_created() {
    let t = Tmp::new("missing");
    let (layout, k) = fake_v2(&t);
    let no_pids = Layout::new(Some(Hierarchy::new(&layout.v2().unwrap().path, &["memory"])), vec![]).unwrap();
    let res = Resources { memory: Some(8 << 20), pids: Some(5), ..Default::default() };
    let e = create_in(&k, &no_pids, "husk", "c1", &res).err().unwrap();
    assert_eq!(line(&e), "husk: --pids pids: no such controller in cgroup.controllers of the cgroup2 root");
    let (mut hybrid, hk) = fake_hybrid(&t, true);
    hybrid.v1.retain(|h| !h.has("pids"));
    let e = create_in(&hk, &hybrid, "husk", "c1", &res).err().unwrap();
    assert_eq!(line(&e), "husk: --pids pids: no such controller, neither on a v1 hierarchy nor in the cgroup2 root");
    let e = create_in(&hk, &hybrid, "husk", "c1", &Resources { io_weight: Some(5), ..Default::default() });
    assert!(e.is_ok(), "blkio is there");
    let made: Vec<String> = tree(&t.0).into_iter().filter(|d| d.contains("husk")).collect();
    assert_eq!(made, ["blkio/husk", "blkio/husk/c1", "unified/husk", "unified/husk/c1"]);
}

#[test]
fn a_failed_write_removes_everything_created() {
    let t = Tmp::new("rollback");
    let (layout, k) = fake_hybrid(&t, false);
    let res = Resources { pids: Some(9), memory: Some(4 << 20), memory_swap: Some(8 << 20), ..Default::default() };
    let e = create_in(&k, &layout, "husk/deep", "c1", &res).err().unwrap();
    assert_eq!(
        line(&e),
        format!(
            "husk: write {}: ENOENT (No such file or directory): swap accounting is off in this kernel (boot with swapaccount=1)",
            t.s("memory/husk/deep/c1/memory.memsw.limit_in_bytes")
        )
    );
    let left = tree(&t.0);
    assert_eq!(left, ["blkio", "cpu,cpuacct", "cpuset", "memory", "pids", "unified"], "nothing left behind");
}

#[test]
fn an_existing_leaf_is_refused_and_kept() {
    let t = Tmp::new("exists");
    let (layout, k) = fake_v2(&t);
    let _first = create_in(&k, &layout, "husk", "c1", &Resources::default()).unwrap();
    let e = create_in(&k, &layout, "husk", "c1", &Resources::default()).err().unwrap();
    assert!(line(&e).contains("EEXIST (File exists): a container of that name is running"), "{}", line(&e));
    assert!(Path::new(&t.s("cg2/husk/c1")).is_dir(), "the other container's cgroup stays");
}

#[test]
fn bad_parents_and_names_are_refused_before_anything_is_made() {
    let t = Tmp::new("parent");
    let (layout, k) = fake_v2(&t);
    for p in ["", "/abs", "a/../b", "a//b", "..", "./a", "a/"] {
        let e = create_in(&k, &layout, p, "c1", &Resources::default()).err().unwrap();
        assert!(line(&e).starts_with("husk: --cgroup-parent"), "{p}: {}", line(&e));
    }
    for n in ["", "a/b", ".."] {
        assert!(create_in(&k, &layout, "husk", n, &Resources::default()).is_err(), "{n}");
    }
    let e =
        create_in(&k, &layout, "husk", "c1", &Resources { memory: Some(1000), ..Default::default() }).err().unwrap();
    assert_eq!(line(&e), "husk: --memory 1000: below 1m, too small for a container to start");
    assert!(tree(&t.0) == ["cg2"], "{:?}", tree(&t.0));
}

#[test]
fn recorded_paths_must_be_cgroup_directories() {
    let t = Tmp::new("paths");
    let e = remove_paths(&[t.s("")]).err().unwrap();
    assert!(line(&e).ends_with("not on a cgroup filesystem"), "{}", line(&e));
    let e = join(&["relative/x".into()], 1).err().unwrap();
    assert!(line(&e).ends_with("not an absolute path"), "{}", line(&e));
    remove_paths(&["/sys/fs/cgroup/no-such-husk-cgroup".into()]).unwrap();
    assert!(t.0.is_dir(), "a non-cgroup directory is never removed");
}

// ---- real cgroups, as root ----

fn root_v1_memory() -> Option<Layout> {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false);
    let layout = detect().ok()?;
    if !root || !layout.v1().iter().any(|h| h.has("memory")) {
        println!("skipped: needs root and a v1 memory hierarchy (this host: {:?})", layout.mode());
        return None;
    }
    Some(layout)
}

#[test]
fn detect_sees_this_host() {
    let layout = detect().unwrap();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let has_v1 = mi.lines().any(|l| l.contains(" - cgroup ") && !l.ends_with("name=systemd"));
    let has_v2 = mi.lines().any(|l| l.contains(" - cgroup2 "));
    let want = match (has_v2, has_v1) {
        (true, false) => Mode::V2,
        (true, true) => Mode::Hybrid,
        _ => Mode::V1,
    };
    assert_eq!(layout.mode(), want);
    if let Some(h) = layout.v2() {
        let text = std::fs::read_to_string(format!("{}/cgroup.controllers", h.path)).unwrap();
        assert_eq!(h.controllers, text.split_whitespace().collect::<Vec<_>>());
    }
}

#[test]
fn real_v1_cgroup_limits_a_process_and_is_removed() {
    let Some(layout) = root_v1_memory() else {
        return;
    };
    let parent = format!("husk-test-{}", std::process::id());
    let res = Resources {
        memory: Some(8 << 20),
        pids: Some(16),
        cpus_milli: Some(500),
        cpu_weight: Some(200),
        ..Default::default()
    };
    let cg = Cgroup::create(&layout, &parent, "c1", &res).unwrap();
    let paths = cg.paths();
    let mem = paths.iter().find(|p| p.contains("/memory/")).unwrap();
    assert_eq!(read(&format!("{mem}/memory.limit_in_bytes")).trim(), "8388608");
    let pids = paths.iter().find(|p| std::path::Path::new(&format!("{p}/pids.max")).exists()).unwrap();
    assert_eq!(read(&format!("{pids}/pids.max")).trim(), "16");
    if let Some(cpu) = paths.iter().find(|p| std::path::Path::new(&format!("{p}/cpu.shares")).exists()) {
        assert_eq!(read(&format!("{cpu}/cpu.shares")).trim(), "2048");
        assert_eq!(read(&format!("{cpu}/cpu.cfs_quota_us")).trim(), "50000");
    }

    // A child placed in every hierarchy, then killed by remove().
    let child = match husk_sys::process::fork().unwrap() {
        0 => loop {
            let _ = husk_sys::time::nanosleep(1_000_000_000);
        },
        pid => pid,
    };
    let reaper = std::thread::spawn(move || husk_sys::process::wait4(child, 0).unwrap());
    cg.add_pid(child).unwrap();
    for p in &paths {
        assert!(read(&format!("{p}/cgroup.procs")).lines().any(|l| l == child.to_string()), "{p}");
    }
    cg.remove().unwrap();
    let (_, status) = reaper.join().unwrap();
    assert_eq!(husk_sys::process::Exit::from_status(status), husk_sys::process::Exit::Signal(9));
    for p in &paths {
        assert!(!std::path::Path::new(p).exists(), "{p} left behind");
    }
    // The parent levels stay for the next container; the test removes its own.
    let parents: Vec<String> = paths.iter().map(|p| p.trim_end_matches("/c1").to_string()).collect();
    remove_paths(&parents).unwrap();
    for p in &parents {
        assert!(!std::path::Path::new(p).exists(), "{p} left behind");
    }
}

#[test]
fn real_create_failure_leaves_nothing_behind() {
    let Some(layout) = root_v1_memory() else {
        return;
    };
    let parent = format!("husk-test-fail-{}", std::process::id());
    // A CPU that does not exist: cpuset.cpus refuses it after the
    // directories were made, so the rollback is exercised for real.
    let res = Resources { memory: Some(4 << 20), cpuset_cpus: Some("4095".into()), ..Default::default() };
    let Err(e) = Cgroup::create(&layout, &parent, "c1", &res) else { panic!("cpu 4095 accepted") };
    let why = line(&e);
    assert!(
        why.contains("cpuset.cpus: ERANGE (Numerical result out of range): no such CPU on this host")
            || why.contains("cpuset.cpus: EINVAL (Invalid argument): not a subset"),
        "{why}"
    );
    for h in layout.v1().iter().chain(layout.v2()) {
        let p = format!("{}/{parent}", h.path);
        assert!(!std::path::Path::new(&p).exists(), "{p} left behind");
    }
}
