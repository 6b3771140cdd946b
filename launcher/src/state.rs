//! Container state: one directory per container under the state root, the
//! contract between `husk run` (which creates it and, as the monitor, records
//! the exit) and the lifecycle commands (`ps`, `exec`, `kill`, `stop`,
//! `wait`, `rm`, `state`), which only read it or remove it.
//!
//! Layout of `<root>/<name>/` (root: `--root`, else [`default_root`]):
//! - `state`: the [`State`] in husk's line format (husk_rootfs::record;
//!   the fields are in [`encode`]), replaced atomically (temp file, fsync,
//!   rename), so a reader without the lock never sees half a file.
//! - `monitor`: flock'ed `LOCK_EX` by the monitor (the process that waits for
//!   the container's init) for the container's whole life. `husk wait` blocks
//!   on `LOCK_SH` with no polling; the kernel releases the lock however the
//!   monitor dies. The monitor writes the exit code into it before letting
//!   go, so a waiter still learns the code when `--rm` removes the directory.
//! - the directory itself is the command lock: every command that changes a
//!   container (the monitor too) holds `flock(dir, LOCK_EX)` while it does.
//!
//! Names are unique under races: [`StateDir::create`] fills a hidden
//! `.new-NAME-PID` directory (state file written, both locks held) and then
//! renames it to NAME with `RENAME_NOREPLACE`. A visible container directory
//! therefore always has a state file and a monitor lock, and a creator that
//! loses the race removes only its own hidden directory.
//!
//! A pid alone does not identify a process once it has died: the kernel
//! reuses pids. The state keeps the init's start time (field 22 of
//! /proc/PID/stat) beside its pid, and [`is_alive`] compares both.
//!
//! How `husk run` (foreground or `-d`) drives it:
//! 1. Validate everything first ([`valid_name`], [`generate_name`]).
//! 2. `StateDir::create(&root, &st)` with `st.status = Created`, `pid = 0`,
//!    and every other field known by now: the first thing created. From
//!    here on, a failure removes what was made, then calls `dir.remove()`.
//!    Foreground runs set `auto_remove` (their state goes when they end).
//! 3. The process that waits for the init (the monitor) is the one that
//!    called `create`, or a fork of it: flock locks belong to the open file,
//!    so they stay held until every forked copy is closed. The fds are
//!    `O_CLOEXEC`, so the container's init does not keep them. The monitor
//!    should be non-dumpable: with `--share pid` the container sees it, and
//!    /proc/PID/exe would hand it the husk binary (CVE-2019-5736).
//! 4. Once the init runs: set `pid`, `start_time` ([`start_time`]),
//!    `monitor_pid` and `Running`, `dir.write(&st)`, then drop the lock.
//! 5. When the init has been reaped: remove the cgroups and the `cleanup`
//!    directories ([`remove_tree`]), then `dir.finish(code)`, then exit.

use alloc::string::String;
use alloc::vec::Vec;
use husk_rootfs::record::{self, put, put_i, put_u, Damage};
use husk_sys::fd::{flock, Fd, OwnedFd, LOCK_EX, LOCK_NB, LOCK_SH};
use husk_sys::fmt::{parse_u64, Sink};
use husk_sys::fs::{
    self, AT_REMOVEDIR, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_NOFOLLOW, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY,
};
use husk_sys::process::{geteuid, getpid};
use husk_sys::{CBuf, CStr, Context, Errno, Error, Result};

/// What the container is doing, as far as its monitor has recorded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Status {
    /// The directory exists; the container's init does not run yet.
    #[default]
    Created,
    /// The init was started (check [`is_alive`]: the monitor may have died).
    Running,
    /// The monitor saw the init end: the shell's code (128 + signal if killed).
    Exited(i32),
}

/// Everything the lifecycle commands need to know about one container.
/// Byte strings (paths, arguments, environment) are `Vec<u8>`: Linux paths
/// need not be UTF-8.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct State {
    pub name: String,
    /// The container's init in the host's pid namespace; 0 until started.
    pub pid: i32,
    /// Field 22 of /proc/PID/stat of `pid` (clock ticks after boot).
    pub start_time: u64,
    /// The process waiting for `pid` (husk run's host stage or monitor).
    pub monitor_pid: i32,
    pub status: Status,
    /// Unix seconds.
    pub created: u64,
    /// ROOTFS as given to `husk run`.
    pub rootfs: Vec<u8>,
    /// Every cgroup directory the container was placed in.
    pub cgroup_paths: Vec<String>,
    pub command: Vec<Vec<u8>>,
    /// Capability sets of the container's processes; `husk exec` applies
    /// the same. Inheritable is always empty.
    pub cap_bounding: u64,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_ambient: u64,
    pub no_new_privs: bool,
    /// (RLIMIT_* number, soft, hard) as applied in the container.
    pub rlimits: Vec<(u32, u64, u64)>,
    /// The container's user, as seen inside its user namespace.
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// The environment COMMAND got (`KEY=VALUE`), the base for `husk exec`.
    pub env: Vec<Vec<u8>>,
    pub workdir: Vec<u8>,
    /// Host directories to delete with the container (temporary upper/work
    /// directories), removed recursively without crossing mount points.
    pub cleanup: Vec<Vec<u8>>,
    /// `--rm`: the monitor removes the whole directory when the init ends.
    pub auto_remove: bool,
}

const STATE: &CStr = c"state";
const STATE_TMP: &CStr = c"state.tmp";
const MONITOR: &CStr = c"monitor";
const DIR: i32 = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW;

/// `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`: safe as a path component and a
/// cgroup name, and never hidden (`.new-*` creation directories).
pub fn valid_name(name: &[u8]) -> bool {
    matches!(name.first(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 64
        && name.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A fresh name for a container started without `--name`: 12 hex digits.
pub fn generate_name() -> String {
    let mut r = [0u8; 8];
    let _ = husk_sys::process::getrandom(&mut r[..6]);
    let mut s = Vec::new();
    s.hex(u64::from_le_bytes(r), 12);
    String::from_utf8(s).unwrap_or_default()
}

/// `/run/husk` for root; `$XDG_RUNTIME_DIR/husk` for anyone else (their
/// runtime directory is private and writable), `/tmp/husk-UID` without it.
pub fn default_root() -> Vec<u8> {
    let uid = geteuid();
    let mut p = Vec::new();
    if uid == 0 {
        p.s("/run/husk");
    } else if let Some(x) = husk_sys::rt::getenv(b"XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        p.b(x).s("/husk");
    } else {
        p.s("/tmp/husk-").u(uid as u64);
    }
    p
}

/// One container's state directory, open.
pub struct StateDir {
    path: Vec<u8>,
    fd: OwnedFd,
    /// The monitor lock: held only in the process that created the
    /// directory (and its forks), released when the last copy closes.
    monitor: Option<OwnedFd>,
}

/// `flock(dir, LOCK_EX)` on its own open file description, so dropping it
/// (closing) releases it. Not released by `fork`ed copies until they close
/// it too, and never released explicitly: `LOCK_UN` would also release it
/// for those copies.
pub struct Lock {
    _fd: OwnedFd,
}

fn join(root: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = root.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// `openat(CWD, path, flags)` for a path held in bytes.
fn open_path(path: &[u8], flags: i32, mode: u32) -> husk_sys::SysResult<OwnedFd> {
    CBuf::<4096>::from(path).cstr().and_then(|c| fs::openat(Fd::CWD, c, flags, mode))
}

const NO_SUCH: &str = "no such container";

fn no_such(name: &[u8]) -> Error {
    Error::msg("", name, NO_SUCH)
}

/// Whether `e` says the container does not exist (any more).
pub fn is_gone(e: &Error) -> bool {
    e.errno.0 == 0 && e.detail == NO_SUCH
}

/// `mkdir -p` with mode 0711 for the components it creates: searchable,
/// not listable; each container's directory is 0700.
fn mkdir_all(path: &[u8]) -> Result<()> {
    let mut c = CBuf::<4096>::new();
    for (i, &b) in path.iter().enumerate() {
        c.c(b);
        if i + 1 == path.len() || path.get(i + 1) == Some(&b'/') {
            match c.cstr().and_then(|p| fs::mkdirat(Fd::CWD, p, 0o711)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(Error::sys("create state root", c.bytes(), e)),
            }
        }
    }
    Ok(())
}

impl StateDir {
    /// Create the directory for `st.name` under `root` and publish it with
    /// `st` as its state. The caller becomes the monitor (it holds the
    /// monitor lock until it and every fork of it has exited) and gets the
    /// command lock, which it should hold until `st` says Running, so that a
    /// concurrent `rm -f` waits for a container that is half started.
    /// Fails with "name already in use" and leaves nothing behind.
    pub fn create(root: &[u8], st: &State) -> Result<(StateDir, Lock)> {
        let name = st.name.as_bytes();
        if !valid_name(name) {
            return Err(Error::msg("container name", name, "must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}"));
        }
        mkdir_all(root)?;
        // A shared /tmp (rootless without XDG_RUNTIME_DIR): the root must be
        // ours, or another user could read or swap our state.
        let r = open_path(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0).at("open", root)?;
        if fs::fstat(r.fd()).at("stat", root)?.uid != geteuid() {
            return Err(Error::msg("state root", root, "is owned by another user"));
        }
        let mut tmp = join(root, b".new-");
        tmp.b(name).c(b'-').u(getpid() as u64);
        // Left by a creator that had our pid and was killed mid-way.
        remove_tree(Fd::CWD, &tmp)?;
        let r = fill(root, name, &tmp, st);
        if r.is_err() {
            let _ = remove_tree(Fd::CWD, &tmp);
        }
        r
    }

    /// Open the container `name` under `root`: "no such container" if absent.
    pub fn open(root: &[u8], name: &[u8]) -> Result<StateDir> {
        if !valid_name(name) {
            return Err(no_such(name));
        }
        let path = join(root, name);
        match open_path(&path, DIR, 0) {
            Ok(fd) => Ok(StateDir { path, fd, monitor: None }),
            Err(Errno::ENOENT) => Err(no_such(name)),
            Err(e) => Err(e).at("open", &path),
        }
    }

    /// The directory, for messages.
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// The container's name (the last path component).
    pub fn name(&self) -> &[u8] {
        self.path.rsplit(|&c| c == b'/').next().unwrap_or(b"")
    }

    /// The error of `op` on the file `f` in the directory.
    #[cold]
    fn err(&self, op: &'static str, f: &[u8], e: Errno) -> Error {
        Error::sys(op, &join(&self.path, f), e)
    }

    fn lock_fd(&self) -> Result<Lock> {
        let fd = fs::openat(self.fd.fd(), c".", DIR, 0).at("open", &self.path)?;
        husk_sys::errno::retry(|| flock(fd.fd(), LOCK_EX)).at("lock", &self.path)?;
        Ok(Lock { _fd: fd })
    }

    /// Take the command lock (blocking). "no such container" if the
    /// container was removed while we waited for it.
    pub fn lock(&self) -> Result<Lock> {
        let l = self.lock_fd()?;
        match fs::fstatat(self.fd.fd(), STATE, fs::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => Err(no_such(self.name())),
            _ => Ok(l),
        }
    }

    /// Read the state once no command holds the lock: a container that
    /// `husk run` is still starting is waited for, not seen half made.
    pub fn read_settled(&self) -> Result<State> {
        let _lock = self.lock()?;
        self.read()
    }

    /// Replace the state file atomically. The caller holds the lock.
    pub fn write(&self, st: &State) -> Result<()> {
        let d = self.fd.fd();
        fs::openat(d, STATE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
            .and_then(|f| {
                fs::write_all(f.fd(), &encode(st))?;
                fs::fsync(f.fd())
            })
            .and_then(|_| fs::renameat2(d, STATE_TMP, d, STATE, 0))
            .map_err(|e| self.err("write", b"state", e))
    }

    /// Read the state file; a corrupt or truncated one is an error naming it.
    pub fn read(&self) -> Result<State> {
        let mut st = State::default();
        self.read_into(&mut st).map(|()| st)
    }

    /// [`read`](Self::read) into `st`: a `State` is large, and moving it
    /// through every `?` costs code.
    pub fn read_into(&self, st: &mut State) -> Result<()> {
        match fs::read_to_vec(self.fd.fd(), STATE) {
            Err(Errno::ENOENT) => Err(no_such(self.name())),
            Err(e) => Err(self.err("read", b"state", e)),
            Ok(data) => decode_into(&data, st).map_err(|why| Error::msg("read", &join(&self.path, b"state"), why)),
        }
    }

    /// Delete the directory and everything in it. Hold the lock: the state
    /// file goes first, which is how a waiting locker learns it is gone.
    pub fn remove(self) -> Result<()> {
        match fs::unlinkat(self.fd.fd(), STATE, 0) {
            Ok(()) | Err(Errno::ENOENT) => remove_tree(Fd::CWD, &self.path),
            Err(e) => Err(self.err("unlink", b"state", e)),
        }
    }

    /// The monitor's end: record `code`, then (under the lock) either delete
    /// the directory (`--rm`) or mark the state Exited. The monitor lock is
    /// released when the monitor exits, after this returns; waiters then read
    /// the code from the monitor file. Cleaning the cgroup and the `cleanup`
    /// directories is the caller's job, before this.
    pub fn finish(self, code: i32) -> Result<()> {
        if let Some(m) = &self.monitor {
            let mut b = Vec::new();
            b.i(code as i64).c(b'\n');
            fs::write_all(m.fd(), &b).map_err(|e| self.err("write", b"monitor", e))?;
        }
        let _lock = match self.lock() {
            // `rm -f` got there first: nothing left to record.
            Err(e) if is_gone(&e) => return Ok(()),
            r => r?,
        };
        let mut st = State::default();
        self.read_into(&mut st)?;
        if st.auto_remove {
            return self.remove();
        }
        st.status = Status::Exited(code);
        self.write(&st)
    }

    fn open_monitor(&self) -> Result<OwnedFd> {
        match fs::openat(self.fd.fd(), MONITOR, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0) {
            Err(Errno::ENOENT) => Err(no_such(self.name())),
            r => r.map_err(|e| self.err("open", b"monitor", e)),
        }
    }

    /// Block until the monitor lock is free (the monitor has exited), then
    /// return what the monitor wrote: `Some(code)`, or `None` if it died
    /// without writing one.
    pub fn wait_monitor(&self) -> Result<Option<i32>> {
        let m = self.open_monitor()?;
        husk_sys::errno::retry(|| flock(m.fd(), LOCK_SH)).map_err(|e| self.err("lock", b"monitor", e))?;
        Ok(read_code(&m))
    }

    /// The exit code the monitor wrote, without waiting: `None` while the
    /// container runs, or if its monitor died before writing one.
    pub fn recorded_exit(&self) -> Option<i32> {
        read_code(&self.open_monitor().ok()?)
    }

    /// Whether the monitor still holds its lock (the container is starting,
    /// running, or being recorded), without blocking.
    pub fn monitor_active(&self) -> bool {
        self.open_monitor().is_ok_and(|m| flock(m.fd(), LOCK_SH | LOCK_NB) == Err(Errno::EAGAIN))
    }
}

fn read_code(m: &OwnedFd) -> Option<i32> {
    let mut buf = [0u8; 24];
    let n = fs::read_full(m.fd(), &mut buf).ok()?;
    parse_i32(buf.get(..n)?)
}

/// Make the hidden directory `tmp`, take both locks in it, write `st`,
/// then publish it as `name`.
fn fill(root: &[u8], name: &[u8], tmp: &[u8], st: &State) -> Result<(StateDir, Lock)> {
    let mut c = CBuf::<4096>::from(tmp);
    let ct = c.cstr().at("mkdir", tmp)?;
    fs::mkdirat(Fd::CWD, ct, 0o700).at("mkdir", tmp)?;
    let mut dir = StateDir { fd: fs::openat(Fd::CWD, ct, DIR, 0).at("open", tmp)?, path: tmp.to_vec(), monitor: None };
    let lock = dir.lock_fd()?;
    let mon = fs::openat(dir.fd.fd(), MONITOR, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        .and_then(|m| flock(m.fd(), LOCK_EX).map(|_| m))
        .map_err(|e| dir.err("create", b"monitor", e))?;
    dir.monitor = Some(mon);
    dir.write(st)?;
    dir.path = join(root, name);
    publish(ct, &dir.path, name)?;
    Ok((dir, lock))
}

/// Rename the filled hidden directory to its name, never over another.
fn publish(tmp: &CStr, path: &[u8], name: &[u8]) -> Result<()> {
    let mut b = CBuf::<4096>::from(path);
    let b = b.cstr().at("rename", path)?;
    let r = match fs::renameat2(Fd::CWD, tmp, Fd::CWD, b, fs::RENAME_NOREPLACE) {
        // Filesystems without RENAME_NOREPLACE: a plain rename cannot
        // replace a published directory either, as it is never empty.
        Err(Errno::EINVAL) => fs::renameat2(Fd::CWD, tmp, Fd::CWD, b, 0),
        r => r,
    };
    match r {
        Err(Errno::EEXIST | Errno::ENOTEMPTY) => Err(Error::msg("create container", name, "name already in use")),
        r => r.at("rename", path),
    }
}

/// `rm -rf path` that follows no symlink and stays on path's filesystem
/// (a mount left below it is an error, never something to descend into).
pub fn remove_tree(dir: Fd, path: &[u8]) -> Result<()> {
    let mut c = CBuf::<4096>::from(path);
    let cs = c.cstr().at("remove", path)?;
    remove_in(dir, cs, path, None)
}

/// Remove `name` in `dir` (`path` in messages): unlink a file or symlink,
/// never following it; empty a directory, then rmdir it. Below the top,
/// a directory on another device than `dev` is a mount point.
fn remove_in(dir: Fd, name: &CStr, path: &[u8], dev: Option<u64>) -> Result<()> {
    let (r, op) = match fs::openat(dir, name, DIR, 0) {
        Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::ENOTDIR | Errno::ELOOP) => (fs::unlinkat(dir, name, 0), "unlink"),
        r => {
            let mut d = fs::Dir::new(r.at("open", path)?);
            let here = fs::fstat(d.fd()).at("stat", path)?.dev;
            if dev.is_some_and(|dev| dev != here) {
                return Err(Error::msg("remove", path, "a mount point: not crossing it"));
            }
            while let Some(e) = d.next_entry().at("read directory", path)? {
                if !e.is_dot() {
                    remove_in(d.fd(), e.cname(), &join(path, e.name()), Some(here))?;
                }
            }
            (fs::unlinkat(dir, name, AT_REMOVEDIR), "rmdir")
        }
    };
    match r {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::sys(op, path, e)),
    }
}

/// The name of every container under `root`, sorted. A missing root is an
/// empty list.
pub fn list(root: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut d = match open_path(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) {
        Err(Errno::ENOENT) => return Ok(out),
        r => fs::Dir::new(r.at("open", root)?),
    };
    while let Some(e) = d.next_entry().at("read directory", root)? {
        // Hidden `.new-*` directories are containers still being created.
        if valid_name(e.name()) {
            // Sorted by name; an insertion sort is a few bytes of code.
            let n = e.name();
            let at = out.iter().position(|o| &o[..] > n).unwrap_or(out.len());
            out.insert(at, n.to_vec());
        }
    }
    Ok(out)
}

/// Fields 3 (state letter) and 22 (start time) of a /proc/PID/stat line.
/// comm (field 2) may hold spaces and ')', so fields are counted from the
/// last ')'.
pub fn parse_stat(stat: &[u8]) -> Option<(u8, u64)> {
    let close = stat.iter().rposition(|&c| c == b')')?;
    let mut fields = stat.get(close + 2..)?.split(|&c| c == b' ');
    let state = *fields.next()?.first()?;
    // Field 3 was the state; field 22 is 19 further on.
    let start = parse_u64(trim(fields.nth(18)?))?;
    Some((state, start))
}

fn read_stat(pid: i32, p: &mut CBuf<32>) -> Option<(u8, u64)> {
    p.s("/proc/").u(pid as u64).s("/stat");
    let mut buf = [0u8; 1024];
    let data = fs::read_file(Fd::CWD, p.cstr().ok()?, &mut buf).ok()?;
    parse_stat(data).filter(|_| pid > 0)
}

/// The start time of `pid` (field 22 of /proc/PID/stat), for the state file.
pub fn start_time(pid: i32) -> Result<u64> {
    let mut p = CBuf::new();
    match read_stat(pid, &mut p) {
        Some((_, t)) => Ok(t),
        None => Err(Error::sys("read", p.bytes(), Errno::ESRCH)),
    }
}

/// Whether `pid` is still the process that started at `start_time` and has
/// not exited (a zombie has: its monitor is about to record it).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    matches!(read_stat(pid, &mut CBuf::new()), Some((s, t)) if t == start_time && s != b'Z' && s != b'X')
}

/// Unix time in seconds, for `State::created`.
pub fn now() -> u64 {
    husk_sys::time::clock_gettime(husk_sys::time::CLOCK_REALTIME) / 1_000_000_000
}

fn trim(s: &[u8]) -> &[u8] {
    let a = s.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(s.len());
    let b = s.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(a, |i| i + 1);
    s.get(a..b).unwrap_or(b"")
}

fn parse_i32(s: &[u8]) -> Option<i32> {
    let s = trim(s);
    let (neg, digits) = match s.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, s),
    };
    let n = i32::try_from(parse_u64(digits)?).ok()?;
    Some(if neg { -n } else { n })
}

// ---- the state file -------------------------------------------------------

const HEAD: &[u8] = b"husk-state 1";

/// The state file's keys; `decode` matches on the index. Those from
/// `start_time` to `auto_remove` are the numbers of [`numbers`].
const KEYS: [&str; 23] = [
    "name",
    "pid",
    "monitor_pid",
    "status",
    "exit_code",
    "start_time",
    "created",
    "cap_bounding",
    "cap_effective",
    "cap_permitted",
    "cap_ambient",
    "no_new_privs",
    "uid",
    "gid",
    "auto_remove",
    "group",
    "rlimit",
    "rootfs",
    "workdir",
    "cgroup",
    "arg",
    "env",
    "cleanup",
];
const NUMBERS: usize = 5;
const STATUS: [&str; 3] = ["created", "running", "exited"];

fn numbers(st: &State) -> [u64; 10] {
    [
        st.start_time,
        st.created,
        st.cap_bounding,
        st.cap_effective,
        st.cap_permitted,
        st.cap_ambient,
        st.no_new_privs as u64,
        st.uid as u64,
        st.gid as u64,
        st.auto_remove as u64,
    ]
}

/// The state file's bytes: a `husk-state 1` record (husk_rootfs::record)
/// with the [`KEYS`]. Numbers are decimal, booleans 0 or 1; lists repeat
/// their key (`rlimit` is `RES SOFT HARD`); `status` is `created`,
/// `running` or `exited` (then with an `exit_code`).
pub fn encode(st: &State) -> Vec<u8> {
    let mut o = Vec::with_capacity(512);
    o.b(HEAD).c(b'\n');
    put(&mut o, KEYS[0], st.name.as_bytes());
    put_i(&mut o, KEYS[1], st.pid);
    put_i(&mut o, KEYS[2], st.monitor_pid);
    let (s, code) = match st.status {
        Status::Created => (0, None),
        Status::Running => (1, None),
        Status::Exited(c) => (2, Some(c)),
    };
    put(&mut o, KEYS[3], STATUS[s].as_bytes());
    if let Some(c) = code {
        put_i(&mut o, KEYS[4], c);
    }
    for (k, n) in KEYS[NUMBERS..].iter().zip(numbers(st)) {
        put_u(&mut o, k, n);
    }
    for g in &st.groups {
        put_u(&mut o, KEYS[15], *g as u64);
    }
    for &(r, s, h) in &st.rlimits {
        // `rlimit R S` then ` H\n`.
        o.s(KEYS[16]).c(b' ').u(r as u64).c(b' ').u(s);
        put_u(&mut o, "", h);
    }
    put(&mut o, KEYS[17], &st.rootfs);
    put(&mut o, KEYS[18], &st.workdir);
    for c in &st.cgroup_paths {
        put(&mut o, KEYS[19], c.as_bytes());
    }
    for (k, list) in KEYS[20..].iter().zip([&st.command, &st.env, &st.cleanup]) {
        for v in list {
            put(&mut o, k, v);
        }
    }
    o.s("end\n");
    o
}

/// Parse a state file. The error says which kind of damage it is.
pub fn decode(data: &[u8]) -> core::result::Result<State, &'static str> {
    let mut st = State::default();
    decode_into(data, &mut st).map(|()| st)
}

/// [`decode`] into `st`, which is reset first.
fn decode_into(data: &[u8], st: &mut State) -> core::result::Result<(), &'static str> {
    const CORRUPT: &str = "corrupt state file";
    if trim(data).is_empty() {
        return Err("empty state file");
    }
    *st = State::default();
    let (mut status, mut code, mut n) = (9, None, [0u64; 10]);
    let read = record::fields(data, HEAD, &mut |k, v| {
        // Unknown keys are skipped: a newer husk may add some.
        match KEYS.iter().position(|x| x.as_bytes() == k) {
            Some(i) => set(st, i, v, (&mut status, &mut code, &mut n)).is_some(),
            None => true,
        }
    });
    match read {
        Err(Damage::Truncated) => return Err("truncated state file"),
        Err(Damage::Corrupt) => return Err(CORRUPT),
        Ok(()) => {}
    }
    st.status = match (status, code) {
        (0, _) => Status::Created,
        (1, _) => Status::Running,
        (2, Some(c)) => Status::Exited(c),
        _ => return Err(CORRUPT),
    };
    let [start_time, created, bounding, effective, permitted, ambient, nnp, uid, gid, rm] = n;
    (st.start_time, st.created) = (start_time, created);
    (st.cap_bounding, st.cap_effective) = (bounding, effective);
    (st.cap_permitted, st.cap_ambient) = (permitted, ambient);
    (st.no_new_privs, st.auto_remove) = (nnp != 0, rm != 0);
    match (u32::try_from(uid), u32::try_from(gid)) {
        (Ok(u), Ok(g)) => (st.uid, st.gid) = (u, g),
        _ => return Err(CORRUPT),
    }
    if !valid_name(st.name.as_bytes()) {
        return Err(CORRUPT);
    }
    Ok(())
}

/// Store the value `v` of the key `KEYS[i]`; `None` if it does not fit.
/// The status, the exit code and the [`numbers`] go to `at`, for
/// `decode_into` to check and store.
fn set(st: &mut State, i: usize, v: Vec<u8>, at: (&mut usize, &mut Option<i32>, &mut [u64; 10])) -> Option<()> {
    let (status, code, n) = at;
    match i {
        0 => st.name = String::from_utf8(v).ok()?,
        1 => st.pid = parse_i32(&v)?,
        2 => st.monitor_pid = parse_i32(&v)?,
        3 => *status = STATUS.iter().position(|w| w.as_bytes() == v)?,
        4 => *code = Some(parse_i32(&v)?),
        5..=14 => *n.get_mut(i - NUMBERS)? = parse_u64(&v)?,
        15 => st.groups.push(u32::try_from(parse_u64(&v)?).ok()?),
        16 => {
            let mut f = v.split(|&c| c == b' ');
            let mut next = || parse_u64(f.next()?);
            let r = (u32::try_from(next()?).ok()?, next()?, next()?);
            st.rlimits.push(r);
        }
        17 => st.rootfs = v,
        18 => st.workdir = v,
        19 => st.cgroup_paths.push(String::from_utf8(v).ok()?),
        20 => st.command.push(v),
        21 => st.env.push(v),
        _ => st.cleanup.push(v),
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            name: "web-1".into(),
            pid: 4242,
            start_time: 987654,
            monitor_pid: 4241,
            status: Status::Exited(137),
            created: 1_700_000_000,
            rootfs: b"/srv/rootfs:/srv/base".to_vec(),
            cgroup_paths: vec!["/sys/fs/cgroup/memory/husk/web-1".into(), "/sys/fs/cgroup/pids/husk/web-1".into()],
            command: vec![b"sh".to_vec(), b"-c".to_vec(), b"echo \"hi\"\\\n\t\x01 \xff\xfe caf\xc3\xa9".to_vec()],
            cap_bounding: 0xa80425fb,
            cap_effective: 0xa80425fb,
            cap_permitted: 0xa80425fb,
            cap_ambient: 0,
            no_new_privs: true,
            rlimits: vec![(7, 1024, 4096), (3, u64::MAX, u64::MAX)],
            uid: 1000,
            gid: 100,
            groups: vec![10, 20],
            env: vec![b"PATH=/bin".to_vec(), b"X=\xe2\x82".to_vec()],
            workdir: b"/home/u".to_vec(),
            cleanup: vec![b"/run/husk/web-1/upper".to_vec()],
            auto_remove: true,
        }
    }

    #[test]
    fn state_round_trips_every_field_and_odd_bytes() {
        let st = sample();
        let j = encode(&st);
        assert!(j.starts_with(b"husk-state 1\nname web-1\n") && j.ends_with(b"\nend\n"));
        assert_eq!(decode(&j), Ok(st.clone()));
        for s in [Status::Created, Status::Running, Status::Exited(0)] {
            let st = State { status: s, ..st.clone() };
            assert_eq!(decode(&encode(&st)).unwrap().status, s);
        }
    }

    fn file(body: &str) -> Vec<u8> {
        format!("husk-state 1\n{body}end\n").into_bytes()
    }

    #[test]
    fn damaged_state_files_are_named_as_such() {
        let j = encode(&sample());
        assert_eq!(decode(b""), Err("empty state file"));
        assert_eq!(decode(b"\n"), Err("empty state file"));
        for cut in [1, 10, j.len() / 2, j.len() - 3] {
            assert_eq!(decode(&j[..cut]), Err("truncated state file"), "cut at {cut}");
        }
        for bad in [
            "name x\nstatus sleeping\n",
            "name x\nstatus exited\n",
            "name ../x\nstatus running\n",
            "name x\npid 99999999999\nstatus running\n",
            "name x\npid 1\nstatus running\nuid 4294967296\n",
            "name x\nstatus running\nrlimit 7 1\n",
            "name x\nstatus running\ncap_ambient -1\n",
            "name x\nstatus running\nnospace\n",
        ] {
            assert_eq!(decode(&file(bad)), Err("corrupt state file"), "{bad}");
        }
        assert_eq!(decode(&file("name x\npid -5\nstatus running\n")).unwrap().pid, -5);
        let mut v2 = file("name x\nstatus running\n");
        v2[11] = b'2';
        assert_eq!(decode(&v2), Err("corrupt state file"));
        assert_eq!(decode(b"\x00\x00\x00"), Err("corrupt state file"));
        assert_eq!(decode(b"{\"name\": 12"), Err("corrupt state file"));
    }

    #[test]
    fn unknown_keys_are_skipped() {
        let st = decode(&file("new a b c\nname c\nstatus created\n")).unwrap();
        assert_eq!((st.name.as_str(), st.status), ("c", Status::Created));
    }

    #[test]
    fn names_follow_the_documented_pattern() {
        for ok in [&b"a"[..], b"web-1", b"A.b_c-9", &[b'x'; 64]] {
            assert!(valid_name(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [&b""[..], b".x", b"-x", b"_x", b"a/b", b"..", b"a b", &[b'x'; 65], b"caf\xc3\xa9"] {
            assert!(!valid_name(bad), "{}", String::from_utf8_lossy(bad));
        }
        let g = generate_name();
        assert!(g.len() == 12 && valid_name(g.as_bytes()));
    }

    #[test]
    fn stat_start_time_survives_hostile_comm() {
        let tail = b" S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 20 21\n";
        for comm in [&b"sh"[..], b"a b) c", b") (", b"x)"] {
            let mut line = b"77 (".to_vec();
            line.extend_from_slice(comm);
            line.push(b')');
            line.extend_from_slice(tail);
            assert_eq!(parse_stat(&line), Some((b'S', 424242)), "{}", String::from_utf8_lossy(&line));
        }
        assert_eq!(parse_stat(b"77 (sh) S 1 2"), None);
        assert_eq!(parse_stat(b"no paren"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = husk_sys::process::getpid();
        let t = start_time(me).unwrap();
        assert!(is_alive(me, t));
        assert!(!is_alive(me, t + 1));
        assert!(!is_alive(0, 0));
    }

    fn tmp_root(tag: &str) -> Vec<u8> {
        let p = std::env::temp_dir().join(format!("husk-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p.to_str().unwrap().as_bytes().to_vec()
    }

    #[test]
    fn create_is_exclusive_and_remove_leaves_nothing() {
        let root = tmp_root("create");
        let st = State { name: "c1".into(), status: Status::Created, ..sample() };
        let (dir, lock) = StateDir::create(&root, &st).unwrap();
        drop(lock);
        let e = StateDir::create(&root, &st).err().unwrap();
        assert_eq!(format!("{e:?}"), "husk: create container c1: name already in use");
        let mut st2 = dir.read().unwrap();
        assert_eq!(st2, st);
        st2.status = Status::Running;
        {
            let _l = dir.lock().unwrap();
            dir.write(&st2).unwrap();
        }
        assert!(dir.monitor_active());
        assert_eq!(list(&root).unwrap(), vec![b"c1".to_vec()]);
        let c1 = StateDir::open(&root, b"c1").unwrap();
        assert_eq!(c1.read().unwrap().status, Status::Running);
        dir.finish(3).unwrap(); // auto_remove: the directory goes
        let rs = std::str::from_utf8(&root).unwrap();
        assert_eq!(std::fs::read_dir(rs).unwrap().count(), 0);
        let e = StateDir::open(&root, b"c1").err().unwrap();
        assert_eq!(format!("{e:?}"), "husk: c1: no such container");
        std::fs::remove_dir_all(rs).unwrap();
    }

    #[test]
    fn finish_records_the_code_for_waiters() {
        let root = tmp_root("finish");
        let st = State { name: "c2".into(), auto_remove: false, ..sample() };
        let (dir, lock) = StateDir::create(&root, &st).unwrap();
        drop(lock);
        let other = StateDir::open(&root, b"c2").unwrap();
        assert!(other.monitor_active());
        dir.finish(42).unwrap();
        // The monitor lock went with `dir`; the code stays readable.
        assert!(!other.monitor_active());
        assert_eq!(other.wait_monitor().unwrap(), Some(42));
        assert_eq!(other.read().unwrap().status, Status::Exited(42));
        let rs = std::str::from_utf8(&root).unwrap().to_string();
        std::fs::write(format!("{rs}/c2/state"), b"husk-state 1\nname c2\npi").unwrap();
        let e = other.read().err().unwrap();
        assert_eq!(format!("{e:?}"), format!("husk: read {rs}/c2/state: truncated state file"));
        let _l = other.lock().unwrap();
        std::fs::create_dir_all(format!("{rs}/c2/upper/a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", format!("{rs}/c2/upper/etc")).unwrap();
        other.remove().unwrap();
        assert!(std::fs::metadata("/etc/passwd").is_ok());
        assert_eq!(std::fs::read_dir(&rs).unwrap().count(), 0);
        std::fs::remove_dir_all(&rs).unwrap();
    }
}
