//! The container stage: runs in the process that becomes the container's
//! PID 1, from its birth until it executes husk-init (exec.rs).
//!
//! May assume: the host stage validated the whole spec and opened what had
//! to be opened on the host (layers, bind sources, namespaces to join, the
//! init image); every signal is blocked (`old_mask` is what to restore).
//! Must already have happened before `Go` arrives: the process is in its
//! cgroup, and its uid/gid maps are written. Nothing here may print: every
//! failure goes back to the host stage as one rendered line.

use crate::exec::{become_and_exec, load_init, Process};
use crate::host::Launch;
use crate::mounts::{self, RootPlan};
use crate::sync::{self, Msg};
use husk_sys::fs;
use husk_sys::ns::{self, CLONE_NEWCGROUP, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS};
use husk_sys::process::{self, prctl, PR_SET_PDEATHSIG};
use husk_sys::signal::{SIGCHLD, SIGKILL};
use husk_sys::{Context, Errno, Error, Fd, OwnedFd};

/// clone(2): the child's parent is our parent.
const CLONE_PARENT: u64 = 0x8000;

/// The container stage's entry: never returns.
pub fn run(l: &Launch, sock: OwnedFd) -> ! {
    let _ = process::set_name(c"husk:container");
    let (code, err) = match set_up(l, sock.fd()).and_then(|_| load_init(&l.init)) {
        Ok(memfd) => {
            let uid = l.id.uid;
            become_and_exec(&Process {
                rlimits: &l.c.rlimits,
                no_new_privs: l.c.no_new_privs,
                uid,
                gid: l.id.gid,
                // Empty: setgroups is denied; see Process::groups.
                groups: if l.deny_setgroups { &[] } else { &l.id.groups },
                caps: crate::caps::plan(l.c.caps.set, l.c.caps.added, uid, husk_sys::caps::last_cap()),
                workdir: l.c.workdir.as_deref().unwrap_or(b"/"),
                mask: l.old_mask,
                sync: Some(sock.fd()),
                memfd: memfd.as_ref().map(OwnedFd::fd),
                command: &l.command_path,
                path: b"",
                argv: l.argv.argv(),
                envp: l.envp.argv(),
            })
        }
        Err(e) => (125, e),
    };
    sync::send_error(sock.fd(), code, &err);
    process::exit(code)
}

/// The start sequence, in the order issue 4 gives it, up to the init
/// image; `run` then becomes PID 1.
fn set_up(l: &Launch, sock: Fd) -> Result<(), Error> {
    die_with_the_host()?;
    if l.joins.is_empty() {
        wait_for_go(sock)?;
    } else {
        enter_namespaces(l, sock)?;
    }
    enter_cgroup_namespace(l)?;
    // Device nodes and mount points get exactly the modes asked for.
    fs::umask(0);
    mounts::make_private()?;
    let root = mount_root(l)?;
    let binds = open_bind_sources(l)?;
    mounts::apply(root.fd(), &mounts::plan(l.c, in_userns(l)), &binds)?;
    drop(binds);
    mounts::pivot_into(&root)?;
    drop(root);
    if l.c.read_only {
        mounts::make_root_read_only()?;
    }
    set_host_names(l)?;
    bring_up_loopback(l)?;
    make_workdir(l)?;
    fs::umask(0o022);
    Ok(())
}

/// If the host stage dies while we set up, so do we: nobody would clean up.
fn die_with_the_host() -> Result<(), Error> {
    prctl(PR_SET_PDEATHSIG, SIGKILL as u64, 0, 0, 0).map(|_| ()).ctx("prctl PR_SET_PDEATHSIG")
}

/// Block until the host stage has placed us in the cgroup and written our
/// id maps; end of file means it died.
fn wait_for_go(sock: Fd) -> Result<(), Error> {
    match sync::recv(sock)? {
        Msg::Go => Ok(()),
        _ => Err(Error::msg("wait for the host stage", b"", "it went away")),
    }
}

/// The join path (`--join`): setns into the given namespaces, user first
/// (it decides what the others allow), mnt last (it changes what paths
/// mean); then create the new ones; then, because a pid namespace applies
/// only to children, fork the process that becomes PID 1. It is created
/// with CLONE_PARENT so the host stage waits for it directly.
fn enter_namespaces(l: &Launch, sock: Fd) -> Result<(), Error> {
    let order =
        [CLONE_NEWUSER, ns::CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWCGROUP, ns::CLONE_NEWNS];
    for kind in order {
        for (k, fd, path) in &l.joins {
            if *k == kind {
                ns::setns(fd.fd(), kind).at("setns", path)?;
            }
        }
    }
    let mut new = l.c.namespaces & !CLONE_NEWCGROUP;
    if l.userns {
        new |= CLONE_NEWUSER;
    }
    ns::unshare(new).ctx("unshare")?;
    sync::send(sock, &Msg::WantMaps)?;
    wait_for_go(sock)?;
    if !l.pid_fork {
        return Ok(());
    }
    let pid = process::clone(CLONE_PARENT | SIGCHLD as u64).ctx("clone")?;
    if pid != 0 {
        sync::send(sock, &Msg::Pid(pid))?;
        process::exit(0);
    }
    die_with_the_host()?;
    wait_for_go(sock)
}

/// A cgroup namespace rooted at the container's own cgroup, so it sees
/// itself at `/`. Done here and not at clone: only now is the process in
/// that cgroup on every hierarchy (v1 joins by cgroup.procs). Kernels
/// without cgroup namespaces (before 4.6) get a warning.
fn enter_cgroup_namespace(l: &Launch) -> Result<(), Error> {
    if l.c.namespaces & CLONE_NEWCGROUP == 0 {
        return Ok(());
    }
    match ns::unshare(CLONE_NEWCGROUP) {
        Err(Errno::EINVAL) => {
            let mut e = Error::sys("unshare cgroup namespace", b"", Errno::EINVAL);
            e.detail = "not supported by this kernel; the container sees host cgroup paths";
            e.print("husk: warning");
            Ok(())
        }
        r => r.ctx("unshare cgroup namespace"),
    }
}

fn mount_root(l: &Launch) -> Result<OwnedFd, Error> {
    mounts::mount_root(&RootPlan {
        layers: &l.layers,
        overlay: l.c.is_overlay(),
        upper: l.c.upper.as_deref(),
        state_dir: &l.state_dir,
        userns: in_userns(l),
    })
}

/// In a user namespace other than the host's, created or joined: mknod is
/// refused there (device nodes are bound from the host) and overlayfs has
/// no trusted.* xattrs.
fn in_userns(l: &Launch) -> bool {
    l.userns || l.joins.iter().any(|j| j.0 == CLONE_NEWUSER)
}

/// Bind sources are opened here, in our own mount namespace: a mount of
/// the host's namespace cannot be bound into this one (EINVAL).
fn open_bind_sources(l: &Launch) -> Result<alloc::vec::Vec<OwnedFd>, Error> {
    let mut v = alloc::vec::Vec::with_capacity(l.c.binds.len());
    for b in &l.c.binds {
        v.push(crate::host::open_host(&b.src, fs::O_PATH, "bind source")?);
    }
    Ok(v)
}

fn set_host_names(l: &Launch) -> Result<(), Error> {
    if l.c.namespaces & CLONE_NEWUTS == 0 {
        return Ok(());
    }
    ns::sethostname(l.hostname).at("sethostname", l.hostname)?;
    if let Some(d) = &l.c.domainname {
        ns::setdomainname(d.as_bytes()).at("setdomainname", d.as_bytes())?;
    }
    Ok(())
}

/// A new network namespace has only `lo`, and it is down.
fn bring_up_loopback(l: &Launch) -> Result<(), Error> {
    if l.c.namespaces & CLONE_NEWNET == 0 {
        return Ok(());
    }
    husk_sys::net::set_link_up(b"lo").at("bring up", b"lo")
}

/// Create the workdir while still root (docker does too); entering it waits
/// until we are the container's user, so its permissions apply.
fn make_workdir(l: &Launch) -> Result<(), Error> {
    if let Some(w) = &l.c.workdir {
        let root = fs::openat(Fd::CWD, c"/", fs::O_PATH | fs::O_DIRECTORY | fs::O_CLOEXEC, 0).at("open", b"/")?;
        husk_sys::beneath::mkdir_in_root(root.fd(), w, Some(0o755)).at("mkdir workdir", w)?;
    }
    Ok(())
}
