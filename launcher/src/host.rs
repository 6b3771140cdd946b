//! The host stage: runs in the caller's process, in the host's namespaces.
//!
//! May assume: the command line parsed into a [`Container`] (cli.rs).
//! Checks everything against the filesystem before creating anything, then
//! creates, in order, the state directory (it reserves the name), the
//! cgroup, and the container process; writes the id maps; releases the
//! container; and in the foreground forwards signals and returns the
//! container's exit status. Whatever was created is removed on every path.

use crate::cgroup::{self, Cgroup};
use crate::container;
use crate::exec::{self, InitImage};
use crate::idmap;
use crate::rootfs;
use crate::spec::{Container, IdMap, Init, DEFAULT_STORE};
use crate::state::{self, State, StateDir, Status};
use crate::sync::{self, Msg};
use crate::user::{self, Identity};
use crate::{cli, mounts};
use alloc::string::String;
use alloc::vec::Vec;
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, O_CLOEXEC, O_PATH, O_RDONLY};
use husk_sys::ns::{CLONE_NEWCGROUP, CLONE_NEWPID, CLONE_NEWUSER};
use husk_sys::process::{self, CStrVec, Exit};
use husk_sys::signal::{self, SigSet, SIGCHLD, SIGKILL, SIG_BLOCK};
use husk_sys::{rt, CBuf, Context, Errno, Error, Fd, OwnedFd};

/// Everything the container stage needs, prepared on the host. The child
/// gets its own copy with the fork.
pub struct Launch<'a> {
    pub c: &'a Container,
    pub hostname: &'a [u8],
    /// `<state root>/<name>`, absolute.
    pub state_dir: Vec<u8>,
    /// The layers as absolute paths, top first.
    pub layers: Vec<Vec<u8>>,
    pub id: Identity,
    /// COMMAND as found in the rootfs (executed directly with --no-init).
    pub command_path: Vec<u8>,
    pub argv: CStrVec,
    pub envp: CStrVec,
    pub init: InitImage,
    /// (CLONE_NEW* kind, fd, path) of each `--join`.
    pub joins: Vec<(i32, OwnedFd, &'a [u8])>,
    pub userns: bool,
    pub uid_maps: Vec<IdMap>,
    pub gid_maps: Vec<IdMap>,
    /// Unprivileged maps need "setgroups deny" first.
    pub deny_setgroups: bool,
    /// The join path must fork once more for PID 1 (a new or joined pid ns).
    pub pid_fork: bool,
    /// The signal mask to restore before execve.
    pub old_mask: SigSet,
    /// The state as known before the clone (all but the init's pid); its
    /// name, layers and environment are the ones used here, not copies.
    pub st: State,
}

/// A failure to report: exit code and the rendered line.
struct Fail {
    code: i32,
    line: Vec<u8>,
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let mut line = Vec::new();
        e.render("husk", &mut line);
        Fail { code: 125, line }
    }
}

/// What was created and must go when the container is gone.
#[derive(Default)]
struct Leftovers {
    child: Option<i32>,
    cgroup: Option<Cgroup>,
    state: Option<StateDir>,
    /// The state directory's lock, held from its creation until the state
    /// says Running: an `rm -f` racing the start waits for it.
    lock: Option<state::Lock>,
}

impl Leftovers {
    /// Kill and reap a container that is still there, then remove its
    /// cgroup (it must be empty first) and its state directory.
    fn remove(&mut self) {
        if let Some(pid) = self.child.take() {
            let _ = process::kill(pid, SIGKILL);
            let _ = husk_sys::errno::retry(|| process::wait4(pid, 0));
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.remove() {
                e.print("husk: warning");
            }
        }
        if let Some(d) = self.state.take() {
            if let Err(e) = d.remove() {
                e.print("husk: warning");
            }
        }
        self.lock = None;
    }
}

/// `husk run` in the foreground: the whole host stage. Returns the exit
/// status: the container's, or 125/126/127 after printing why.
pub fn run(mut c: Container, builtin: &'static [u8]) -> i32 {
    let _ = process::set_name(c"husk:host");
    // A foreground container's state lasts as long as the container.
    c.auto_remove = true;
    supervise(&mut c, builtin, None)
}

/// Start the container, wait for it and clean up. With `report` (the
/// monitor of `run -d`), the start's outcome goes there (0 and the name, or
/// the exit code and the error line) instead of to stdout and stderr.
fn supervise(c: &mut Container, builtin: &'static [u8], mut report: Option<OwnedFd>) -> i32 {
    let mut left = Leftovers::default();
    let r = start(c, builtin, &mut left).and_then(|pid| {
        if let Some(fd) = report.take() {
            report_to(&fd, 0, c.name.as_deref().unwrap_or("").as_bytes());
        }
        wait_foreground(pid, &mut left)
    });
    // Clean up first: once the caller of `run -d` has exited, nothing is left.
    finish(r.as_ref().ok().copied(), &mut left);
    match r {
        Ok(code) => code,
        Err(f) => {
            match &report {
                Some(fd) => report_to(fd, f.code as u8, &f.line),
                None => {
                    husk_sys::fmt::stderr().b(&f.line).c(b'\n');
                }
            }
            f.code
        }
    }
}

/// Check, create, clone, release: returns the init's pid once it runs.
fn start(c: &mut Container, builtin: &'static [u8], left: &mut Leftovers) -> Result<i32, Fail> {
    let euid = process::geteuid();
    if c.name.is_none() {
        c.name = Some(state::generate_name());
    }
    resolve_image(c)?;
    let c: &Container = c;
    let userns = c.wants_userns(euid);
    let mut l = Launch {
        c,
        hostname: c.hostname().as_bytes(),
        state_dir: Vec::new(),
        layers: Vec::new(),
        id: Identity { uid: 0, gid: 0, groups: Vec::new(), home: Vec::new() },
        command_path: Vec::new(),
        argv: CStrVec::new(),
        envp: CStrVec::new(),
        init: InitImage::None,
        joins: Vec::new(),
        userns,
        uid_maps: Vec::new(),
        gid_maps: Vec::new(),
        deny_setgroups: userns && euid != 0,
        pid_fork: c.namespaces & CLONE_NEWPID != 0 || c.joins.iter().any(|j| j.kind == CLONE_NEWPID),
        old_mask: SigSet::EMPTY,
        st: State::default(),
    };
    let mut code = 125;
    if let Err(e) = prepare(&mut l, euid, builtin, &mut code) {
        return Err(Fail { code, ..e.into() });
    }
    let (dir, lock) = StateDir::create(&state_root(c), &l.st)?;
    l.state_dir = dir.path().to_vec();
    left.state = Some(dir);
    left.lock = Some(lock);
    left.cgroup = create_cgroup(c, &l.st.name, euid)?;
    l.old_mask = block_signals()?;
    let (pid, sock) = spawn_container(&l, left)?;
    wait_for_exec(pid, sock, left, l.st.name.as_bytes())?;
    record_running(&mut l.st, pid, left)?;
    Ok(pid)
}

/// `--image`: the image's layers become the lower layers, and its config
/// fills in what the command line left open, as docker does: Env goes
/// before `-e`, WorkingDir and User apply unless `-w` or `-u` is given, and
/// Entrypoint is followed by COMMAND, or by Cmd when there is no COMMAND.
fn resolve_image(c: &mut Container) -> Result<(), Error> {
    let Some(name) = &c.image else { return Ok(()) };
    let store = c.store.as_deref().unwrap_or(DEFAULT_STORE);
    let img = husk_rootfs::store::read_image(store, name)?;
    let cfg = img.config;
    c.layers = img.layers;
    let mut env = strings(cfg.env);
    env.append(&mut c.env);
    c.env = env;
    if c.workdir.is_none() && !cfg.working_dir.is_empty() {
        c.workdir = Some(cfg.working_dir.into_bytes());
    }
    if c.user.is_none() && !cfg.user.is_empty() {
        let u = cfg.user.as_bytes();
        c.user = Some(cli::parse_user(u).ok_or_else(|| Error::msg("image user", u, "want USER[:GROUP]"))?);
    }
    let mut cmd = strings(cfg.entrypoint);
    cmd.append(&mut if c.command.is_empty() { strings(cfg.cmd) } else { core::mem::take(&mut c.command) });
    c.command = cmd;
    if c.command.is_empty() {
        return Err(Error::msg("image", name, "has no Entrypoint or Cmd: give a COMMAND"));
    }
    Ok(())
}

fn strings(v: Vec<String>) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(v.len());
    for s in v {
        out.push(s.into_bytes());
    }
    out
}

/// Every check that needs the filesystem, before anything is created,
/// filling `l` and its state as it goes. A failure exits with 125, or with
/// `code` when COMMAND is missing (127) or not executable (126).
fn prepare(l: &mut Launch, euid: u32, builtin: &'static [u8], code: &mut i32) -> Result<(), Error> {
    let c = l.c;
    let st = &mut l.st;
    st.name = c.name.clone().unwrap_or_default();
    absolute_layers(c, &mut l.layers, &mut st.rootfs)?;
    if c.is_overlay() {
        check_overlay(c, &l.layers, &st.name, euid)?;
    }
    let layer_fds = rootfs::open_layers(&l.layers)?;
    let passwd = rootfs::read_file(&layer_fds, b"/etc/passwd");
    let group = rootfs::read_file(&layer_fds, b"/etc/group");
    l.id = user::identity(c.user.as_ref(), &passwd, &group)?;
    let term = match process::isatty(Fd::STDIN) {
        true => Some(rt::getenv(b"TERM").unwrap_or(b"xterm")),
        false => None,
    };
    st.env = exec::environment(l.hostname, &l.id.home, term, &c.env);
    let workdir = c.workdir.as_deref().unwrap_or(b"/");
    let cmd = c.command.first().map_or(&b""[..], |c| c);
    l.command_path = rootfs::find_command(&layer_fds, cmd, exec::path_of(&st.env), workdir).map_err(|(c, e)| {
        *code = c;
        e
    })?;
    for b in &c.binds {
        refuse_escape(&layer_fds, &b.dst)?;
    }
    for t in &c.tmpfs {
        refuse_escape(&layer_fds, &t.dst)?;
    }
    // Only checked here: a mount in our namespace cannot be the source of a
    // bind in the container's (EINVAL), so the container stage opens them.
    for b in &c.binds {
        open_host(&b.src, O_PATH, "bind source")?;
    }
    for j in &c.joins {
        l.joins.push((j.kind, open_host(&j.path, O_RDONLY, "join")?, &j.path));
    }
    l.init = match &c.init {
        Init::None => InitImage::None,
        Init::Path(p) => InitImage::File(open_host(p, O_RDONLY, "init image")?),
        Init::Builtin if builtin.is_empty() => {
            let why = "no husk-init built into this husk: use --init PATH or --no-init";
            return Err(Error::msg("init", b"", why));
        }
        Init::Builtin => InitImage::Builtin(builtin),
    };
    l.argv = exec::argv(&c.command, !matches!(l.init, InitImage::None))?;
    for e in &st.env {
        l.envp.push(e).at("env", e)?;
    }
    if l.userns {
        l.uid_maps = idmap::maps_or_default(&c.uid_maps, euid);
        l.gid_maps = idmap::maps_or_default(&c.gid_maps, process::getgid());
    }
    let plan = crate::caps::plan(c.caps.set, c.caps.added, l.id.uid, husk_sys::caps::last_cap());
    st.monitor_pid = process::getpid();
    st.created = state::now();
    st.command = c.command.clone();
    st.cap_bounding = plan.bounding;
    st.cap_effective = plan.effective;
    st.cap_permitted = plan.permitted;
    st.cap_ambient = plan.ambient;
    st.no_new_privs = c.no_new_privs;
    st.uid = l.id.uid;
    st.gid = l.id.gid;
    st.groups = l.id.groups.clone();
    st.workdir = workdir.to_vec();
    st.auto_remove = c.auto_remove;
    for r in &c.rlimits {
        st.rlimits.push((r.resource, r.soft, r.hard));
    }
    Ok(())
}

/// A mount destination must not climb out of any layer through a symlink.
fn refuse_escape(layers: &[OwnedFd], dst: &[u8]) -> Result<(), Error> {
    for l in layers {
        if rootfs::escapes(l.fd(), dst) {
            return Err(Error::msg("mount destination", dst, "escapes the root through a symlink"));
        }
    }
    Ok(())
}

/// Layers relative to the cwd become absolute: they end up in overlay's
/// options and in error messages. `joined` gets them `:`-separated.
fn absolute_layers(c: &Container, out: &mut Vec<Vec<u8>>, joined: &mut Vec<u8>) -> Result<(), Error> {
    let mut buf = [0u8; 4096];
    let cwd = fs::getcwd(&mut buf).ctx("getcwd")?;
    for l in &c.layers {
        let mut a = Vec::new();
        if l.first() != Some(&b'/') {
            a.b(cwd).c(b'/');
        }
        a.b(l);
        if !out.is_empty() {
            joined.c(b':');
        }
        joined.b(&a);
        out.push(a);
    }
    Ok(())
}

/// overlayfs stacks at most 500 lower layers (OVL_MAX_STACK), and mount(2)
/// copies at most a page of options: refuse what it would refuse, with a
/// message that says why, before anything is created.
fn check_overlay(c: &Container, layers: &[Vec<u8>], name: &str, euid: u32) -> Result<(), Error> {
    let mut state_dir = state_root(c);
    state_dir.c(b'/').s(name);
    let plan = mounts::RootPlan {
        layers,
        overlay: true,
        upper: c.upper.as_deref(),
        state_dir: &state_dir,
        userns: c.wants_userns(euid),
    };
    for l in layers {
        cli::check_layer(l)?;
    }
    let mut o = CBuf::<4096>::new();
    mounts::overlay_options(&plan, &mut o);
    let mut n = Vec::new();
    n.u(layers.len() as u64).s(" layers");
    let why = if layers.len() > 500 {
        "overlayfs stacks at most 500 lower layers"
    } else if o.cstr().is_err() {
        "their paths do not fit in mount(2)'s 4096-byte options"
    } else {
        return Ok(());
    };
    Err(Error::msg("overlay", &n, why))
}

pub fn open_host(p: &[u8], flags: i32, what: &'static str) -> Result<OwnedFd, Error> {
    let mut c = CBuf::<4096>::from(p);
    fs::openat(Fd::CWD, c.cstr().at(what, p)?, flags | O_CLOEXEC, 0).at(what, p)
}

/// The state root: `--root`, else /run/husk for root, else
/// $XDG_RUNTIME_DIR/husk, else /tmp/husk-UID (state.rs).
fn state_root(c: &Container) -> Vec<u8> {
    c.state_root.clone().unwrap_or_else(state::default_root)
}

/// Root always gets a cgroup (it is how the container is found and
/// removed); rootless only when it asked for limits, since an unprivileged
/// user rarely has a delegated subtree.
fn create_cgroup(c: &Container, name: &str, euid: u32) -> Result<Option<Cgroup>, Error> {
    if euid != 0 && c.resources == Default::default() {
        return Ok(None);
    }
    let layout = cgroup::detect()?;
    Cgroup::create(&layout, &c.cgroup_parent, name, &c.resources).map(Some)
}

/// Signals that reach us from now on are forwarded to the container's init
/// (wait_foreground); blocking them before the clone means none is lost in
/// between. The container stage restores the old mask before execve.
fn block_signals() -> Result<SigSet, Error> {
    signal::rt_sigprocmask(SIG_BLOCK, forwarded()).ctx("sigprocmask")
}

/// Every signal except the ones that report our own faults.
fn forwarded() -> SigSet {
    let mut s = SigSet::FULL;
    for sig in [signal::SIGSEGV, signal::SIGBUS, signal::SIGILL, signal::SIGFPE, signal::SIGTRAP, signal::SIGSYS] {
        s = s.without(sig);
    }
    s
}

/// Create the container process in its namespaces (fast path), or plain
/// (join path: it enters namespaces itself), placed in the cgroup before it
/// runs anything: by clone3(CLONE_INTO_CGROUP) on cgroup v2, else by
/// cgroup.procs before it is released.
fn spawn_container(l: &Launch, left: &mut Leftovers) -> Result<(i32, OwnedFd), Fail> {
    let (host_end, child_end) = sync::pair()?;
    let fast = l.joins.is_empty();
    let mut flags = 0;
    if fast {
        flags = (l.c.namespaces & !CLONE_NEWCGROUP) as u64;
        if l.userns {
            flags |= CLONE_NEWUSER as u64;
        }
    }
    let cg = left.cgroup.as_ref();
    let mut placed = false;
    let mut pid = None;
    if let Some(cgfd) = cg.and_then(|g| g.clone_into_fd()) {
        match process::clone3(flags, SIGCHLD as u64, Some(cgfd)) {
            Err(Errno::ENOSYS) => {
                let mut e = Error::sys("clone3", b"", Errno::ENOSYS);
                e.detail = "falling back to clone and cgroup.procs";
                e.print("husk: warning");
            }
            r => {
                placed = true;
                pid = Some(r.ctx("clone3")?.0);
            }
        }
    }
    let pid = match pid {
        Some(p) => p,
        None => process::clone(flags | SIGCHLD as u64).ctx("clone")?,
    };
    if pid == 0 {
        drop(host_end);
        container::run(l, child_end);
    }
    drop(child_end);
    left.child = Some(pid);
    let sock = host_end.fd();
    if !fast {
        expect(sock, |m| matches!(m, Msg::WantMaps))?;
    }
    if !placed {
        if let Some(g) = cg {
            g.add_pid(pid)?;
        }
    }
    if l.userns {
        idmap::write_maps(pid, &l.uid_maps, &l.gid_maps, l.deny_setgroups)?;
    }
    sync::send(sock, &Msg::Go)?;
    let mut pid = pid;
    if !fast && l.pid_fork {
        let init = match sync::recv(sock)? {
            Msg::Pid(p) => p,
            m => return Err(unexpected(m)),
        };
        // The forking process is done; its child (ours, by CLONE_PARENT)
        // is the container from here on.
        let _ = husk_sys::errno::retry(|| process::wait4(pid, 0));
        pid = init;
        left.child = Some(pid);
        sync::send(sock, &Msg::Go)?;
    }
    Ok((pid, host_end))
}

fn expect(sock: Fd, want: impl Fn(&Msg) -> bool) -> Result<(), Fail> {
    let m = sync::recv(sock)?;
    if want(&m) {
        Ok(())
    } else {
        Err(unexpected(m))
    }
}

fn unexpected(m: Msg) -> Fail {
    match m {
        Msg::Failed(code, line) => Fail { code, line },
        _ => Error::msg("start container", b"", "the container stage ended early").into(),
    }
}

/// `X` then end of file: execve succeeded (the socket was close-on-exec).
/// End of file without `X`: the container stage died, e.g. killed by a
/// memory limit too small to start it.
fn wait_for_exec(pid: i32, sock: OwnedFd, left: &mut Leftovers, name: &[u8]) -> Result<(), Fail> {
    let mut announced = false;
    loop {
        match sync::recv(sock.fd())? {
            Msg::Exec => announced = true,
            Msg::Eof if announced => return Ok(()),
            Msg::Eof => {
                let (_, status) = husk_sys::errno::retry(|| process::wait4(pid, 0)).ctx("wait4")?;
                left.child = None;
                let detail = match Exit::from_status(status) {
                    Exit::Signal(9) => "killed before it could start (is --memory too small?)",
                    _ => "the container stage died before it could start",
                };
                return Err(Error::msg("start container", name, detail).into());
            }
            m => return Err(unexpected(m)),
        }
    }
}

/// Forward every signal we get to the container's init until it exits;
/// return its status the way a shell would (128+N for a signal).
fn wait_foreground(pid: i32, left: &mut Leftovers) -> Result<i32, Fail> {
    // The same loop as `husk exec`'s: wait4 first (a SIGCHLD may already
    // have come), then sleep in sigtimedwait on the blocked set.
    let code = crate::enter::forward_signals(pid, forwarded(), false).ctx("wait4")?;
    left.child = None;
    Ok(code)
}

/// The init runs: record who it is (pid and start time, so that a reused
/// pid is never taken for it), then let other husk commands at it.
fn record_running(st: &mut State, pid: i32, left: &mut Leftovers) -> Result<(), Error> {
    st.pid = pid;
    st.start_time = state::start_time(pid)?;
    st.cgroup_paths = left.cgroup.as_ref().map(|g| g.paths()).unwrap_or_default();
    st.status = Status::Running;
    if let Some(d) = &left.state {
        d.write(st)?;
    }
    left.lock = None;
    Ok(())
}

/// The container ended with `code`, or never started (`None`): remove its
/// cgroup, then record the code in its state (which `--rm` and the
/// foreground remove instead). Waiters are released when we exit.
fn finish(code: Option<i32>, left: &mut Leftovers) {
    // Take the state out only when there is a code to record: a start that
    // failed leaves it in `left`, whose remove() deletes the directory.
    if let Some(code) = code {
        if let Some(dir) = left.state.take() {
            left.remove();
            if let Err(e) = dir.finish(code) {
                e.print("husk: warning");
            }
        }
    }
    left.remove();
}

/// `husk run -d`: a monitor process starts the container and waits for it;
/// this process prints the container's name once its init runs (or the
/// error) and exits. The monitor and the container get /dev/null as stdio,
/// so whoever reads our output is not kept waiting by them.
pub fn run_detached(mut c: Container, builtin: &'static [u8]) -> i32 {
    let started = fs::pipe2(O_CLOEXEC).ctx("pipe").and_then(|p| Ok((p, process::fork().ctx("fork")?)));
    let ((r, w), pid) = match started {
        Ok(x) => x,
        Err(e) => {
            e.print("husk");
            return 125;
        }
    };
    if pid == 0 {
        drop(r);
        process::exit(monitor(&mut c, builtin, w));
    }
    drop(w);
    let mut buf = [0u8; 700];
    let n = fs::read_full(r.fd(), &mut buf).unwrap_or(0);
    match buf.get(..n).unwrap_or_default().split_first() {
        Some((0, name)) => {
            husk_sys::fmt::stdout().b(name).c(b'\n');
            0
        }
        Some((&code, line)) => {
            husk_sys::fmt::stderr().b(line).c(b'\n');
            code as i32
        }
        None => {
            Error::msg("run -d", b"", "the monitor died before the container started").print("husk");
            125
        }
    }
}

/// The monitor: a session of its own, stdio on /dev/null; starts the
/// container, reports over `report` (0 and the name, or the exit code and
/// the error line), then waits and records the exit.
fn monitor(c: &mut Container, builtin: &'static [u8], report: OwnedFd) -> i32 {
    let _ = process::setsid();
    let _ = process::set_name(c"husk:monitor");
    // With --share pid the container sees us: /proc/PID/exe must not hand
    // it the husk binary (CVE-2019-5736).
    let _ = process::prctl(process::PR_SET_DUMPABLE, 0, 0, 0, 0);
    if let Ok(null) = fs::openat(Fd::CWD, c"/dev/null", fs::O_RDWR | O_CLOEXEC, 0) {
        for n in 0..3 {
            let _ = husk_sys::fd::dup2(null.fd(), n);
        }
    }
    supervise(c, builtin, Some(report))
}

fn report_to(fd: &OwnedFd, code: u8, text: &[u8]) {
    let mut m = Vec::new();
    m.c(code).b(text);
    let _ = fs::write_all(fd.fd(), &m);
}
