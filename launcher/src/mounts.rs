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
    mount, mount_setattr, umount2, AT_RECURSIVE, MNT_DETACH, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, MS_BIND, MS_MOVE, MS_NODEV, MS_NOEXEC, MS_NOSUID,
    MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_STRICTATIME,
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
pub const READ_ONLY: [&[u8]; 5] = [
    b"/proc/bus",
    b"/proc/fs",
    b"/proc/irq",
    b"/proc/sys",
    b"/proc/sysrq-trigger",
];

/// The character devices every container gets: (name, major, minor).
const DEVICES: [(&[u8], u32, u32); 6] = [
    (b"null", 1, 3),
    (b"zero", 1, 5),
    (b"full", 1, 7),
    (b"random", 1, 8),
    (b"urandom", 1, 9),
    (b"tty", 5, 0),
];

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

/// What the container's mount namespace gets after its root, in order:
/// proc, sys, /dev, the user's binds and tmpfs, then the masks (last, so a
/// bind cannot uncover a masked path).
pub fn plan(c: &Container, userns: bool) -> Vec<Mount> {
    let mut p = Vec::new();
    let mut add = |target: &[u8], op: Op| {
        p.push(Mount {
            target: target.to_vec(),
            op,
        })
    };
    let fs = |fstype: &'static CStr, flags: u64, data: &[u8]| Op::Fs {
        fstype,
        flags,
        data: data.to_vec(),
    };
    add(b"/proc", fs(c"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b""));
    add(
        b"/sys",
        fs(c"sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, b""),
    );
    add(
        b"/dev",
        fs(
            c"tmpfs",
            MS_NOSUID | MS_STRICTATIME,
            b"mode=755,size=65536k",
        ),
    );
    for (name, major, minor) in DEVICES {
        add(
            &[b"/dev/", name].concat(),
            Op::Device {
                major,
                minor,
                bind_host: userns,
            },
        );
    }
    // gid=5 is the tty group of most distributions; in a user namespace it
    // may be unmapped, and devpts then refuses the mount (EINVAL).
    let pts: &[u8] = if userns {
        b"newinstance,ptmxmode=0666,mode=0620"
    } else {
        b"newinstance,ptmxmode=0666,mode=0620,gid=5"
    };
    add(b"/dev/pts", fs(c"devpts", MS_NOSUID | MS_NOEXEC, pts));
    add(b"/dev/ptmx", Op::Symlink { to: b"pts/ptmx" });
    add(
        b"/dev/shm",
        fs(
            c"tmpfs",
            MS_NOSUID | MS_NODEV | MS_NOEXEC,
            b"mode=1777,size=65536k",
        ),
    );
    add(
        b"/dev/mqueue",
        fs(c"mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, b""),
    );
    add(
        b"/dev/fd",
        Op::Symlink {
            to: b"/proc/self/fd",
        },
    );
    add(
        b"/dev/stdin",
        Op::Symlink {
            to: b"/proc/self/fd/0",
        },
    );
    add(
        b"/dev/stdout",
        Op::Symlink {
            to: b"/proc/self/fd/1",
        },
    );
    add(
        b"/dev/stderr",
        Op::Symlink {
            to: b"/proc/self/fd/2",
        },
    );
    for (index, b) in c.binds.iter().enumerate() {
        add(
            &b.dst,
            Op::Bind {
                index,
                read_only: b.read_only,
            },
        );
    }
    for Tmpfs { dst, size } in &c.tmpfs {
        let mut data = Vec::from(&b"mode=1777"[..]);
        if let Some(s) = size {
            data.s(",size=").u(*s);
        }
        add(
            dst,
            Op::Fs {
                fstype: c"tmpfs",
                flags: MS_NOSUID | MS_NODEV,
                data,
            },
        );
    }
    for m in MASKED {
        add(m, Op::Mask);
    }
    for r in READ_ONLY {
        add(r, Op::ReadOnly);
    }
    p
}

/// `/proc/self/fd/N`: the mount target or source that is exactly `fd`.
pub fn fd_path(fd: Fd) -> CBuf<32> {
    let mut p = CBuf::<32>::new();
    p.s("/proc/self/fd/").u(fd.0 as u64);
    p
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

/// Mount the root: a bind of the single layer onto itself, or an overlay.
/// Returns an O_PATH fd of the root mount.
pub fn mount_root(r: &RootPlan) -> Result<OwnedFd, Error> {
    let mut target = CBuf::<4096>::new();
    if !r.overlay {
        let l = &r.layers[0];
        let mut p = CBuf::<4096>::from(l);
        let p = p.cstr().at("rootfs", l)?;
        // pivot_root needs the new root to be a mount point: bind it onto itself.
        mount(Some(p), p, None, MS_BIND | MS_REC, None).at("bind rootfs", l)?;
        target.b(l);
    } else {
        let mut opts = Vec::from(&b"lowerdir="[..]);
        for (i, l) in r.layers.iter().enumerate() {
            if i > 0 {
                opts.push(b':');
            }
            opts.extend_from_slice(l);
        }
        let mut base = CBuf::<4096>::from(r.state_dir);
        match r.upper {
            Some(u) => {
                // The work dir must be on the upper's filesystem: beside it.
                let work = [u, b".work"].concat();
                make_dir(u)?;
                make_dir(&work)?;
                opts.s(",upperdir=").b(u).s(",workdir=").b(&work);
                target.b(r.state_dir);
            }
            None => {
                let b = base.cstr().at("state dir", r.state_dir)?;
                mount(
                    Some(c"tmpfs"),
                    b,
                    Some(c"tmpfs"),
                    MS_NOSUID | MS_NODEV,
                    Some(c"mode=0700"),
                )
                .at("mount tmpfs on", r.state_dir)?;
                for d in ["/upper", "/work", "/root"] {
                    base.truncate(r.state_dir.len());
                    base.s(d);
                    make_dir(base.bytes())?;
                }
                let s = r.state_dir;
                opts.s(",upperdir=")
                    .b(s)
                    .s("/upper,workdir=")
                    .b(s)
                    .s("/work");
                target.b(s).s("/root");
            }
        }
        // Without trusted.* xattrs (a user namespace), overlay keeps its
        // whiteouts and opaque markers in user.* xattrs (5.11+).
        if r.userns {
            opts.s(",userxattr");
        }
        let mut data = CBuf::<8192>::from(&opts);
        let t = target.bytes().to_vec();
        let tc = target.cstr().at("overlay target", &t)?;
        let d = data.cstr().at("overlay options", b"")?;
        mount(Some(c"overlay"), tc, Some(c"overlay"), 0, Some(d))
            .map_err(|e| overlay_error(e, &t))?;
    }
    let t = target.cstr().at("rootfs", b"")?;
    fs::openat(Fd::CWD, t, O_PATH | O_DIRECTORY | O_CLOEXEC, 0).at("open rootfs", target.bytes())
}

/// overlayfs answers ELOOP when layers overlap, which reads like a symlink
/// problem; say what it means.
fn overlay_error(e: Errno, target: &[u8]) -> Error {
    let mut err = Error::sys("mount overlay on", target, e);
    if e == Errno::ELOOP {
        err.detail = "overlay directories may not overlap";
    }
    err
}

fn make_dir(p: &[u8]) -> Result<(), Error> {
    let mut c = CBuf::<4096>::from(p);
    match fs::mkdirat(Fd::CWD, c.cstr().at("mkdir", p)?, 0o755) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(Error::sys("mkdir", p, e)),
    }
}

/// Apply the plan under `root`; `binds` are the sources the host stage
/// opened, in `--bind` order.
pub fn apply(root: Fd, plan: &[Mount], binds: &[OwnedFd]) -> Result<(), Error> {
    for m in plan {
        apply_one(root, m, binds).map_err(|mut e| {
            if e.obj().is_empty() {
                e.set_obj(&m.target);
            }
            e
        })?;
    }
    Ok(())
}

fn apply_one(root: Fd, m: &Mount, binds: &[OwnedFd]) -> Result<(), Error> {
    let t = &m.target[..];
    match &m.op {
        Op::Fs {
            fstype,
            flags,
            data,
        } => {
            let dir = mkdir_in_root(root, t, Some(0o755)).at("mkdir", t)?;
            let mut d = CBuf::<256>::from(data);
            let d = d.cstr().at("mount options", t)?;
            let r = mount(
                Some(fstype),
                fd_path(dir.fd()).cstr().at("mount", t)?,
                Some(fstype),
                *flags,
                Some(d),
            );
            match r {
                // In a user namespace that does not own the pid or net
                // namespace (--share), the kernel refuses a new proc or
                // sysfs: show the host's through a recursive bind.
                Err(Errno::EPERM) if matches!(fstype.to_bytes(), b"proc" | b"sysfs") => {
                    let src = if fstype.to_bytes() == b"proc" {
                        c"/proc"
                    } else {
                        c"/sys"
                    };
                    mount(
                        Some(src),
                        fd_path(dir.fd()).cstr().at("mount", t)?,
                        None,
                        MS_BIND | MS_REC,
                        None,
                    )
                    .at("bind", src.to_bytes())?;
                    if flags & MS_RDONLY != 0 {
                        make_read_only(root, t)?;
                    }
                    Ok(())
                }
                // mqueue needs an ipc namespace owned by our user namespace.
                Err(Errno::EPERM) if fstype.to_bytes() == b"mqueue" => Ok(()),
                Err(Errno::ENOSPC) => {
                    let mut e = Error::sys(mount_step(fstype), t, Errno::ENOSPC);
                    e.detail = "too many mounts (see /proc/sys/fs/mount-max)";
                    Err(e)
                }
                r => r.at(mount_step(fstype), t),
            }
        }
        Op::Bind { index, read_only } => {
            let src = &binds[*index];
            let is_dir = fs::fstat(src.fd()).at("stat", t)?.is_dir();
            let target = if is_dir {
                mkdir_in_root(root, t, Some(0o755)).at("mkdir", t)?
            } else {
                make_file(root, t)?
            };
            mount(
                Some(fd_path(src.fd()).cstr().at("bind", t)?),
                fd_path(target.fd()).cstr().at("bind", t)?,
                None,
                MS_BIND | MS_REC,
                None,
            )
            .at("bind mount on", t)?;
            if *read_only {
                make_read_only(root, t)?;
            }
            Ok(())
        }
        Op::Device {
            major,
            minor,
            bind_host,
        } => {
            let (parent, name) = split_parent(t);
            let dir = mkdir_in_root(root, parent, Some(0o755)).at("mkdir", parent)?;
            let mut n = CBuf::<64>::from(name);
            let n = n.cstr().at("mknod", t)?;
            if !*bind_host {
                return fs::mknodat(dir.fd(), n, S_IFCHR | 0o666, fs::makedev(*major, *minor))
                    .at("mknod", t);
            }
            let f = fs::openat(
                dir.fd(),
                n,
                O_CREAT | O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
                0o666,
            )
            .at("create", t)?;
            let mut host = CBuf::<64>::from(t);
            mount(
                Some(host.cstr().at("bind", t)?),
                fd_path(f.fd()).cstr().at("bind", t)?,
                None,
                MS_BIND,
                None,
            )
            .at("bind mount on", t)
        }
        Op::Symlink { to } => {
            let (parent, name) = split_parent(t);
            let dir = mkdir_in_root(root, parent, Some(0o755)).at("mkdir", parent)?;
            let mut n = CBuf::<64>::from(name);
            let mut to = CBuf::<64>::from(to);
            fs::symlinkat(
                to.cstr().at("symlink", t)?,
                dir.fd(),
                n.cstr().at("symlink", t)?,
            )
            .at("symlink", t)
        }
        Op::Mask => {
            let fd = match open_in_root(root, t, O_PATH | O_NOFOLLOW, 0) {
                Err(Errno::ENOENT) => return Ok(()),
                r => r.at("open", t)?,
            };
            let target = fd_path(fd.fd());
            let mut target = target;
            let tc = target.cstr().at("mask", t)?;
            if fs::fstat(fd.fd()).at("stat", t)?.is_dir() {
                mount(
                    Some(c"tmpfs"),
                    tc,
                    Some(c"tmpfs"),
                    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    Some(c"size=4k"),
                )
                .at("mask", t)
            } else {
                mount(Some(c"/dev/null"), tc, None, MS_BIND, None).at("mask", t)
            }
        }
        Op::ReadOnly => {
            let fd = match open_in_root(root, t, O_PATH | O_NOFOLLOW, 0) {
                Err(Errno::ENOENT) => return Ok(()),
                r => r.at("open", t)?,
            };
            let mut p = fd_path(fd.fd());
            let pc = p.cstr().at("bind", t)?;
            mount(Some(pc), pc, None, MS_BIND | MS_REC, None).at("bind mount on", t)?;
            make_read_only(root, t)
        }
    }
}

fn mount_step(fstype: &CStr) -> &'static str {
    match fstype.to_bytes() {
        b"proc" => "mount proc on",
        b"sysfs" => "mount sysfs on",
        b"tmpfs" => "mount tmpfs on",
        b"devpts" => "mount devpts on",
        b"mqueue" => "mount mqueue on",
        _ => "mount on",
    }
}

/// Make the mount now at `t` (and those below it) read-only, keeping its
/// other flags: mount_setattr changes only what it is told, where a
/// MS_REMOUNT would have to repeat every locked flag in a user namespace.
fn make_read_only(root: Fd, t: &[u8]) -> Result<(), Error> {
    // Open again: the fd used as the target names the covered directory,
    // this one the new mount on top of it.
    let fd = open_in_root(root, t, O_PATH, 0).at("open", t)?;
    let set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    let set = if t.starts_with(b"/proc") {
        set | MOUNT_ATTR_NOEXEC
    } else {
        set
    };
    match mount_setattr(
        fd.fd(),
        c"",
        fs::AT_EMPTY_PATH as u32 | AT_RECURSIVE,
        set,
        0,
    ) {
        Err(Errno::ENOSYS) => {
            let mut p = fd_path(fd.fd());
            let flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
            mount(None, p.cstr().at("remount", t)?, None, flags, None).at("remount read-only", t)
        }
        r => r.at("make read-only", t),
    }
}

/// A file to bind a file onto: created if missing, parents too.
fn make_file(root: Fd, t: &[u8]) -> Result<OwnedFd, Error> {
    let (parent, name) = split_parent(t);
    let dir = mkdir_in_root(root, parent, Some(0o755)).at("mkdir", parent)?;
    let mut n = CBuf::<256>::from(name);
    let n = n.cstr().at("create", t)?;
    // O_NOFOLLOW: a symlink planted at the target is refused, not followed.
    drop(
        fs::openat(
            dir.fd(),
            n,
            O_CREAT | O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
            0o644,
        )
        .at("create", t)?,
    );
    fs::openat(dir.fd(), n, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0).at("open", t)
}

fn split_parent(t: &[u8]) -> (&[u8], &[u8]) {
    match t.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &t[1..]),
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (b"/", t),
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
        Ok(()) => {
            umount2(c".", MNT_DETACH).at("detach the old root", b"/")?;
        }
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
    matches!(
        fs::fstatfs_type(fd.fd()),
        Ok(fs::RAMFS_MAGIC) | Ok(fs::TMPFS_MAGIC)
    )
}

/// `--read-only`: the root mount only; /dev, /dev/shm and tmpfs stay writable.
pub fn make_root_read_only() -> Result<(), Error> {
    match mount_setattr(Fd::CWD, c"/", 0, MOUNT_ATTR_RDONLY, 0) {
        Err(Errno::ENOSYS) => mount(None, c"/", None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
            .at("remount read-only", b"/"),
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
        c.binds.push(Bind {
            src: b"/h".to_vec(),
            dst: b"/data".to_vec(),
            read_only: true,
        });
        c.tmpfs.push(Tmpfs {
            dst: b"/tmp".to_vec(),
            size: Some(1 << 20),
        });
        let p = plan(&c, false);
        let t = targets(&p);
        let pos = |x: &[u8]| t.iter().position(|y| *y == x).unwrap();
        assert!(pos(b"/proc") < pos(b"/sys") && pos(b"/sys") < pos(b"/dev"));
        assert!(pos(b"/dev") < pos(b"/dev/null") && pos(b"/dev/pts") < pos(b"/dev/ptmx"));
        assert!(pos(b"/dev/stderr") < pos(b"/data") && pos(b"/data") < pos(b"/tmp"));
        assert!(pos(b"/tmp") < pos(b"/proc/kcore") && pos(b"/proc/kcore") < pos(b"/proc/sys"));
        assert_eq!(
            p[pos(b"/data")].op,
            Op::Bind {
                index: 0,
                read_only: true
            }
        );
        assert_eq!(
            p[pos(b"/tmp")].op,
            Op::Fs {
                fstype: c"tmpfs",
                flags: MS_NOSUID | MS_NODEV,
                data: b"mode=1777,size=1048576".to_vec()
            }
        );
        assert_eq!(
            p[pos(b"/dev/null")].op,
            Op::Device {
                major: 1,
                minor: 3,
                bind_host: false
            }
        );
        assert_eq!(t.iter().filter(|x| x.starts_with(b"/proc/")).count(), 9 + 5);
    }

    #[test]
    fn a_user_namespace_binds_devices_and_leaves_out_gid5() {
        let p = plan(&Container::new(), true);
        assert!(p.iter().any(|m| m.op
            == Op::Device {
                major: 1,
                minor: 3,
                bind_host: true
            }));
        let pts = p.iter().find(|m| m.target == b"/dev/pts").unwrap();
        assert!(matches!(&pts.op, Op::Fs { data, .. } if !data.ends_with(b"gid=5")));
    }

    #[test]
    fn parents_split_at_the_last_slash() {
        assert_eq!(split_parent(b"/dev/null"), (&b"/dev"[..], &b"null"[..]));
        assert_eq!(split_parent(b"/x"), (&b"/"[..], &b"x"[..]));
    }
}
