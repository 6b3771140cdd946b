//! Container state: one directory per container under the state root, the
//! contract between `husk run` (which creates it and, as the monitor, records
//! the exit) and the lifecycle commands (`ps`, `exec`, `kill`, `stop`,
//! `wait`, `rm`, `state`), which only read it or remove it.
//!
//! Layout of `<root>/<name>/` (root: `--root`, else [`default_root`]):
//! - `state.json`: the [`State`], replaced atomically (temp file, fsync,
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
use husk_sys::fd::{flock, Fd, OwnedFd, LOCK_EX, LOCK_SH};
use husk_sys::fmt::Sink;
use husk_sys::fs::{
    self, AT_REMOVEDIR, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_NOFOLLOW, O_RDONLY, O_RDWR, O_TRUNC,
    O_WRONLY,
};
use husk_sys::{CBuf, Context, Errno, Error, Result};

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

const STATE: &core::ffi::CStr = c"state.json";
const STATE_TMP: &core::ffi::CStr = c"state.json.tmp";
const MONITOR: &core::ffi::CStr = c"monitor";

/// `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`: safe as a path component and a
/// cgroup name, and never hidden (`.new-*` creation directories).
pub fn valid_name(name: &[u8]) -> bool {
    matches!(name.first(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 64
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A fresh name for a container started without `--name`: 12 hex digits.
pub fn generate_name() -> String {
    let mut r = [0u8; 6];
    let _ = husk_sys::process::getrandom(&mut r);
    let mut s = String::new();
    for b in r {
        for d in [b >> 4, b & 15] {
            s.push(b"0123456789abcdef"[d as usize] as char);
        }
    }
    s
}

/// `/run/husk` for root; `$XDG_RUNTIME_DIR/husk` for anyone else (their
/// runtime directory is private and writable), `/tmp/husk-UID` without it.
pub fn default_root() -> Vec<u8> {
    let uid = husk_sys::process::geteuid();
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

/// The state root given by `--root DIR` in `args`, else [`default_root`].
pub fn root_from_args(args: &[&[u8]]) -> Vec<u8> {
    for (i, a) in args.iter().enumerate() {
        if *a == b"--root" {
            if let Some(v) = args.get(i + 1) {
                return v.to_vec();
            }
        } else if let Some(v) = a.strip_prefix(b"--root=") {
            return v.to_vec();
        }
    }
    default_root()
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

fn cpath(p: &[u8]) -> Result<CBuf<4096>> {
    let mut b = CBuf::<4096>::from(p);
    b.cstr().at("path", p)?;
    Ok(b)
}

fn join(root: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = root.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
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
    let mut end = 1;
    while end <= path.len() {
        if end == path.len() || path[end] == b'/' {
            let mut c = cpath(&path[..end])?;
            match fs::mkdirat(Fd::CWD, c.cstr().at("create state root", path)?, 0o711) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e).at("create state root", &path[..end]),
            }
        }
        end += 1;
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
        if !valid_name(st.name.as_bytes()) {
            return Err(Error::msg(
                "container name",
                st.name.as_bytes(),
                "must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
            ));
        }
        mkdir_all(root)?;
        // A shared /tmp (rootless without XDG_RUNTIME_DIR): the root must be
        // ours, or another user could read or swap our state.
        let owner = fs::fstatat(Fd::CWD, cpath(root)?.cstr().at("stat", root)?, 0)
            .at("stat", root)?
            .uid;
        if owner != husk_sys::process::geteuid() {
            return Err(Error::msg("state root", root, "is owned by another user"));
        }
        let mut tmp_name = Vec::new();
        tmp_name
            .s(".new-")
            .s(&st.name)
            .c(b'-')
            .u(husk_sys::process::getpid() as u64);
        let tmp = join(root, &tmp_name);
        let mut ctmp = cpath(&tmp)?;
        match fs::mkdirat(Fd::CWD, ctmp.cstr().at("mkdir", &tmp)?, 0o700) {
            Ok(()) => {}
            // Left by a creator that had our pid and was killed mid-way.
            Err(Errno::EEXIST) => {
                remove_tree(Fd::CWD, &tmp)?;
                fs::mkdirat(Fd::CWD, ctmp.cstr().at("mkdir", &tmp)?, 0o700).at("mkdir", &tmp)?;
            }
            Err(e) => return Err(e).at("mkdir", &tmp),
        }
        let r = Self::fill(&tmp, st).and_then(|(dir, lock)| {
            let final_path = join(root, st.name.as_bytes());
            publish(&tmp, &final_path, st.name.as_bytes())?;
            Ok((
                StateDir {
                    path: final_path,
                    ..dir
                },
                lock,
            ))
        });
        if r.is_err() {
            let _ = remove_tree(Fd::CWD, &tmp);
        }
        r
    }

    fn fill(tmp: &[u8], st: &State) -> Result<(StateDir, Lock)> {
        let fd = fs::openat(
            Fd::CWD,
            cpath(tmp)?.cstr().at("open", tmp)?,
            O_RDONLY | O_DIRECTORY | O_CLOEXEC,
            0,
        )
        .at("open", tmp)?;
        let mut dir = StateDir {
            path: tmp.to_vec(),
            fd,
            monitor: None,
        };
        let lock = dir.lock_fd()?;
        let mon = fs::openat(
            dir.fd.fd(),
            MONITOR,
            O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
            0o600,
        )
        .at("create", &dir.file(b"monitor"))?;
        flock(mon.fd(), LOCK_EX).at("lock", &dir.file(b"monitor"))?;
        dir.monitor = Some(mon);
        dir.write(st)?;
        Ok((dir, lock))
    }

    /// Open the container `name` under `root`: "no such container" if absent.
    pub fn open(root: &[u8], name: &[u8]) -> Result<StateDir> {
        if !valid_name(name) {
            return Err(no_such(name));
        }
        let path = join(root, name);
        match fs::openat(
            Fd::CWD,
            cpath(&path)?.cstr().at("open", &path)?,
            O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
            0,
        ) {
            Ok(fd) => Ok(StateDir {
                path,
                fd,
                monitor: None,
            }),
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
        self.path
            .rsplit(|&c| c == b'/')
            .next()
            .unwrap_or(&self.path)
    }

    fn file(&self, f: &[u8]) -> Vec<u8> {
        join(&self.path, f)
    }

    fn lock_fd(&self) -> Result<Lock> {
        let fd = fs::openat(self.fd.fd(), c".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
            .at("open", &self.path)?;
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
        let data = encode(st);
        let tmp = self.file(b"state.json.tmp");
        let f = fs::openat(
            self.fd.fd(),
            STATE_TMP,
            O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
            0o600,
        )
        .at("create", &tmp)?;
        fs::write_all(f.fd(), &data).at("write", &tmp)?;
        fs::fsync(f.fd()).at("fsync", &tmp)?;
        fs::renameat2(self.fd.fd(), STATE_TMP, self.fd.fd(), STATE, 0).at("rename", &tmp)
    }

    /// Read the state file; a corrupt or truncated one is an error naming it.
    pub fn read(&self) -> Result<State> {
        let path = self.file(b"state.json");
        let data = match fs::read_to_vec(self.fd.fd(), STATE) {
            Err(Errno::ENOENT) => return Err(no_such(self.name())),
            r => r.at("read", &path)?,
        };
        decode(&data).map_err(|why| Error::msg("read", &path, why))
    }

    /// Delete the directory and everything in it. Hold the lock: the state
    /// file goes first, which is how a waiting locker learns it is gone.
    pub fn remove(self) -> Result<()> {
        let state = self.file(b"state.json");
        match fs::unlinkat(self.fd.fd(), STATE, 0) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e).at("unlink", &state),
        }
        remove_tree(Fd::CWD, &self.path)
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
            fs::write_all(m.fd(), &b).at("write", &self.file(b"monitor"))?;
        }
        let _lock = match self.lock() {
            Ok(l) => l,
            // `rm -f` got there first: nothing left to record.
            Err(e) if is_gone(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut st = self.read()?;
        if st.auto_remove {
            return self.remove();
        }
        st.status = Status::Exited(code);
        self.write(&st)
    }

    /// Block until the monitor lock is free (the monitor has exited), then
    /// return what the monitor wrote: `Some(code)`, or `None` if it died
    /// without writing one.
    pub fn wait_monitor(&self) -> Result<Option<i32>> {
        let path = self.file(b"monitor");
        let m = match fs::openat(self.fd.fd(), MONITOR, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0) {
            Err(Errno::ENOENT) => return Err(no_such(self.name())),
            r => r.at("open", &path)?,
        };
        husk_sys::errno::retry(|| flock(m.fd(), LOCK_SH)).at("lock", &path)?;
        let mut buf = [0u8; 24];
        let n = fs::read_full(m.fd(), &mut buf).at("read", &path)?;
        Ok(parse_i32(trim(&buf[..n])))
    }

    /// The exit code the monitor wrote, without waiting: `None` while the
    /// container runs, or if its monitor died before writing one.
    pub fn recorded_exit(&self) -> Option<i32> {
        let mut buf = [0u8; 24];
        let data = fs::read_file(self.fd.fd(), MONITOR, &mut buf).ok()?;
        parse_i32(trim(data))
    }

    /// Whether the monitor still holds its lock (the container is starting,
    /// running, or being recorded), without blocking.
    pub fn monitor_active(&self) -> bool {
        let Ok(m) = fs::openat(self.fd.fd(), MONITOR, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0) else {
            return false;
        };
        flock(m.fd(), LOCK_SH | husk_sys::fd::LOCK_NB) == Err(Errno::EAGAIN)
    }
}

/// Rename the filled hidden directory to its name, never over another.
fn publish(tmp: &[u8], path: &[u8], name: &[u8]) -> Result<()> {
    let mut a = cpath(tmp)?;
    let mut b = cpath(path)?;
    let (a, b) = (a.cstr().at("rename", tmp)?, b.cstr().at("rename", path)?);
    let r = match fs::renameat2(Fd::CWD, a, Fd::CWD, b, fs::RENAME_NOREPLACE) {
        // Filesystems without RENAME_NOREPLACE: a plain rename cannot
        // replace a published directory either, as it is never empty.
        Err(Errno::EINVAL) => fs::renameat2(Fd::CWD, a, Fd::CWD, b, 0),
        r => r,
    };
    match r {
        Ok(()) => Ok(()),
        Err(Errno::EEXIST | Errno::ENOTEMPTY) => {
            Err(Error::msg("create container", name, "name already in use"))
        }
        Err(e) => Err(e).at("rename", tmp),
    }
}

/// `rm -rf path` that follows no symlink and stays on path's filesystem
/// (a mount left below it is an error, never something to descend into).
pub fn remove_tree(dir: Fd, path: &[u8]) -> Result<()> {
    let mut c = cpath(path)?;
    let cs = c.cstr().at("remove", path)?;
    let top = match fs::openat(dir, cs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0) {
        Err(Errno::ENOENT) => return Ok(()),
        // A file or a symlink: unlink it, never follow it.
        Err(Errno::ENOTDIR | Errno::ELOOP) => return fs::unlinkat(dir, cs, 0).at("unlink", path),
        r => r.at("open", path)?,
    };
    let dev = fs::fstat(top.fd()).at("stat", path)?.dev;
    empty_dir(top, dev, path)?;
    match fs::unlinkat(dir, cs, AT_REMOVEDIR) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).at("rmdir", path),
    }
}

fn empty_dir(fd: OwnedFd, dev: u64, path: &[u8]) -> Result<()> {
    let mut d = fs::Dir::new(fd);
    while let Some(e) = d.next_entry().at("read directory", path)? {
        if e.is_dot() {
            continue;
        }
        let sub = join(path, e.name());
        match fs::unlinkat(d.fd(), e.cname(), 0) {
            Ok(()) | Err(Errno::ENOENT) => continue,
            Err(Errno::EISDIR) => {}
            Err(err) => return Err(err).at("unlink", &sub),
        }
        let child = fs::openat(
            d.fd(),
            e.cname(),
            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
            0,
        )
        .at("open", &sub)?;
        if fs::fstat(child.fd()).at("stat", &sub)?.dev != dev {
            return Err(Error::msg("remove", &sub, "a mount point: not crossing it"));
        }
        empty_dir(child, dev, &sub)?;
        fs::unlinkat(d.fd(), e.cname(), AT_REMOVEDIR).at("rmdir", &sub)?;
    }
    Ok(())
}

/// Every container under `root`, sorted by name: its state, or the error
/// reading it (corrupt file). A missing root is an empty list.
pub fn list(root: &[u8]) -> Result<Vec<(String, Result<State>)>> {
    let mut d = match fs::Dir::open(Fd::CWD, cpath(root)?.cstr().at("open", root)?) {
        Err(Errno::ENOENT) => return Ok(Vec::new()),
        r => r.at("open", root)?,
    };
    let mut out: Vec<(String, Result<State>)> = Vec::new();
    while let Some(e) = d.next_entry().at("read directory", root)? {
        // Hidden `.new-*` directories are containers still being created.
        if !valid_name(e.name()) {
            continue;
        }
        // valid_name: ASCII.
        let name = String::from(core::str::from_utf8(e.name()).unwrap_or(""));
        let st = StateDir::open(root, e.name()).and_then(|s| s.read());
        if let Err(err) = &st {
            // Removed between readdir and open: not a container any more.
            if is_gone(err) {
                continue;
            }
        }
        // Sorted by name; an insertion sort is a few bytes of code.
        let at = out.iter().position(|(n, _)| *n > name).unwrap_or(out.len());
        out.insert(at, (name, st));
    }
    Ok(out)
}

/// Fields 3 (state letter) and 22 (start time) of a /proc/PID/stat line.
/// comm (field 2) may hold spaces and ')', so fields are counted from the
/// last ')'.
pub fn parse_stat(stat: &[u8]) -> Option<(u8, u64)> {
    let close = stat.iter().rposition(|&c| c == b')')?;
    let mut fields = stat[close + 1..]
        .split(|&c| c == b' ')
        .filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    // Field 3 was the state; field 22 is 19 further on.
    let start = husk_sys::fmt::parse_u64(trim(fields.nth(18)?))?;
    Some((state, start))
}

fn read_stat(pid: i32) -> Option<(u8, u64)> {
    if pid <= 0 {
        return None;
    }
    let mut p = CBuf::<32>::new();
    p.s("/proc/").u(pid as u64).s("/stat");
    let mut buf = [0u8; 1024];
    let data = fs::read_file(Fd::CWD, p.cstr().ok()?, &mut buf).ok()?;
    parse_stat(data)
}

/// The start time of `pid` (field 22 of /proc/PID/stat), for the state file.
pub fn start_time(pid: i32) -> Result<u64> {
    let mut p = CBuf::<32>::new();
    p.s("/proc/").u(pid as u64).s("/stat");
    read_stat(pid)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::sys("read", p.bytes(), Errno::ESRCH))
}

/// Whether `pid` is still the process that started at `start_time` and has
/// not exited (a zombie has: its monitor is about to record it).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    matches!(read_stat(pid), Some((s, t)) if t == start_time && s != b'Z' && s != b'X')
}

/// Unix time in seconds, for `State::created`.
pub fn now() -> u64 {
    husk_sys::time::clock_gettime(husk_sys::time::CLOCK_REALTIME) / 1_000_000_000
}

fn trim(s: &[u8]) -> &[u8] {
    let a = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let b = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(a, |i| i + 1);
    &s[a..b.max(a)]
}

fn parse_i32(s: &[u8]) -> Option<i32> {
    let (neg, digits) = match s.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, s),
    };
    let n = husk_sys::fmt::parse_u64(digits)?;
    let n = i32::try_from(n).ok()?;
    Some(if neg { -n } else { n })
}

// ---- JSON -------------------------------------------------------------
//
// The state file and the `--json` outputs are flat JSON objects. Strings are
// bytes: valid UTF-8 is written as is, and a byte that is not part of valid
// UTF-8 is written as `\u00XX`, which `decode` turns back into that byte, so
// any path or argument round-trips exactly.

/// Append `s` as a JSON string.
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let (good, bad) = match core::str::from_utf8(rest) {
            Ok(_) => (rest.len(), 0),
            Err(e) => (
                e.valid_up_to(),
                e.error_len().unwrap_or(rest.len() - e.valid_up_to()),
            ),
        };
        for &c in &rest[..good] {
            match c {
                b'"' => out.s("\\\""),
                b'\\' => out.s("\\\\"),
                b'\n' => out.s("\\n"),
                b'\t' => out.s("\\t"),
                0..=0x1f | 0x7f => out.s("\\u00").hex(c as u64, 2),
                _ => out.c(c),
            };
        }
        for &c in &rest[good..good + bad] {
            out.s("\\u00").hex(c as u64, 2);
        }
        rest = &rest[good + bad..];
    }
    out.push(b'"');
}

/// A JSON object being written: `{"k":v,...}`.
pub struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, first: true }
    }
    /// Write the key; the caller appends the value to the returned buffer.
    pub fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        json_str(self.out, k.as_bytes());
        self.out.push(b':');
        self.out
    }
    pub fn str(&mut self, k: &str, v: &[u8]) -> &mut Self {
        let o = self.key(k);
        json_str(o, v);
        self
    }
    pub fn u(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k).u(v);
        self
    }
    pub fn i(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k).i(v);
        self
    }
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k).s(if v { "true" } else { "false" });
        self
    }
    pub fn strs<T: AsRef<[u8]>>(&mut self, k: &str, v: &[T]) -> &mut Self {
        let o = self.key(k);
        o.push(b'[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            json_str(o, s.as_ref());
        }
        o.push(b']');
        self
    }
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// The status word and exit code as the JSON outputs spell them.
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Created => "created",
        Status::Running => "running",
        Status::Exited(_) => "exited",
    }
}

/// The state file's bytes.
pub fn encode(st: &State) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut o = Obj::new(&mut out);
    o.u("version", 1)
        .str("name", st.name.as_bytes())
        .i("pid", st.pid as i64)
        .u("start_time", st.start_time);
    o.i("monitor_pid", st.monitor_pid as i64)
        .str("status", status_word(st.status).as_bytes());
    match st.status {
        Status::Exited(c) => o.i("exit_code", c as i64),
        _ => {
            o.key("exit_code").s("null");
            &mut o
        }
    };
    o.u("created", st.created)
        .str("rootfs", &st.rootfs)
        .strs("cgroup_paths", &st.cgroup_paths);
    o.strs("command", &st.command);
    o.u("cap_bounding", st.cap_bounding)
        .u("cap_effective", st.cap_effective);
    o.u("cap_permitted", st.cap_permitted)
        .u("cap_ambient", st.cap_ambient)
        .bool("no_new_privs", st.no_new_privs);
    let r = o.key("rlimits");
    r.push(b'[');
    for (i, &(res, soft, hard)) in st.rlimits.iter().enumerate() {
        if i > 0 {
            r.push(b',');
        }
        r.c(b'[')
            .u(res as u64)
            .c(b',')
            .u(soft)
            .c(b',')
            .u(hard)
            .c(b']');
    }
    r.push(b']');
    o.u("uid", st.uid as u64).u("gid", st.gid as u64);
    let g = o.key("groups");
    g.push(b'[');
    for (i, &x) in st.groups.iter().enumerate() {
        if i > 0 {
            g.push(b',');
        }
        g.u(x as u64);
    }
    g.push(b']');
    o.strs("env", &st.env)
        .str("workdir", &st.workdir)
        .strs("cleanup", &st.cleanup);
    o.bool("auto_remove", st.auto_remove);
    o.end();
    out.push(b'\n');
    out
}

/// A JSON reader for the shapes `encode` writes; unknown keys are skipped so
/// later versions may add fields.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

type P<T> = core::result::Result<T, ()>;

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\n' | b'\r' | b'\t') {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> P<u8> {
        self.ws();
        self.s.get(self.i).copied().ok_or(())
    }
    fn eat(&mut self, c: u8) -> P<()> {
        if self.peek()? != c {
            return Err(());
        }
        self.i += 1;
        Ok(())
    }
    /// After `[` or `{`: true if another element follows.
    fn more(&mut self, close: u8, first: bool) -> P<bool> {
        if self.peek()? == close {
            self.i += 1;
            return Ok(false);
        }
        if !first {
            self.eat(b',')?;
        }
        Ok(true)
    }
    fn hex4(&mut self) -> P<u32> {
        let h = self.s.get(self.i..self.i + 4).ok_or(())?;
        self.i += 4;
        h.iter().try_fold(0u32, |n, &c| {
            Ok(n * 16 + (c as char).to_digit(16).ok_or(())?)
        })
    }
    fn string(&mut self) -> P<Vec<u8>> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i).ok_or(())?;
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or(())?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        // encode writes \u only below 0x100: the raw byte.
                        b'u' => match self.hex4()? {
                            n if n < 0x100 => out.push(n as u8),
                            n => {
                                let ch = char::from_u32(n).ok_or(())?;
                                let mut b = [0u8; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                            }
                        },
                        _ => return Err(()),
                    }
                }
                c if c < 0x20 => return Err(()),
                c => out.push(c),
            }
        }
    }
    fn number(&mut self) -> P<i128> {
        self.ws();
        let neg = self.s.get(self.i) == Some(&b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let n = husk_sys::fmt::parse_u64(&self.s[start..self.i]).ok_or(())? as i128;
        Ok(if neg { -n } else { n })
    }
    /// A number in `min..=max`.
    fn int(&mut self, min: i128, max: i128) -> P<i128> {
        let n = self.number()?;
        if n < min || n > max {
            return Err(());
        }
        Ok(n)
    }
    fn u64(&mut self) -> P<u64> {
        self.int(0, u64::MAX as i128).map(|n| n as u64)
    }
    fn u32(&mut self) -> P<u32> {
        self.int(0, u32::MAX as i128).map(|n| n as u32)
    }
    fn i32(&mut self) -> P<i32> {
        self.int(i32::MIN as i128, i32::MAX as i128)
            .map(|n| n as i32)
    }
    fn word(&mut self, w: &[u8]) -> P<()> {
        self.ws();
        let rest = &self.s[self.i..];
        if rest.starts_with(w) {
            self.i += w.len();
            Ok(())
        } else {
            if w.starts_with(rest) {
                // Cut off inside the word: truncated, not corrupt.
                self.i = self.s.len();
            }
            Err(())
        }
    }
    fn boolean(&mut self) -> P<bool> {
        if self.peek()? == b't' {
            self.word(b"true").map(|_| true)
        } else {
            self.word(b"false").map(|_| false)
        }
    }
    /// `[item,...]`, each parsed by `item` (dyn: one copy of this code).
    fn array(&mut self, item: &mut dyn FnMut(&mut Self) -> P<()>) -> P<()> {
        self.eat(b'[')?;
        let mut first = true;
        while self.more(b']', first)? {
            first = false;
            item(self)?;
        }
        Ok(())
    }
    fn strings(&mut self) -> P<Vec<Vec<u8>>> {
        let mut v = Vec::new();
        self.array(&mut |p| p.string().map(|s| v.push(s)))?;
        Ok(v)
    }
    fn skip(&mut self) -> P<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'[' => self.array(&mut |p| p.skip()),
            b'{' => {
                self.eat(b'{')?;
                let mut first = true;
                while self.more(b'}', first)? {
                    first = false;
                    self.string()?;
                    self.eat(b':')?;
                    self.skip()?;
                }
                Ok(())
            }
            b't' | b'f' => self.boolean().map(|_| ()),
            b'n' => self.word(b"null"),
            _ => self.number().map(|_| ()),
        }
    }
}

/// Parse a state file. The error says which kind of damage it is.
pub fn decode(data: &[u8]) -> core::result::Result<State, &'static str> {
    if trim(data).is_empty() {
        return Err("empty state file");
    }
    let mut p = Parser { s: data, i: 0 };
    let mut st = State::default();
    let (mut status, mut code, mut have_name) = (Vec::new(), None, false);
    let r: P<()> = (|| {
        p.eat(b'{')?;
        let mut first = true;
        while p.more(b'}', first)? {
            first = false;
            let k = p.string()?;
            p.eat(b':')?;
            match &k[..] {
                b"version" => {
                    if p.u32()? != 1 {
                        return Err(());
                    }
                }
                b"name" => {
                    st.name = String::from_utf8(p.string()?).map_err(|_| ())?;
                    have_name = true;
                }
                b"pid" => st.pid = p.i32()?,
                b"start_time" => st.start_time = p.u64()?,
                b"monitor_pid" => st.monitor_pid = p.i32()?,
                b"status" => status = p.string()?,
                b"exit_code" => {
                    if p.peek()? == b'n' {
                        p.word(b"null")?;
                    } else {
                        code = Some(p.i32()?);
                    }
                }
                b"created" => st.created = p.u64()?,
                b"rootfs" => st.rootfs = p.string()?,
                b"cgroup_paths" => {
                    for c in p.strings()? {
                        st.cgroup_paths.push(String::from_utf8(c).map_err(|_| ())?);
                    }
                }
                b"command" => st.command = p.strings()?,
                b"cap_bounding" => st.cap_bounding = p.u64()?,
                b"cap_effective" => st.cap_effective = p.u64()?,
                b"cap_permitted" => st.cap_permitted = p.u64()?,
                b"cap_ambient" => st.cap_ambient = p.u64()?,
                b"no_new_privs" => st.no_new_privs = p.boolean()?,
                b"rlimits" => {
                    p.array(&mut |p| {
                        p.eat(b'[')?;
                        let r = p.u32()?;
                        p.eat(b',')?;
                        let s = p.u64()?;
                        p.eat(b',')?;
                        let h = p.u64()?;
                        st.rlimits.push((r, s, h));
                        p.eat(b']')
                    })?;
                }
                b"uid" => st.uid = p.u32()?,
                b"gid" => st.gid = p.u32()?,
                b"groups" => p.array(&mut |p| p.u32().map(|g| st.groups.push(g)))?,
                b"env" => st.env = p.strings()?,
                b"workdir" => st.workdir = p.string()?,
                b"cleanup" => st.cleanup = p.strings()?,
                b"auto_remove" => st.auto_remove = p.boolean()?,
                _ => p.skip()?,
            }
        }
        p.ws();
        if p.i != p.s.len() {
            return Err(());
        }
        Ok(())
    })();
    if r.is_err() {
        // Running out of input is the usual damage of a crash mid-write.
        return Err(if p.i >= data.len() {
            "truncated state file"
        } else {
            "corrupt state file"
        });
    }
    st.status = match (&status[..], code) {
        (b"created", _) => Status::Created,
        (b"running", _) => Status::Running,
        (b"exited", Some(c)) => Status::Exited(c),
        _ => return Err("corrupt state file"),
    };
    if !have_name || !valid_name(st.name.as_bytes()) {
        return Err("corrupt state file");
    }
    Ok(st)
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
            cgroup_paths: vec![
                "/sys/fs/cgroup/memory/husk/web-1".into(),
                "/sys/fs/cgroup/pids/husk/web-1".into(),
            ],
            command: vec![
                b"sh".to_vec(),
                b"-c".to_vec(),
                b"echo \"hi\"\\\n\t\x01 \xff\xfe caf\xc3\xa9".to_vec(),
            ],
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
        assert!(
            core::str::from_utf8(&j).is_ok(),
            "{}",
            String::from_utf8_lossy(&j)
        );
        assert_eq!(decode(&j), Ok(st.clone()));
        for s in [Status::Created, Status::Running, Status::Exited(0)] {
            let st = State {
                status: s,
                ..st.clone()
            };
            assert_eq!(decode(&encode(&st)).unwrap().status, s);
        }
    }

    #[test]
    fn json_strings_escape_quotes_controls_and_bad_utf8() {
        let mut o = Vec::new();
        json_str(&mut o, b"a\"b\\c\nd\x01\xffcaf\xc3\xa9");
        assert_eq!(o, b"\"a\\\"b\\\\c\\nd\\u0001\\u00ffcaf\xc3\xa9\"".to_vec());
    }

    #[test]
    fn damaged_state_files_are_named_as_such() {
        let j = encode(&sample());
        assert_eq!(decode(b""), Err("empty state file"));
        assert_eq!(decode(b"\n"), Err("empty state file"));
        for cut in [1, 10, j.len() / 2, j.len() - 3] {
            assert_eq!(
                decode(&j[..cut]),
                Err("truncated state file"),
                "cut at {cut}"
            );
        }
        assert_eq!(
            decode(b"{\"name\":\"x\",\"status\":\"running\"}garbage"),
            Err("corrupt state file")
        );
        assert_eq!(
            decode(b"{\"name\":\"x\",\"status\":\"sleeping\"}"),
            Err("corrupt state file")
        );
        assert_eq!(
            decode(b"{\"name\":\"x\",\"status\":\"exited\",\"exit_code\":null}"),
            Err("corrupt state file")
        );
        assert_eq!(
            decode(b"{\"name\":\"../x\",\"status\":\"running\"}"),
            Err("corrupt state file")
        );
        assert_eq!(
            decode(b"{\"name\":\"x\",\"pid\":-5,\"status\":\"running\"}")
                .unwrap()
                .pid,
            -5
        );
        assert_eq!(
            decode(b"{\"name\":\"x\",\"pid\":99999999999,\"status\":\"running\"}"),
            Err("corrupt state file")
        );
        assert_eq!(
            decode(b"{\"version\":2,\"name\":\"x\",\"status\":\"running\"}"),
            Err("corrupt state file")
        );
        assert_eq!(decode(b"\x00\x00\x00"), Err("corrupt state file"));
    }

    #[test]
    fn unknown_keys_are_skipped() {
        let st = decode(
            b"{\"new\":{\"a\":[1,\"x\",true,null,{}]},\"name\":\"c\",\"status\":\"created\"}",
        )
        .unwrap();
        assert_eq!((st.name.as_str(), st.status), ("c", Status::Created));
    }

    #[test]
    fn names_follow_the_documented_pattern() {
        for ok in [&b"a"[..], b"web-1", b"A.b_c-9", &[b'x'; 64]] {
            assert!(valid_name(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b""[..],
            b".x",
            b"-x",
            b"_x",
            b"a/b",
            b"..",
            b"a b",
            &[b'x'; 65],
            b"caf\xc3\xa9",
        ] {
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
            assert_eq!(
                parse_stat(&line),
                Some((b'S', 424242)),
                "{}",
                String::from_utf8_lossy(&line)
            );
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
        let st = State {
            name: "c1".into(),
            status: Status::Created,
            ..sample()
        };
        let (dir, lock) = StateDir::create(&root, &st).unwrap();
        drop(lock);
        let e = StateDir::create(&root, &st).err().unwrap();
        assert_eq!(
            format!("{e:?}"),
            "husk: create container c1: name already in use"
        );
        let mut st2 = dir.read().unwrap();
        assert_eq!(st2, st);
        st2.status = Status::Running;
        {
            let _l = dir.lock().unwrap();
            dir.write(&st2).unwrap();
        }
        assert!(dir.monitor_active());
        let names: Vec<_> = list(&root)
            .unwrap()
            .into_iter()
            .map(|(n, s)| (n, s.unwrap().status))
            .collect();
        assert_eq!(names, vec![("c1".to_string(), Status::Running)]);
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
        let st = State {
            name: "c2".into(),
            auto_remove: false,
            ..sample()
        };
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
        std::fs::write(format!("{rs}/c2/state.json"), b"{\"name\":\"c2\",\"pi").unwrap();
        let e = other.read().err().unwrap();
        assert_eq!(
            format!("{e:?}"),
            format!("husk: read {rs}/c2/state.json: truncated state file")
        );
        let _l = other.lock().unwrap();
        std::fs::create_dir_all(format!("{rs}/c2/upper/a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", format!("{rs}/c2/upper/etc")).unwrap();
        other.remove().unwrap();
        assert!(std::fs::metadata("/etc/passwd").is_ok());
        assert_eq!(std::fs::read_dir(&rs).unwrap().count(), 0);
        std::fs::remove_dir_all(&rs).unwrap();
    }
}
