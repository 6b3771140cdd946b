//! The container's mounts: a plan made from the spec (pure, unit-tested),
//! and the code that applies it inside the new mount namespace.
//!
//! Every target is resolved inside the new root, never through a host path:
//! a rootfs symlink such as `/proc -> /host/proc` must not move a mount onto
//! the host (CVE-2018-15664 class). A target is opened as an O_PATH fd with
//! symlinks resolved relative to the root (openat2 RESOLVE_IN_ROOT, or an
//! O_NOFOLLOW walk), and the mount goes onto `/proc/self/fd/N`, which names
//! exactly that inode, as runc does.

use crate::spec::{Container, Tmpfs};
use alloc::vec::Vec;
use core::ffi::CStr;
use husk_sys::beneath::{mkdir_in_root, open_in_root};
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_NOFOLLOW, O_PATH, O_RDONLY, S_IFCHR};
use husk_sys::mount::{
    mount, mount_setattr, umount2, AT_RECURSIVE, MNT_DETACH, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY, MS_BIND, MS_MOVE, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT,
    MS_STRICTATIME,
};
use husk_sys::{CBuf, Context, Errno, Error, Fd, OwnedFd};

/// Docker's masked paths: kernel interfaces that leak host information or
/// reach hardware. Files get /dev/null bound over them, directories an
/// empty read-only tmpfs.
pub const MASKED: [&[u8]; 11] = [
    b"/proc/asound",
    b"/proc/acpi",
    b"/proc/kcore",
    b"/proc/keys",
    b"/proc/latency_stats",
    b"/proc/timer_list",
    b"/proc/timer_stats",
    b"/proc/sched_debug",
    b"/proc/scsi",
    b"/sys/firmware",
    b"/sys/devices/virtual/powercap",
];

/// Docker's read-only /proc paths: writable ones would reconfigure the host
/// kernel (/proc/sys, /proc/sysrq-trigger) or its devices.
pub const READ_ONLY: [&[u8]; 5] = [b"/proc/bus", b"/proc/fs", b"/proc/irq", b"/proc/sys", b"/proc/sysrq-trigger"];

/// One step of the plan; `target` is a path inside the container.
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub target: Vec<u8>,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A new filesystem: `mount(fstype, target, fstype, flags, data)`.
    Fs {
        fstype: &'static CStr,
        flags: u64,
        data: Vec<u8>,
    },
    /// `--bind` number `index`, then read-only if asked.
    Bind {
        index: usize,
        read_only: bool,
    },
    /// A device node: mknod, or in a user namespace (where mknod is not
    /// allowed) a bind of the host's node.
    Device {
        major: u32,
        minor: u32,
        bind_host: bool,
    },
    Symlink {
        to: &'static [u8],
    },
    /// /dev/null over a file, an empty read-only tmpfs over a directory.
    Mask,
    /// Bind onto itself, read-only.
    ReadOnly,
}

/// A step of the fixed part of the plan, before the spec is known.
enum Base {
    Fs(&'static CStr, u64, &'static [u8]),
    Dev(u32, u32),
    Link(&'static [u8]),
}

const NOSUID_NODEV_NOEXEC: u64 = MS_NOSUID | MS_NODEV | MS_NOEXEC;

/// proc, sys and /dev, in mount order.
const BASE: [(&[u8], Base); 17] = [
    (b"/proc", Base::Fs(c"proc", NOSUID_NODEV_NOEXEC, b"")),
    (b"/sys", Base::Fs(c"sysfs", NOSUID_NODEV_NOEXEC | MS_RDONLY, b"")),
    (b"/dev", Base::Fs(c"tmpfs", MS_NOSUID | MS_STRICTATIME, b"mode=755,size=65536k")),
    (b"/dev/null", Base::Dev(1, 3)),
    (b"/dev/zero", Base::Dev(1, 5)),
    (b"/dev/full", Base::Dev(1, 7)),
    (b"/dev/random", Base::Dev(1, 8)),
    (b"/dev/urandom", Base::Dev(1, 9)),
    (b"/dev/tty", Base::Dev(5, 0)),
    // gid=5 is the tty group of most distributions; in a user namespace it
    // may be unmapped, and devpts then refuses the mount (EINVAL): plan()
    // cuts it off there.
    (b"/dev/pts", Base::Fs(c"devpts", MS_NOSUID | MS_NOEXEC, b"newinstance,ptmxmode=0666,mode=0620,gid=5")),
    (b"/dev/ptmx", Base::Link(b"pts/ptmx")),
    (b"/dev/shm", Base::Fs(c"tmpfs", NOSUID_NODEV_NOEXEC, b"mode=1777,size=65536k")),
    (b"/dev/mqueue", Base::Fs(c"mqueue", NOSUID_NODEV_NOEXEC, b"")),
    (b"/dev/fd", Base::Link(b"/proc/self/fd")),
    (b"/dev/stdin", Base::Link(b"/proc/self/fd/0")),
    (b"/dev/stdout", Base::Link(b"/proc/self/fd/1")),
    (b"/dev/stderr", Base::Link(b"/proc/self/fd/2")),
];

/// What the container's mount namespace gets after its root, in order:
/// proc, sys, /dev, the user's binds and tmpfs, then the masks (last, so a
/// bind cannot uncover a masked path).
pub fn plan(c: &Container, userns: bool) -> Vec<Mount> {
    let mut p = Vec::new();
    for (target, b) in &BASE {
        let op = match *b {
            Base::Fs(fstype, flags, data) => {
                let data = match data.strip_suffix(b",gid=5") {
                    Some(d) if userns => d,
                    _ => data,
                };
                Op::Fs { fstype, flags, data: data.to_vec() }
            }
            Base::Dev(major, minor) => Op::Device { major, minor, bind_host: userns },
            Base::Link(to) => Op::Symlink { to },
        };
        add(&mut p, target, op);
    }
    for (index, b) in c.binds.iter().enumerate() {
        let op = Op::Bind { index, read_only: b.read_only };
        add(&mut p, &b.dst, op);
    }
    for Tmpfs { dst, size } in &c.tmpfs {
        let mut data = Vec::from(&b"mode=1777"[..]);
        if let Some(s) = size {
            data.s(",size=").u(*s);
        }
        let op = Op::Fs { fstype: c"tmpfs", flags: MS_NOSUID | MS_NODEV, data };
        add(&mut p, dst, op);
    }
    for (list, read_only) in [(&MASKED[..], false), (&READ_ONLY[..], true)] {
        for target in list {
            add(&mut p, target, if read_only { Op::ReadOnly } else { Op::Mask });
        }
    }
    p
}

/// One entry of the plan; out of line, so the Vec growth code is not
/// repeated for every kind of mount.
#[inline(never)]
fn add(p: &mut Vec<Mount>, target: &[u8], op: Op) {
    p.push(Mount { target: target.to_vec(), op });
}

/// `/proc/self/fd/N`: the mount target or source that is exactly `fd`.
pub fn fd_path(fd: Fd) -> CBuf<32> {
    let mut p = CBuf::<32>::new();
    p.s("/proc/self/fd/").u(fd.0 as u64);
    p
}

/// mount(2) onto exactly the inode `target` is open on.
fn mount_on(
    src: Option<&CStr>,
    target: Fd,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    mount(src, fd_path(target).cstr()?, fstype, flags, data)
}

/// A recursive bind of the inode `src` is open on onto `target`'s.
fn bind_fd(src: Fd, target: Fd) -> Result<(), Errno> {
    mount_on(Some(fd_path(src).cstr()?), target, None, MS_BIND | MS_REC, None)
}

/// Make every mount private before touching anything, or our mounts would
/// propagate into the host's namespace through shared peers (runc #1755).
pub fn make_private() -> Result<(), Error> {
    mount(None, c"/", None, MS_REC | MS_PRIVATE, None).at("make private", b"/")
}

/// How the root is built.
pub struct RootPlan<'a> {
    pub layers: &'a [Vec<u8>],
    pub overlay: bool,
    pub upper: Option<&'a [u8]>,
    /// The container's state directory: a private tmpfs is mounted here for
    /// a throw-away upper layer (only in the container's namespace).
    pub state_dir: &'a [u8],
    pub userns: bool,
}

/// overlayfs's options for the plan. mount(2) copies at most a page of
/// options, so a `cstr()` that fails with ENAMETOOLONG here means too many
/// or too long layers (the host stage checks this before creating anything).
pub fn overlay_options(r: &RootPlan, o: &mut CBuf<4096>) {
    o.s("lowerdir=");
    for (i, l) in r.layers.iter().enumerate() {
        if i > 0 {
            o.c(b':');
        }
        o.b(l);
    }
    // The work dir must be on the upper's filesystem: beside it.
    let (dir, upper, work) = match r.upper {
        Some(u) => (u, "", ".work"),
        None => (r.state_dir, "/upper", "/work"),
    };
    o.s(",upperdir=").b(dir).s(upper).s(",workdir=").b(dir).s(work);
    // Without trusted.* xattrs (a user namespace), overlay keeps its
    // whiteouts and opaque markers in user.* xattrs (5.11+).
    if r.userns {
        o.s(",userxattr");
    }
}

/// Mount the root: a bind of the single layer onto itself, or an overlay.
/// Returns an O_PATH fd of the root mount.
pub fn mount_root(r: &RootPlan) -> Result<OwnedFd, Error> {
    let mut t = CBuf::<4096>::new();
    let s = r.state_dir;
    if !r.overlay {
        let l = r.layers.first().map_or(&b""[..], |l| l);
        t.b(l);
        let p = t.cstr().at("rootfs", l)?;
        // pivot_root needs the new root to be a mount point: bind it onto itself.
        mount(Some(p), p, None, MS_BIND | MS_REC, None).at("bind rootfs", l)?;
    } else {
        match r.upper {
            Some(u) => {
                t.b(u);
                make_dir(t.bytes())?;
                t.s(".work");
                make_dir(t.bytes())?;
                t.truncate(0);
                t.b(s);
            }
            None => {
                t.b(s);
                let flags = MS_NOSUID | MS_NODEV;
                mount(Some(c"tmpfs"), t.cstr().at("state dir", s)?, Some(c"tmpfs"), flags, Some(c"mode=0700"))
                    .at("mount tmpfs on", s)?;
                for d in ["/upper", "/work", "/root"] {
                    t.truncate(s.len());
                    t.s(d);
                    make_dir(t.bytes())?;
                }
            }
        }
        let mut o = CBuf::<4096>::new();
        overlay_options(r, &mut o);
        let r = mount(
            Some(c"overlay"),
            t.cstr().at("overlay", s)?,
            Some(c"overlay"),
            0,
            Some(o.cstr().at("overlay options", b"")?),
        );
        if let Err(e) = r {
            let mut err = Error::sys("mount overlay on", t.bytes(), e);
            // overlayfs answers ELOOP when layers overlap, which reads like
            // a symlink problem; say what it means.
            if e == Errno::ELOOP {
                err.detail = "overlay directories may not overlap";
            }
            return Err(err);
        }
    }
    let p = t.cstr().at("rootfs", b"")?;
    fs::openat(Fd::CWD, p, O_PATH | O_DIRECTORY | O_CLOEXEC, 0).at("open rootfs", t.bytes())
}

fn make_dir(p: &[u8]) -> Result<(), Error> {
    let mut c = CBuf::<4096>::from(p);
    match c.cstr().and_then(|c| fs::mkdirat(Fd::CWD, c, 0o755)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(Error::sys("mkdir", p, e)),
    }
}

/// Apply the plan under `root`; `binds` are the sources the host stage
/// opened, in `--bind` order. Errors name the target.
pub fn apply(root: Fd, plan: &[Mount], binds: &[OwnedFd]) -> Result<(), Error> {
    for m in plan {
        if let Err((op, errno)) = apply_one(root, m, binds) {
            let mut e = Error::sys(op, &m.target, errno);
            if errno == Errno::ENOSPC {
                e.detail = "too many mounts? (see /proc/sys/fs/mount-max)";
            }
            return Err(e);
        }
    }
    Ok(())
}

/// A failed step of one mount: what was done, and the kernel's answer.
type Step = (&'static str, Errno);

fn apply_one(root: Fd, m: &Mount, binds: &[OwnedFd]) -> Result<(), Step> {
    let t = &m.target[..];
    let at = |op: &'static str| move |e: Errno| (op, e);
    match &m.op {
        Op::Fs { fstype, flags, data } => {
            let dir = mkdir_in_root(root, t, Some(0o755)).map_err(at("mkdir"))?;
            let mut d = CBuf::<256>::from(data);
            match d.cstr().and_then(|d| mount_on(Some(fstype), dir.fd(), Some(fstype), *flags, Some(d))) {
                // In a user namespace that does not own the pid or net
                // namespace (--share), the kernel refuses a new proc or
                // sysfs: show the host's through a recursive bind.
                // (proc and sysfs: the no-exec mounts outside /dev.)
                Err(Errno::EPERM) if *flags & MS_NOEXEC != 0 && !t.starts_with(b"/dev") => {
                    let host = if t == b"/proc" { c"/proc" } else { c"/sys" };
                    mount_on(Some(host), dir.fd(), None, MS_BIND | MS_REC, None).map_err(at("bind host's"))?;
                    if flags & MS_RDONLY != 0 {
                        make_read_only(root, t)?;
                    }
                    Ok(())
                }
                // mqueue needs an ipc namespace owned by our user namespace.
                Err(Errno::EPERM) if t == b"/dev/mqueue" => Ok(()),
                r => r.map_err(at("mount")),
            }
        }
        Op::Bind { index, read_only } => {
            let src = binds.get(*index).ok_or(("bind", Errno::EBADF))?;
            let target = if fs::fstat(src.fd()).map_err(at("stat"))?.is_dir() {
                mkdir_in_root(root, t, Some(0o755)).map_err(at("mkdir"))?
            } else {
                make_file(root, t, 0o644)?
            };
            bind_fd(src.fd(), target.fd()).map_err(at("bind mount on"))?;
            if *read_only {
                make_read_only(root, t)?;
            }
            Ok(())
        }
        Op::Device { bind_host: true, .. } => {
            let f = make_file(root, t, 0o666)?;
            let mut host = CBuf::<64>::from(t);
            let host = host.cstr().map_err(at("bind"))?;
            mount_on(Some(host), f.fd(), None, MS_BIND, None).map_err(at("bind mount on"))
        }
        Op::Device { .. } | Op::Symlink { .. } => {
            // A new node in its parent directory: a device, or a symlink.
            let (dir, mut n) = parent_of(root, t)?;
            let mut to = CBuf::<64>::new();
            let (op, r) = match (&m.op, n.cstr()) {
                (_, Err(e)) => ("create", Err(e)),
                (Op::Symlink { to: dest }, Ok(n)) => {
                    to.b(dest);
                    let r = to.cstr().and_then(|to| fs::symlinkat(to, dir.fd(), n));
                    ("symlink", r)
                }
                (Op::Device { major, minor, .. }, Ok(n)) => {
                    let dev = fs::makedev(*major, *minor);
                    ("mknod", fs::mknodat(dir.fd(), n, S_IFCHR | 0o666, dev))
                }
                _ => ("create", Err(Errno::EINVAL)),
            };
            r.map_err(at(op))
        }
        Op::Mask | Op::ReadOnly => {
            let fd = match open_in_root(root, t, O_PATH | O_NOFOLLOW, 0) {
                Err(Errno::ENOENT) => return Ok(()),
                r => r.map_err(at("open"))?,
            };
            let mut p = fd_path(fd.fd());
            let p = p.cstr().map_err(at("mask"))?;
            if matches!(m.op, Op::ReadOnly) {
                mount(Some(p), p, None, MS_BIND | MS_REC, None).map_err(at("bind mount on"))?;
                make_read_only(root, t)
            } else if fs::fstat(fd.fd()).map_err(at("stat"))?.is_dir() {
                let flags = MS_RDONLY | NOSUID_NODEV_NOEXEC;
                mount(Some(c"tmpfs"), p, Some(c"tmpfs"), flags, Some(c"size=4k")).map_err(at("mask"))
            } else {
                mount(Some(c"/dev/null"), p, None, MS_BIND, None).map_err(at("mask"))
            }
        }
    }
}

/// Make the mount now at `t` (and those below it) read-only, keeping its
/// other flags: mount_setattr changes only what it is told, where a
/// MS_REMOUNT would have to repeat every locked flag in a user namespace.
fn make_read_only(root: Fd, t: &[u8]) -> Result<(), Step> {
    // Open again: the fd used as the target names the covered directory,
    // this one the new mount on top of it.
    let fd = open_in_root(root, t, O_PATH, 0).map_err(|e| ("open", e))?;
    let mut set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if t.starts_with(b"/proc") {
        set |= MOUNT_ATTR_NOEXEC;
    }
    match mount_setattr(fd.fd(), c"", fs::AT_EMPTY_PATH as u32 | AT_RECURSIVE, set, 0) {
        Err(Errno::ENOSYS) => {
            let flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
            mount_on(None, fd.fd(), None, flags, None).map_err(|e| ("remount read-only", e))
        }
        r => r.map_err(|e| ("make read-only", e)),
    }
}

/// The directory `t` goes in (created if missing) and its last name.
fn parent_of(root: Fd, t: &[u8]) -> Result<(OwnedFd, CBuf<256>), Step> {
    let (parent, name) = split_parent(t);
    let dir = mkdir_in_root(root, parent, Some(0o755)).map_err(|e| ("mkdir parent of", e))?;
    Ok((dir, CBuf::from(name)))
}

/// A file to bind onto: created if missing, parents too; an O_PATH fd.
fn make_file(root: Fd, t: &[u8], mode: u32) -> Result<OwnedFd, Step> {
    let (dir, mut n) = parent_of(root, t)?;
    let n = n.cstr().map_err(|e| ("create", e))?;
    // O_NOFOLLOW: a symlink planted at the target is refused, not followed.
    let flags = O_CREAT | O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
    drop(fs::openat(dir.fd(), n, flags, mode).map_err(|e| ("create", e))?);
    fs::openat(dir.fd(), n, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0).map_err(|e| ("open", e))
}

fn split_parent(t: &[u8]) -> (&[u8], &[u8]) {
    match t.iter().rposition(|&b| b == b'/') {
        Some(0) | None => (b"/", t.strip_prefix(b"/").unwrap_or(t)),
        Some(i) => (&t[..i], &t[i + 1..]),
    }
}

/// Make `root` the root: pivot_root(".", ".") stacks the old root under the
/// new one, and a lazy unmount of "." then drops it, so no path leads back
/// to the host (the trick runc and lxc use; no put_old directory needed).
/// On an initramfs root, pivot_root fails with EINVAL: the old root cannot
/// be unmounted there, so move the new root over it and chroot instead.
pub fn pivot_into(root: &OwnedFd) -> Result<(), Error> {
    fs::fchdir(root.fd()).ctx("chdir into the rootfs")?;
    match husk_sys::mount::pivot_root(c".", c".") {
        Ok(()) => umount2(c".", MNT_DETACH).at("detach the old root", b"/")?,
        Err(Errno::EINVAL) if on_initramfs() => {
            mount(Some(c"."), c"/", None, MS_MOVE, None).at("move the rootfs to", b"/")?;
            fs::chroot(c".").at("chroot", b".")?;
        }
        Err(e) => return Err(Error::sys("pivot_root", b".", e)),
    }
    fs::chdir(c"/").at("chdir", b"/")
}

fn on_initramfs() -> bool {
    let Ok(fd) = fs::openat(Fd::CWD, c"/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0) else {
        return false;
    };
    matches!(fs::fstatfs_type(fd.fd()), Ok(fs::RAMFS_MAGIC) | Ok(fs::TMPFS_MAGIC))
}

/// `--read-only`: the root mount only; /dev, /dev/shm and tmpfs stay writable.
pub fn make_root_read_only() -> Result<(), Error> {
    match mount_setattr(Fd::CWD, c"/", 0, MOUNT_ATTR_RDONLY, 0) {
        Err(Errno::ENOSYS) => {
            mount(None, c"/", None, MS_BIND | MS_REMOUNT | MS_RDONLY, None).at("remount read-only", b"/")
        }
        r => r.at("make read-only", b"/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Bind;

    fn targets(p: &[Mount]) -> Vec<&[u8]> {
        p.iter().map(|m| &m.target[..]).collect()
    }

    #[test]
    fn the_plan_mounts_in_the_issue_order() {
        let mut c = Container::new();
        c.binds.push(Bind { src: b"/h".to_vec(), dst: b"/data".to_vec(), read_only: true });
        c.tmpfs.push(Tmpfs { dst: b"/tmp".to_vec(), size: Some(1 << 20) });
        let p = plan(&c, false);
        let t = targets(&p);
        let pos = |x: &[u8]| t.iter().position(|y| *y == x).unwrap();
        assert!(pos(b"/proc") < pos(b"/sys") && pos(b"/sys") < pos(b"/dev"));
        assert!(pos(b"/dev") < pos(b"/dev/null") && pos(b"/dev/pts") < pos(b"/dev/ptmx"));
        assert!(pos(b"/dev/stderr") < pos(b"/data") && pos(b"/data") < pos(b"/tmp"));
        assert!(pos(b"/tmp") < pos(b"/proc/kcore") && pos(b"/proc/kcore") < pos(b"/proc/sys"));
        assert_eq!(p[pos(b"/data")].op, Op::Bind { index: 0, read_only: true });
        assert_eq!(
            p[pos(b"/tmp")].op,
            Op::Fs { fstype: c"tmpfs", flags: MS_NOSUID | MS_NODEV, data: b"mode=1777,size=1048576".to_vec() }
        );
        assert_eq!(p[pos(b"/dev/null")].op, Op::Device { major: 1, minor: 3, bind_host: false });
        assert_eq!(t.iter().filter(|x| x.starts_with(b"/proc/")).count(), 9 + 5);
    }

    #[test]
    fn a_user_namespace_binds_devices_and_leaves_out_gid5() {
        let p = plan(&Container::new(), true);
        assert!(p.iter().any(|m| m.op == Op::Device { major: 1, minor: 3, bind_host: true }));
        let pts = p.iter().find(|m| m.target == b"/dev/pts").unwrap();
        assert!(matches!(&pts.op, Op::Fs { data, .. } if !data.ends_with(b"gid=5")));
    }

    #[test]
    fn parents_split_at_the_last_slash() {
        assert_eq!(split_parent(b"/dev/null"), (&b"/dev"[..], &b"null"[..]));
        assert_eq!(split_parent(b"/x"), (&b"/"[..], &b"x"[..]));
    }
}
