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

pub use plan::{validate, CONTROLLERS};

use alloc::string::String;
use alloc::vec::Vec;
use husk_sys::errno::{Errno, SysResult};
use husk_sys::fmt::Sink;
use husk_sys::path::with_cstr;
use husk_sys::{fs, CBuf, Context, Error, Fd, OwnedFd};
use plan::Controller;

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

/// One mounted hierarchy: where, whether the parsers found it as cgroup2,
/// and which controllers it holds (a cgroup2 root's come from its
/// `cgroup.controllers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub path: String,
    pub v2: bool,
    pub controllers: Vec<String>,
}

/// A cgroup mount found in mountinfo.
pub type Mount = Hierarchy;

impl Hierarchy {
    pub fn new(path: &str, controllers: &[&str]) -> Hierarchy {
        let controllers = controllers.iter().map(|&c| c.into()).collect();
        Hierarchy { path: path.into(), v2: false, controllers }
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
        let mode = match (v2.is_some(), v1.is_empty()) {
            (true, true) => Mode::V2,
            (true, false) => Mode::Hybrid,
            (false, false) => Mode::V1,
            _ => return None,
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
    /// Where `c` lives, v2 first, then v1; true = on v2.
    pub fn place(&self, c: &Controller) -> Option<(&Hierarchy, bool)> {
        if let Some(h) = self.v2.as_ref().filter(|h| h.has(c.v2)) {
            return Some((h, true));
        }
        self.v1.iter().find(|h| h.has(c.v1)).map(|h| (h, false))
    }
}

/// Where cgroup2 is probed without /proc, then the controller names a v1
/// mount option can be (others are options such as `rw`, `name=systemd`).
const PROBED: [&str; 16] = [
    "",
    "unified",
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

/// The cgroup mounts of a /proc/PID/mountinfo text. A later mount on the
/// same path hides an earlier one; the first mount of a v1 controller wins.
pub fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    parse(text, true)
}

/// The cgroup mounts of a /proc/mounts text (`source point fstype opts 0 0`),
/// for kernels or sandboxes without mountinfo.
pub fn parse_mounts(text: &[u8]) -> Vec<Mount> {
    parse(text, false)
}

fn parse(text: &[u8], mountinfo: bool) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.split(|&c| c == b'\n') {
        // id parent maj:min root point opts [optional...] - fstype source superopts
        let mut f = line.split(|&c| c == b' ');
        let point = f.nth(if mountinfo { 4 } else { 1 });
        if mountinfo {
            while f.next().is_some_and(|x| x != b"-") {}
        }
        let fstype = f.next();
        if mountinfo {
            f.next();
        }
        if let (Some(p), Some(t), Some(o)) = (point, fstype, f.next()) {
            add_mount(&mut out, p, t, o);
        }
    }
    out
}

fn add_mount(out: &mut Vec<Mount>, point: &[u8], fstype: &[u8], opts: &[u8]) {
    let Some(path) = unescape(point) else { return };
    // Whatever is mounted later on the same path hides what was there.
    out.retain(|m| m.path != path);
    let v2 = fstype == b"cgroup2";
    if !v2 && fstype != b"cgroup" {
        return;
    }
    let mut controllers = Vec::new();
    if !v2 {
        for o in opts.split(|&c| c == b',') {
            for n in &PROBED[2..] {
                if n.as_bytes() == o {
                    controllers.push(String::from(*n));
                }
            }
        }
        // Named-only hierarchies hold no controller; a controller is in one
        // hierarchy only, so a second mount holding it is the same one.
        match controllers.first() {
            Some(c) if !out.iter().any(|m| !m.v2 && m.has(c)) => {}
            _ => return,
        }
    }
    out.push(Mount { path, v2, controllers });
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(mut s: &[u8]) -> Option<String> {
    let mut v = Vec::with_capacity(s.len());
    loop {
        s = match s {
            [b'\\', a @ b'0'..=b'7', b @ b'0'..=b'7', c @ b'0'..=b'7', rest @ ..] => {
                v.push(((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0'));
                rest
            }
            [c, rest @ ..] => {
                v.push(*c);
                rest
            }
            [] => return String::from_utf8(v).ok(),
        }
    }
}

/// Build the layout from parsed mounts, reading the v2 root's
/// `cgroup.controllers`.
fn layout_from(mounts: Vec<Mount>) -> Result<Layout, Error> {
    let mut v2 = None;
    let mut v1 = Vec::new();
    for m in mounts {
        if !m.v2 {
            v1.push(m);
        } else if v2.is_none() {
            v2 = Some(m);
        }
    }
    if let Some(m) = &mut v2 {
        let text = read_knob(&m.path, "cgroup.controllers")?;
        for w in text.split(u8::is_ascii_whitespace) {
            if let (false, Ok(w)) = (w.is_empty(), core::str::from_utf8(w)) {
                m.controllers.push(w.into());
            }
        }
    }
    Layout::new(v2, v1)
        .ok_or_else(|| Error::msg("find cgroups in", b"/proc/self/mountinfo", "no cgroup filesystem is mounted"))
}

/// Find the host's cgroup layout: mounts from /proc/self/mountinfo (or
/// /proc/mounts), the v2 controllers from `cgroup.controllers`, and, where
/// /proc is not mounted, the filesystem magic of /sys/fs/cgroup.
pub fn detect() -> Result<Layout, Error> {
    for (i, file) in [c"/proc/self/mountinfo", c"/proc/mounts"].into_iter().enumerate() {
        match fs::read_to_vec(Fd::CWD, file) {
            Ok(text) => return layout_from(parse(&text, i == 0)),
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e).at("read", file.to_bytes()),
        }
    }
    layout_from(probe_standard_mounts())
}

/// Without /proc: look at the usual places and trust their statfs magic.
fn probe_standard_mounts() -> Vec<Mount> {
    let mut out = Vec::new();
    for (i, name) in PROBED.iter().enumerate() {
        let mut p = CBuf::<64>::new();
        p.s("/sys/fs/cgroup");
        if i > 0 {
            p.c(b'/').s(name);
        }
        let (magic, fstype) = match i {
            0 | 1 => (fs::CGROUP2_SUPER_MAGIC, "cgroup2"),
            _ => (fs::CGROUP_SUPER_MAGIC, "cgroup"),
        };
        if fs_magic(p.bytes()) == Ok(magic) {
            add_mount(&mut out, p.bytes(), fstype.as_bytes(), name.as_bytes());
            if i == 0 {
                break; // pure v2
            }
        }
    }
    out
}

fn open_dir(path: &[u8]) -> SysResult<OwnedFd> {
    let flags = fs::O_RDONLY | fs::O_DIRECTORY | fs::O_CLOEXEC;
    with_cstr(path, |c| fs::openat(Fd::CWD, c, flags, 0))
}

fn fs_magic(path: &[u8]) -> SysResult<i64> {
    fs::fstatfs_type(open_dir(path)?.fd())
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
        with_cstr(path.as_bytes(), |c| fs::unlinkat(Fd::CWD, c, fs::AT_REMOVEDIR))
    }
}

/// Write `value` to `dir/file` (or read it: `value` None), translating the
/// errnos the kernel misleads with.
fn knob(dir: &str, file: &str, value: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    let mut p = CBuf::<4096>::new();
    p.s(dir).c(b'/').s(file);
    // One write(2) per value: kernel knobs parse each write whole. O_TRUNC
    // is a no-op on cgroupfs (as in `echo 1 > file`) and keeps the test
    // tree's plain files faithful.
    let flags = fs::O_WRONLY | fs::O_TRUNC | fs::O_CLOEXEC;
    let r = p.cstr().and_then(|c| match value {
        Some(v) => fs::write_all(fs::openat(Fd::CWD, c, flags, 0)?.fd(), v).map(|()| Vec::new()),
        None => fs::read_to_vec(Fd::CWD, c),
    });
    r.map_err(|e| {
        let mut err = Error::sys(if value.is_some() { "write" } else { "read" }, p.bytes(), e);
        err.detail = plan::explain(file, e);
        err
    })
}

fn write_knob(dir: &str, file: &str, value: &[u8]) -> Result<(), Error> {
    knob(dir, file, Some(value)).map(drop)
}

fn read_knob(dir: &str, file: &str) -> Result<Vec<u8>, Error> {
    knob(dir, file, None)
}

fn write_pid(dir: &str, pid: i32) -> Result<(), Error> {
    let mut b = CBuf::<16>::new();
    b.i(pid as i64);
    write_knob(dir, "cgroup.procs", b.bytes())
}

fn bad_component(c: &str) -> bool {
    c.is_empty() || c == "." || c == ".."
}

/// `--cgroup-parent`: relative, no empty, `.` or `..` components; the name
/// one component.
fn check_names(parent: &str, name: &str) -> Result<(), Error> {
    if parent.len() > 1024 || parent.split('/').any(bad_component) {
        let why = "must be a relative path without . or .. (e.g. husk)";
        return Err(Error::msg("--cgroup-parent", parent.as_bytes(), why));
    }
    if bad_component(name) || name.contains('/') {
        return Err(Error::msg("create cgroup", name.as_bytes(), "bad container name"));
    }
    Ok(())
}

/// A directory of one hierarchy that this cgroup occupies.
struct Leaf {
    path: String,
}

/// What was created, so it can be removed.
pub struct Cgroup {
    leaves: Vec<Leaf>,
    /// Open leaf of the v2 hierarchy when it is the only one used.
    v2_fd: Option<OwnedFd>,
}

impl Cgroup {
    /// Validate that every asked-for limit has a controller (the error names
    /// the missing controller), create `<mount>/<parent>/<name>` in every
    /// hierarchy needed, and write the limits. On failure, everything created
    /// is removed before the error is returned.
    pub fn create(layout: &Layout, parent: &str, name: &str, res: &Resources) -> Result<Cgroup, Error> {
        create_in(&Cgroupfs, layout, parent, name, res)
    }

    /// A cgroup2 directory fd for clone3(CLONE_INTO_CGROUP), only when that
    /// alone places the child in every hierarchy used (the v2 directory is
    /// the only one); otherwise the caller writes cgroup.procs before it lets
    /// the child run.
    pub fn clone_into_fd(&self) -> Option<Fd> {
        self.v2_fd.as_ref().map(OwnedFd::fd)
    }

    /// Write `pid` to cgroup.procs of every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<(), Error> {
        for l in &self.leaves {
            write_pid(&l.path, pid)?;
        }
        Ok(())
    }

    /// The directories (absolute paths) this cgroup occupies, v2 first.
    pub fn paths(&self) -> Vec<String> {
        let mut v = Vec::new();
        for l in &self.leaves {
            v.push(l.path.clone());
        }
        v
    }

    /// Remove the directories. Processes still inside are killed first
    /// (`cgroup.kill`, else SIGKILL to each pid of cgroup.procs); rmdir is
    /// retried while the kernel still counts exiting tasks.
    pub fn remove(&self) -> Result<(), Error> {
        remove_all(&Cgroupfs, self.leaves.iter().map(|l| l.path.as_str()))
    }
}

/// Pure v1 without limits: the hierarchy tracking the container is the
/// last of these that is mounted.
static TRACKERS: [Controller; 3] = [plan::CPU, plan::MEMORY, plan::PIDS];

/// Why a controller is missing, by `Mode`.
static MISSING: [&str; 3] = [
    "no such controller in cgroup.controllers of the cgroup2 root",
    "no cgroup v1 hierarchy holds this controller",
    "no such controller, neither on a v1 hierarchy nor in the cgroup2 root",
];

fn create_in<K: Kernel>(k: &K, layout: &Layout, parent: &str, name: &str, res: &Resources) -> Result<Cgroup, Error> {
    check_names(parent, name)?;
    plan::validate(res)?;

    // Where each needed controller lives; all known before any mkdir. The
    // hierarchies used: v2 always when mounted, then each v1 one a limit needs.
    let asked = plan::asked(res);
    let mut on_v2 = 0;
    // v2: the controllers to enable in cgroup.subtree_control above the leaf.
    let mut enable = CBuf::<64>::new();
    let mut used: Vec<&Hierarchy> = Vec::new();
    if let Some(h) = &layout.v2 {
        used.push(h);
    }
    for (i, c) in CONTROLLERS.iter().enumerate() {
        match layout.place(c) {
            _ if asked & 1 << i == 0 => {}
            Some((_, true)) => {
                on_v2 |= 1 << i;
                if !enable.is_empty() {
                    enable.c(b' ');
                }
                enable.c(b'+').s(c.v2);
            }
            Some((h, false)) => {
                if !used.iter().any(|u| core::ptr::eq(*u, h)) {
                    used.push(h);
                }
            }
            None => return Err(Error::msg(c.option, c.v2.as_bytes(), MISSING[layout.mode as usize])),
        }
    }
    if used.is_empty() {
        // Pure v1 and no limits: one hierarchy still tracks the processes,
        // pids by preference, else memory, else cpu, else any.
        let mut pick = layout.v1.first();
        for c in &TRACKERS {
            if let Some((h, _)) = layout.place(c) {
                pick = Some(h);
            }
        }
        used.extend(pick);
    }

    let mut made = Vec::new();
    let mut leaves = Vec::new();
    let mut make = || -> Result<Option<OwnedFd>, Error> {
        for h in &used {
            let v2 = layout.v2.as_ref().is_some_and(|v| core::ptr::eq(v, *h));
            let leaf = make_levels(k, &mut made, h, v2, parent, name, enable.bytes())?;
            write_limits(&leaf, h, v2, res, if v2 { on_v2 } else { asked })?;
            leaves.push(Leaf { path: leaf });
        }
        match (leaves.as_slice(), &layout.v2) {
            ([only], Some(_)) => Ok(Some(open_dir(only.path.as_bytes()).at("open", only.path.as_bytes())?)),
            _ => Ok(None),
        }
    };
    match make() {
        Ok(v2_fd) => Ok(Cgroup { leaves, v2_fd }),
        Err(e) => {
            // Leaf first. A shared parent another container uses meanwhile
            // refuses with EBUSY/ENOTEMPTY, which is what we want.
            for d in made.iter().rev() {
                let _ = k.rmdir(d);
            }
            Err(e)
        }
    }
}

/// mkdir each level of `<mount>/<parent>/<name>`; returns the leaf.
/// v2: enable the needed controllers in `cgroup.subtree_control` of every
/// level above the leaf, or the leaf has no files for them.
/// v1 cpuset: a new cgroup starts with empty cpuset.cpus/mems and refuses
/// tasks (ENOSPC) until they are set, so each new level copies its parent's.
fn make_levels<K: Kernel>(
    k: &K,
    made: &mut Vec<String>,
    h: &Hierarchy,
    v2: bool,
    parent: &str,
    name: &str,
    enable: &[u8],
) -> Result<String, Error> {
    let cpuset = !v2 && h.has("cpuset");
    let mut dir = h.path.clone();
    let leaf = dir.len() + parent.len() + name.len() + 2;
    for comp in parent.split('/').chain([name]) {
        if v2 && !enable.is_empty() {
            write_knob(&dir, "cgroup.subtree_control", enable)?;
        }
        let above = dir.len();
        dir.push('/');
        dir.push_str(comp);
        match k.mkdir(&dir) {
            Ok(()) => made.push(dir.clone()),
            Err(Errno::EEXIST) if dir.len() < leaf => {}
            Err(e) => {
                let mut err = Error::sys("create cgroup", dir.as_bytes(), e);
                if e == Errno::EEXIST {
                    err.detail = "a container of that name is running, or its cgroup was left behind";
                }
                return Err(err);
            }
        }
        if cpuset {
            // Existing levels too: one made by another tool may be empty.
            for &(_, [f, _]) in &plan::FILES[..2] {
                if read_knob(&dir, f)?.trim_ascii_end().is_empty() {
                    let above = read_knob(dir.get(..above).unwrap_or(""), f)?;
                    write_knob(&dir, f, above.trim_ascii_end())?;
                }
            }
        }
    }
    Ok(dir)
}

/// Write the planned files of the controllers in `mask` that `h` holds.
fn write_limits(leaf: &str, h: &Hierarchy, v2: bool, res: &Resources, mask: u32) -> Result<(), Error> {
    let (i, files) = (v2 as usize, &plan::FILES);
    for (row, &(c, names)) in files[..plan::PLANNED].iter().enumerate() {
        let ctrl = &CONTROLLERS[c];
        let mut v = Vec::new();
        if mask & 1 << c == 0 || !h.has(if v2 { ctrl.v2 } else { ctrl.v1 }) || !plan::value(res, row, v2, &mut v) {
            continue;
        }
        match write_knob(leaf, names[i], &v) {
            // The last planned file has BFQ's weight as a fallback.
            Err(e) if e.errno == Errno::ENOENT && row + 1 == plan::PLANNED => {
                v.clear();
                plan::value(res, row + 1, v2, &mut v);
                match write_knob(leaf, files[plan::PLANNED].1[i], &v) {
                    Err(alt) if alt.errno == Errno::ENOENT => return Err(e),
                    r => r?,
                }
            }
            r => r?,
        }
    }
    Ok(())
}

/// Join existing cgroup directories (`husk exec`): write `pid` into each
/// directory's cgroup.procs. Each must be a directory on a cgroup filesystem.
pub fn join(paths: &[String], pid: i32) -> Result<(), Error> {
    for p in paths {
        check_cgroup_dir(p)?;
        write_pid(p, pid)?;
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
    let why = if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
        "not an absolute path"
    } else {
        match fs_magic(p.as_bytes()).at("open cgroup", p.as_bytes())? {
            fs::CGROUP2_SUPER_MAGIC | fs::CGROUP_SUPER_MAGIC => return Ok(()),
            _ => "not on a cgroup filesystem",
        }
    };
    Err(Error::msg("cgroup", p.as_bytes(), why))
}

fn remove_all<'a, K: Kernel>(k: &K, paths: impl Iterator<Item = &'a str>) -> Result<(), Error> {
    let mut first = Ok(());
    for p in paths {
        let r = remove_dir(k, p);
        if first.is_ok() {
            first = r;
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
    for line in read_knob(dir, "cgroup.procs").unwrap_or_default().split(|&c| c == b'\n') {
        if let Some(pid @ 2..=0x7fff_ffff) = husk_sys::fmt::parse_u64(line) {
            let _ = husk_sys::process::kill(pid as i32, husk_sys::signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests;
