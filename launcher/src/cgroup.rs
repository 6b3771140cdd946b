//! cgroups: find where each controller lives (v2, v1 or hybrid), create the
//! container's cgroup with exactly the limits asked for, place processes in
//! it, and remove it when the container is gone.
//!
//! Runs in the host stage, before the container's first process exists, so
//! the limits apply from its first instruction. Layout: `<mount>/<parent>/<name>`
//! in every hierarchy used, where `<mount>` is where that hierarchy is
//! mounted (not the caller's own cgroup: on v2 a cgroup holding processes
//! cannot delegate controllers, and a session cgroup usually holds some).
//!
//! Hierarchies used:
//! - v2 and hybrid: the v2 directory, always. It tracks every process of the
//!   container and offers `cgroup.kill` for cleanup.
//! - v1 and hybrid: one v1 hierarchy per controller a limit needs; on pure
//!   v1 with no limits, the pids hierarchy (else memory, else any) for tracking.
//!
//! A controller is looked up on v2 first (`cgroup.controllers` of the v2
//! root), then on v1; a limit whose controller is missing is an error naming
//! both, and nothing is created. Parent levels are created as needed and
//! kept (other containers share them); a failed create removes everything it
//! made, parents included when empty.

mod plan;

pub use plan::{check_list, validate, Knob, MIN_MEMORY};

use alloc::string::String;
use alloc::vec::Vec;
use husk_sys::errno::{Errno, SysResult};
use husk_sys::fs;
use husk_sys::path::with_cstr;
use husk_sys::{Context, Error, Fd, OwnedFd};

/// Limits a container asks for; None = not asked (write nothing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// Bytes.
    pub memory: Option<u64>,
    /// Bytes, memory plus swap as in docker's --memory-swap; u64::MAX = unlimited.
    pub memory_swap: Option<u64>,
    /// --cpus 1.5 => 1500.
    pub cpus_milli: Option<u64>,
    /// 1..=10000 (v2 cpu.weight).
    pub cpu_weight: Option<u32>,
    pub pids: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// 1..=10000.
    pub io_weight: Option<u32>,
}

/// How the host mounts its cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only cgroup2 (`/sys/fs/cgroup` is cgroup2).
    V2,
    /// Only v1 hierarchies.
    V1,
    /// v1 hierarchies plus a cgroup2 mount (systemd's `unified`), which
    /// holds only the controllers no v1 hierarchy took.
    Hybrid,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::V2 => "v2",
            Mode::V1 => "v1",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// One mounted hierarchy: where, and which controllers it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub path: String,
    pub controllers: Vec<String>,
}

impl Hierarchy {
    pub fn new(path: &str, controllers: &[&str]) -> Hierarchy {
        Hierarchy {
            path: path.into(),
            controllers: controllers.iter().map(|&c| c.into()).collect(),
        }
    }
    pub fn has(&self, ctrl: &str) -> bool {
        self.controllers.iter().any(|c| c == ctrl)
    }
}

/// Where each controller lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    mode: Mode,
    v2: Option<Hierarchy>,
    v1: Vec<Hierarchy>,
}

impl Layout {
    /// A layout from its parts (detect() uses it; tests point it at a temp dir).
    /// `None` when no hierarchy is mounted at all.
    pub fn new(v2: Option<Hierarchy>, v1: Vec<Hierarchy>) -> Option<Layout> {
        let mode = match (&v2, v1.is_empty()) {
            (Some(_), true) => Mode::V2,
            (Some(_), false) => Mode::Hybrid,
            (None, false) => Mode::V1,
            (None, true) => return None,
        };
        Some(Layout { mode, v2, v1 })
    }
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// The cgroup2 mount and the controllers its root offers.
    pub fn v2(&self) -> Option<&Hierarchy> {
        self.v2.as_ref()
    }
    /// The v1 hierarchies holding controllers (named-only ones like
    /// `name=systemd` are left out).
    pub fn v1(&self) -> &[Hierarchy] {
        &self.v1
    }
    /// Where `ctrl` lives: v2 first, then v1.
    fn place(&self, c: plan::Controller) -> Option<Place<'_>> {
        if let Some(h) = self.v2.as_ref().filter(|h| h.has(c.v2)) {
            return Some(Place { h, v2: true });
        }
        self.v1
            .iter()
            .find(|h| h.has(c.v1))
            .map(|h| Place { h, v2: false })
    }
}

#[derive(Clone, Copy)]
struct Place<'a> {
    h: &'a Hierarchy,
    v2: bool,
}

/// Controller names a v1 mount option can be (others are options such as
/// `rw`, `name=systemd`, `clone_children`).
const V1_CONTROLLERS: [&str; 14] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// A cgroup mount found in mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub path: String,
    pub v2: bool,
    pub controllers: Vec<String>,
}

/// The cgroup mounts of a /proc/PID/mountinfo text. A later mount on the
/// same path hides an earlier one; the first mount of a v1 controller wins.
pub fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    for line in text.split(|&c| c == b'\n') {
        // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
        let mut f = line.split(|&c| c == b' ');
        let Some(point) = f.nth(4) else { continue };
        let mut rest = f.skip_while(|&x| x != b"-");
        let (Some(_), Some(fstype), Some(_), Some(sopts)) =
            (rest.next(), rest.next(), rest.next(), rest.next())
        else {
            continue;
        };
        add_mount(&mut out, point, fstype, sopts);
    }
    out
}

/// The cgroup mounts of a /proc/mounts text (`source point fstype opts 0 0`),
/// for kernels or sandboxes without mountinfo.
pub fn parse_mounts(text: &[u8]) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.split(|&c| c == b'\n') {
        let mut f = line.split(|&c| c == b' ');
        if let (Some(_), Some(point), Some(fstype), Some(opts)) =
            (f.next(), f.next(), f.next(), f.next())
        {
            add_mount(&mut out, point, fstype, opts);
        }
    }
    out
}

fn add_mount(out: &mut Vec<Mount>, point: &[u8], fstype: &[u8], opts: &[u8]) {
    let Ok(path) = String::from_utf8(unescape(point)) else {
        return;
    };
    // Whatever is mounted later on the same path hides what was there.
    out.retain(|m| m.path != path);
    let v2 = match fstype {
        b"cgroup2" => true,
        b"cgroup" => false,
        _ => return,
    };
    let controllers: Vec<String> = if v2 {
        Vec::new() // read from cgroup.controllers
    } else {
        let names = opts.split(|&c| c == b',');
        let known = names.filter_map(|o| V1_CONTROLLERS.iter().find(|&&n| n.as_bytes() == o));
        known.map(|&n| String::from(n)).collect()
    };
    if !v2 && (controllers.is_empty() || out.iter().any(|m| !m.v2 && m.controllers == controllers))
    {
        return;
    }
    out.push(Mount {
        path,
        v2,
        controllers,
    });
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let oct = s
            .get(i + 1..i + 4)
            .filter(|o| s[i] == b'\\' && o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(o) => {
                v.push(((o[0] - b'0') << 6) | ((o[1] - b'0') << 3) | (o[2] - b'0'));
                i += 4;
            }
            None => {
                v.push(s[i]);
                i += 1;
            }
        }
    }
    v
}

/// Build the layout from parsed mounts, reading each v2 root's
/// `cgroup.controllers` under `prefix` (empty on a real host).
fn layout_from(mounts: Vec<Mount>) -> Result<Layout, Error> {
    let mut v2 = None;
    let mut v1 = Vec::new();
    for m in mounts {
        if !m.v2 {
            v1.push(Hierarchy {
                path: m.path,
                controllers: m.controllers,
            });
        } else if v2.is_none() {
            v2 = Some(read_v2_root(m.path)?);
        }
    }
    Layout::new(v2, v1).ok_or_else(|| {
        Error::msg(
            "find cgroups in",
            b"/proc/self/mountinfo",
            "no cgroup filesystem is mounted",
        )
    })
}

fn read_v2_root(path: String) -> Result<Hierarchy, Error> {
    let mut file = path.clone();
    file.push_str("/cgroup.controllers");
    let mut buf = [0u8; 256];
    let text = with_cstr(file.as_bytes(), |c| {
        fs::read_file(Fd::CWD, c, &mut buf).map(|t| t.to_vec())
    })
    .at("read", file.as_bytes())?;
    let controllers = text
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .filter_map(|w| core::str::from_utf8(w).ok().map(String::from))
        .collect();
    Ok(Hierarchy { path, controllers })
}

/// Find the host's cgroup layout: mounts from /proc/self/mountinfo (or
/// /proc/mounts), the v2 controllers from `cgroup.controllers`, and, where
/// /proc is not mounted, the filesystem magic of /sys/fs/cgroup.
pub fn detect() -> Result<Layout, Error> {
    for (file, parse) in [
        (
            c"/proc/self/mountinfo",
            parse_mountinfo as fn(&[u8]) -> Vec<Mount>,
        ),
        (c"/proc/mounts", parse_mounts),
    ] {
        match fs::read_to_vec(Fd::CWD, file) {
            Ok(text) => return layout_from(parse(&text)),
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e).at("read", file.to_bytes()),
        }
    }
    layout_from(probe_standard_mounts())
}

/// Without /proc: look at the usual places and trust their statfs magic.
fn probe_standard_mounts() -> Vec<Mount> {
    let magic = |p: &str| {
        with_cstr(p.as_bytes(), |c| {
            fs::openat(
                Fd::CWD,
                c,
                fs::O_RDONLY | fs::O_DIRECTORY | fs::O_CLOEXEC,
                0,
            )
        })
        .and_then(|fd| fs::fstatfs_type(fd.fd()))
        .ok()
    };
    let root = "/sys/fs/cgroup";
    if magic(root) == Some(fs::CGROUP2_SUPER_MAGIC) {
        return alloc::vec![Mount {
            path: root.into(),
            v2: true,
            controllers: Vec::new()
        }];
    }
    let mut out = Vec::new();
    let unified = "/sys/fs/cgroup/unified";
    if magic(unified) == Some(fs::CGROUP2_SUPER_MAGIC) {
        out.push(Mount {
            path: unified.into(),
            v2: true,
            controllers: Vec::new(),
        });
    }
    for c in V1_CONTROLLERS {
        let mut p = String::from("/sys/fs/cgroup/");
        p.push_str(c);
        if magic(&p) == Some(fs::CGROUP_SUPER_MAGIC) {
            add_mount(&mut out, p.as_bytes(), b"cgroup", c.as_bytes());
        }
    }
    out
}

/// The two operations cgroupfs does more than a plain filesystem: mkdir
/// populates the directory with interface files, and rmdir removes a
/// directory that still holds them. The unit tests' fake tree emulates both.
trait Kernel {
    fn mkdir(&self, path: &str) -> SysResult<()>;
    fn rmdir(&self, path: &str) -> SysResult<()>;
}

struct Cgroupfs;

impl Kernel for Cgroupfs {
    fn mkdir(&self, path: &str) -> SysResult<()> {
        with_cstr(path.as_bytes(), |c| fs::mkdirat(Fd::CWD, c, 0o755))
    }
    fn rmdir(&self, path: &str) -> SysResult<()> {
        with_cstr(path.as_bytes(), |c| {
            fs::unlinkat(Fd::CWD, c, fs::AT_REMOVEDIR)
        })
    }
}

fn join_path(dir: &str, file: &str) -> String {
    let mut p = String::with_capacity(dir.len() + 1 + file.len());
    p.push_str(dir);
    p.push('/');
    p.push_str(file);
    p
}

/// Write `value` to `dir/file`, translating the errnos the kernel misleads with.
fn write_knob(dir: &str, file: &str, value: &[u8]) -> Result<(), Error> {
    let path = join_path(dir, file);
    // One write(2) per value: kernel knobs parse each write whole. O_TRUNC
    // is a no-op on cgroupfs (as in `echo 1 > file`) and keeps the test
    // tree's plain files faithful.
    let flags = fs::O_WRONLY | fs::O_TRUNC | fs::O_CLOEXEC;
    let write = |c: &core::ffi::CStr| fs::write_all(fs::openat(Fd::CWD, c, flags, 0)?.fd(), value);
    with_cstr(path.as_bytes(), write).map_err(|e| {
        let mut err = Error::sys("write", path.as_bytes(), e);
        err.detail = plan::explain(file, e);
        err
    })
}

fn read_knob(dir: &str, file: &str) -> Result<Vec<u8>, Error> {
    let path = join_path(dir, file);
    with_cstr(path.as_bytes(), |c| fs::read_to_vec(Fd::CWD, c)).at("read", path.as_bytes())
}

fn exists(path: &str) -> bool {
    with_cstr(path.as_bytes(), |c| {
        fs::fstatat(Fd::CWD, c, fs::AT_SYMLINK_NOFOLLOW)
    })
    .is_ok()
}

/// `--cgroup-parent`: relative, no empty, `.` or `..` components.
fn check_parent(parent: &str) -> Result<(), Error> {
    let ok = !parent.is_empty()
        && parent.len() <= 1024
        && parent
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(Error::msg(
            "--cgroup-parent",
            parent.as_bytes(),
            "must be a relative path without . or .. (e.g. husk)",
        ))
    }
}

/// A directory of one hierarchy that this cgroup occupies.
struct Leaf {
    path: String,
    v2: bool,
}

/// What was created, so it can be removed.
pub struct Cgroup {
    leaves: Vec<Leaf>,
    /// Open leaf of the v2 hierarchy when it is the only one used.
    v2_fd: Option<OwnedFd>,
}

/// Directories made so far by a create, removed in reverse if it fails.
struct Made<'k, K: Kernel> {
    kernel: &'k K,
    dirs: Vec<String>,
    done: bool,
}

impl<K: Kernel> Drop for Made<'_, K> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Leaf first. A shared parent another container uses meanwhile
        // refuses with EBUSY/ENOTEMPTY, which is what we want.
        for d in self.dirs.iter().rev() {
            let _ = self.kernel.rmdir(d);
        }
    }
}

impl Cgroup {
    /// Validate that every asked-for limit has a controller (the error names
    /// the missing controller), create `<mount>/<parent>/<name>` in every
    /// hierarchy needed, and write the limits. On failure, everything created
    /// is removed before the error is returned.
    pub fn create(
        layout: &Layout,
        parent: &str,
        name: &str,
        res: &Resources,
    ) -> Result<Cgroup, Error> {
        create_in(&Cgroupfs, layout, parent, name, res)
    }

    /// A cgroup2 directory fd for clone3(CLONE_INTO_CGROUP), only when that
    /// alone places the child in every hierarchy used (the v2 directory is
    /// the only one). Otherwise the caller writes `add_pid` before letting
    /// the child run.
    pub fn clone_into_fd(&self) -> Option<Fd> {
        self.v2_fd.as_ref().map(OwnedFd::fd)
    }

    /// Write `pid` to cgroup.procs of every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<(), Error> {
        let mut b = husk_sys::CBuf::<16>::new();
        husk_sys::fmt::Sink::i(&mut b, pid as i64);
        for l in &self.leaves {
            write_knob(&l.path, "cgroup.procs", b.bytes())?;
        }
        Ok(())
    }

    /// The directories (absolute paths) this cgroup occupies, v2 first.
    pub fn paths(&self) -> Vec<String> {
        self.leaves.iter().map(|l| l.path.clone()).collect()
    }

    /// Whether the only hierarchy used is v2.
    pub fn is_v2_only(&self) -> bool {
        self.leaves.len() == 1 && self.leaves[0].v2
    }

    /// Remove the directories. Processes still inside are killed first
    /// (`cgroup.kill`, else SIGKILL to each pid of cgroup.procs); rmdir is
    /// retried while the kernel still counts exiting tasks.
    pub fn remove(&self) -> Result<(), Error> {
        remove_all(&Cgroupfs, self.leaves.iter().map(|l| l.path.as_str()))
    }
}

fn create_in<K: Kernel>(
    k: &K,
    layout: &Layout,
    parent: &str,
    name: &str,
    res: &Resources,
) -> Result<Cgroup, Error> {
    check_parent(parent)?;
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::msg(
            "create cgroup",
            name.as_bytes(),
            "bad container name",
        ));
    }
    plan::validate(res)?;

    // Where each needed controller lives; all known before any mkdir.
    let mut v2_ctrls: Vec<&'static str> = Vec::new();
    let mut v1_used: Vec<&Hierarchy> = Vec::new();
    for c in plan::controllers(res) {
        match layout.place(c) {
            Some(p) if p.v2 => v2_ctrls.push(c.v2),
            Some(p) => {
                if !v1_used.iter().any(|h| core::ptr::eq(*h, p.h)) {
                    v1_used.push(p.h);
                }
            }
            None => {
                return Err(Error::msg(
                    c.option,
                    c.v2.as_bytes(),
                    missing_controller(layout.mode),
                ))
            }
        }
    }
    let mut hierarchies: Vec<Place> = Vec::new();
    if let Some(h) = layout.v2() {
        hierarchies.push(Place { h, v2: true });
    } else if v1_used.is_empty() {
        // Pure v1 and no limits: one hierarchy still tracks the processes.
        let pick = ["pids", "memory", "cpu"]
            .iter()
            .find_map(|c| layout.v1.iter().find(|h| h.has(c)));
        if let Some(h) = pick.or(layout.v1.first()) {
            hierarchies.push(Place { h, v2: false });
        }
    }
    hierarchies.extend(v1_used.iter().map(|&h| Place { h, v2: false }));

    let mut made = Made {
        kernel: k,
        dirs: Vec::new(),
        done: false,
    };
    let mut leaves = Vec::new();
    let v2_plan = plan::plan_v2(res);
    let v1_plan = plan::plan_v1(res);
    for p in &hierarchies {
        let leaf = make_levels(&mut made, p, parent, name, &v2_ctrls)?;
        let plan = if p.v2 { &v2_plan } else { &v1_plan };
        for knob in plan
            .iter()
            .filter(|kn| p.h.has(kn.ctrl) && (!p.v2 || v2_ctrls.contains(&kn.ctrl)))
        {
            write_planned(&leaf, knob)?;
        }
        leaves.push(Leaf {
            path: leaf,
            v2: p.v2,
        });
    }
    let v2_fd = match leaves.as_slice() {
        [only] if only.v2 => Some(
            with_cstr(only.path.as_bytes(), |c| {
                fs::openat(
                    Fd::CWD,
                    c,
                    fs::O_RDONLY | fs::O_DIRECTORY | fs::O_CLOEXEC,
                    0,
                )
            })
            .at("open", only.path.as_bytes())?,
        ),
        _ => None,
    };
    made.done = true;
    Ok(Cgroup { leaves, v2_fd })
}

fn missing_controller(mode: Mode) -> &'static str {
    match mode {
        Mode::V2 => "no such controller in cgroup.controllers of the cgroup2 root",
        Mode::V1 => "no cgroup v1 hierarchy holds this controller",
        Mode::Hybrid => "no such controller, neither on a v1 hierarchy nor in the cgroup2 root",
    }
}

/// mkdir each level of `<mount>/<parent>/<name>`; returns the leaf.
/// v2: enable the needed controllers in `cgroup.subtree_control` of every
/// level above the leaf, or the leaf has no files for them.
/// v1 cpuset: a new cgroup starts with empty cpuset.cpus/mems and refuses
/// tasks (ENOSPC) until they are set, so each new level copies its parent's.
fn make_levels<K: Kernel>(
    made: &mut Made<K>,
    p: &Place,
    parent: &str,
    name: &str,
    v2_ctrls: &[&str],
) -> Result<String, Error> {
    let mut enable = String::new();
    for c in v2_ctrls {
        if !enable.is_empty() {
            enable.push(' ');
        }
        enable.push('+');
        enable.push_str(c);
    }
    let cpuset = !p.v2 && p.h.has("cpuset");
    let mut dir = p.h.path.clone();
    for (i, comp) in parent.split('/').chain(core::iter::once(name)).enumerate() {
        let is_leaf = i == parent.split('/').count();
        if p.v2 && !enable.is_empty() {
            write_knob(&dir, "cgroup.subtree_control", enable.as_bytes())?;
        }
        let above = dir.clone();
        dir.push('/');
        dir.push_str(comp);
        match made.kernel.mkdir(&dir) {
            Ok(()) => made.dirs.push(dir.clone()),
            Err(Errno::EEXIST) if !is_leaf => {}
            Err(Errno::EEXIST) => {
                let mut e = Error::sys("create cgroup", dir.as_bytes(), Errno::EEXIST);
                e.detail = "a container of that name is running, or its cgroup was left behind";
                return Err(e);
            }
            Err(e) => return Err(e).at("create cgroup", dir.as_bytes()),
        }
        if cpuset {
            // Existing levels too: one made by another tool may be empty.
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if trim(&read_knob(&dir, f)?).is_empty() {
                    write_knob(&dir, f, trim(&read_knob(&above, f)?))?;
                }
            }
        }
    }
    Ok(dir)
}

fn trim(v: &[u8]) -> &[u8] {
    let end = v
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &v[..end]
}

fn write_planned(leaf: &str, knob: &Knob) -> Result<(), Error> {
    match write_knob(leaf, knob.file, knob.value.as_bytes()) {
        Err(e) if e.errno == Errno::ENOENT => {
            if let Some((alt, v)) = &knob.alt {
                if exists(&join_path(leaf, alt)) {
                    return write_knob(leaf, alt, v.as_bytes());
                }
            }
            let mut e = e;
            if !knob.missing.is_empty() {
                e.detail = knob.missing;
            }
            Err(e)
        }
        r => r,
    }
}

/// Join existing cgroup directories (`husk exec`): write `pid` into each
/// directory's cgroup.procs. Each must be a directory on a cgroup filesystem.
pub fn join(paths: &[String], pid: i32) -> Result<(), Error> {
    let mut b = husk_sys::CBuf::<16>::new();
    husk_sys::fmt::Sink::i(&mut b, pid as i64);
    for p in paths {
        check_cgroup_dir(p)?;
        write_knob(p, "cgroup.procs", b.bytes())?;
    }
    Ok(())
}

/// Remove directories recorded earlier (`husk rm`), killing what still runs
/// in them. Paths that are already gone are fine.
pub fn remove_paths(paths: &[String]) -> Result<(), Error> {
    for p in paths {
        match check_cgroup_dir(p) {
            Err(e) if e.errno == Errno::ENOENT => continue,
            r => r?,
        }
    }
    remove_all(&Cgroupfs, paths.iter().map(String::as_str))
}

/// A recorded path is only trusted if it is absolute, has no `..`, and is a
/// directory on cgroupfs: a tampered state file must not make husk rmdir or
/// kill elsewhere.
fn check_cgroup_dir(p: &str) -> Result<(), Error> {
    if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
        return Err(Error::msg("cgroup", p.as_bytes(), "not an absolute path"));
    }
    let fd = with_cstr(p.as_bytes(), |c| {
        fs::openat(
            Fd::CWD,
            c,
            fs::O_RDONLY | fs::O_DIRECTORY | fs::O_CLOEXEC,
            0,
        )
    })
    .at("open cgroup", p.as_bytes())?;
    let magic = fs::fstatfs_type(fd.fd()).at("statfs", p.as_bytes())?;
    if magic != fs::CGROUP2_SUPER_MAGIC && magic != fs::CGROUP_SUPER_MAGIC {
        return Err(Error::msg(
            "cgroup",
            p.as_bytes(),
            "not on a cgroup filesystem",
        ));
    }
    Ok(())
}

fn remove_all<'a, K: Kernel>(k: &K, paths: impl Iterator<Item = &'a str>) -> Result<(), Error> {
    let mut first = Ok(());
    for p in paths {
        if let Err(e) = remove_dir(k, p) {
            if first.is_ok() {
                first = Err(e);
            }
        }
    }
    first
}

/// How long `remove` waits for killed processes to leave: 200 x 10 ms.
const RMDIR_TRIES: u32 = 200;

fn remove_dir<K: Kernel>(k: &K, dir: &str) -> Result<(), Error> {
    // Usually the container is gone and the first rmdir succeeds; only a
    // busy cgroup costs a kill and a wait.
    for _ in 0..RMDIR_TRIES {
        match k.rmdir(dir) {
            Ok(()) | Err(Errno::ENOENT) => return Ok(()),
            Err(Errno::EBUSY) => {
                kill_all(dir);
                let _ = husk_sys::time::nanosleep(10_000_000);
            }
            Err(e) => return Err(e).at("remove cgroup", dir.as_bytes()),
        }
    }
    let mut e = Error::sys("remove cgroup", dir.as_bytes(), Errno::EBUSY);
    e.detail = "processes are still in it after SIGKILL";
    Err(e)
}

/// Kill every process in `dir`. `cgroup.kill` (v2, 5.14+) kills atomically,
/// forks included; otherwise SIGKILL each pid listed, repeated by the
/// caller's retry loop to catch processes forked meanwhile.
fn kill_all(dir: &str) {
    if write_knob(dir, "cgroup.kill", b"1").is_ok() {
        return;
    }
    if let Ok(procs) = read_knob(dir, "cgroup.procs") {
        for line in procs.split(|&c| c == b'\n') {
            if let Some(pid) =
                husk_sys::fmt::parse_u64(line).filter(|&p| p > 1 && p <= i32::MAX as u64)
            {
                let _ = husk_sys::process::kill(pid as i32, husk_sys::signal::SIGKILL);
            }
        }
    }
}

#[cfg(test)]
mod tests;
