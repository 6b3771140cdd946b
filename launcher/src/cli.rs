//! `husk run` arguments into a [`Container`]: pure parsing and validation,
//! no syscalls, so every rejection is unit-tested and happens before the
//! host stage creates anything.
//!
//! Grammar: `husk run [OPTIONS] ROOTFS [--] COMMAND [ARG...]`. Options take
//! `--opt VALUE` or `--opt=VALUE`; the short ones also `-uVALUE`. The first
//! argument that is not an option is ROOTFS; everything after it belongs to
//! COMMAND, so COMMAND's own options need no `--`.

use crate::spec::{Bind, Container, Id, IdMap, Init, Join, Rlimit, Tmpfs, UserSpec};
use alloc::string::String;
use husk_sys::caps::parse_cap;
use husk_sys::fmt::parse_u64;
use husk_sys::ns::{self, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWUTS};
use husk_sys::process::RLIM_INFINITY;
use husk_sys::Error;

type Result<T> = core::result::Result<T, Error>;

/// The smallest `--memory` accepted: below this the kernel OOM-kills the
/// container stage before husk-init runs (measured on 6.18 with cgroup v1,
/// where kernel memory of the new namespaces is charged too).
pub const MIN_MEMORY: u64 = 1 << 20;

/// Every capability husk knows (`--cap-add ALL`); the container stage
/// narrows it to what the running kernel has.
const ALL_CAPS: u64 = (1 << husk_sys::caps::NAMES.len()) - 1;

pub const USAGE: &str = "usage: husk run [OPTIONS] ROOTFS [--] COMMAND [ARG...]
ROOTFS is a directory, or overlay layers DIR:DIR:... (top first).
  --name NAME            [A-Za-z0-9][A-Za-z0-9_.-]{0,63}; default: generated
  --hostname NAME        default: the name
  --domainname NAME
  --share LIST           namespaces not to create: net,ipc,uts,pid,cgroup
  --userns               new user namespace (implied when not root)
  --uid-map IN:OUT:N     repeatable; also --gid-map
  --join TYPE:PATH       enter a namespace: net ipc uts pid mnt user cgroup
  --read-only            read-only root
  --upper DIR            keep the overlay's writable layer in DIR
  --bind SRC:DST[:ro]    repeatable
  --tmpfs DST[:SIZE]     repeatable
  --memory SIZE          also --memory-swap SIZE; k/m/g suffixes
  --cpus N.NN            --cpu-weight 1..10000, --io-weight 1..10000
  --pids N               --cpuset-cpus LIST, --cpuset-mems LIST
  --cgroup-parent PATH   default: husk
  --cap-add CAP          --cap-drop CAP|ALL; repeatable
  --allow-new-privs      do not set no_new_privs
  -u, --user U[:G]       numbers, or names from the rootfs's /etc
  -e, --env KEY=VALUE    repeatable
  -w, --workdir DIR
  --rlimit NAME=S[:H]    e.g. nofile=1024:4096
  --no-init              COMMAND is PID 1 (default: husk-init)
  --init PATH            another init image
  --root DIR             state directory (default /run/husk)
  -d, --detach           print the name once it runs; a monitor waits for it
  --rm                   with -d: remove its state when it ends
";

/// What each option is; the table is also the list of option names.
#[derive(Clone, Copy, PartialEq)]
enum Opt {
    Name,
    Hostname,
    Domainname,
    Share,
    Userns,
    UidMap,
    GidMap,
    Join,
    ReadOnly,
    Upper,
    Bind,
    Tmpfs,
    Memory,
    MemorySwap,
    Cpus,
    CpuWeight,
    IoWeight,
    Pids,
    CpusetCpus,
    CpusetMems,
    CgroupParent,
    CapAdd,
    CapDrop,
    AllowNewPrivs,
    User,
    Env,
    Workdir,
    Rlimit,
    NoInit,
    InitPath,
    Root,
    Image,
    Help,
    Detach,
    Rm,
}

const OPTS: &[(&str, Opt)] = &[
    ("--name", Opt::Name),
    ("--hostname", Opt::Hostname),
    ("--domainname", Opt::Domainname),
    ("--share", Opt::Share),
    ("--userns", Opt::Userns),
    ("--uid-map", Opt::UidMap),
    ("--gid-map", Opt::GidMap),
    ("--join", Opt::Join),
    ("--read-only", Opt::ReadOnly),
    ("--upper", Opt::Upper),
    ("--bind", Opt::Bind),
    ("--tmpfs", Opt::Tmpfs),
    ("--memory", Opt::Memory),
    ("--memory-swap", Opt::MemorySwap),
    ("--cpus", Opt::Cpus),
    ("--cpu-weight", Opt::CpuWeight),
    ("--io-weight", Opt::IoWeight),
    ("--pids", Opt::Pids),
    ("--cpuset-cpus", Opt::CpusetCpus),
    ("--cpuset-mems", Opt::CpusetMems),
    ("--cgroup-parent", Opt::CgroupParent),
    ("--cap-add", Opt::CapAdd),
    ("--cap-drop", Opt::CapDrop),
    ("--allow-new-privs", Opt::AllowNewPrivs),
    ("--user", Opt::User),
    ("-u", Opt::User),
    ("--env", Opt::Env),
    ("-e", Opt::Env),
    ("--workdir", Opt::Workdir),
    ("-w", Opt::Workdir),
    ("--rlimit", Opt::Rlimit),
    ("--no-init", Opt::NoInit),
    ("--init", Opt::InitPath),
    ("--root", Opt::Root),
    ("--image", Opt::Image),
    ("--help", Opt::Help),
    ("-h", Opt::Help),
    ("-d", Opt::Detach),
    ("--detach", Opt::Detach),
    ("--rm", Opt::Rm),
];

impl Opt {
    fn takes_value(self) -> bool {
        !matches!(
            self,
            Opt::Userns
                | Opt::ReadOnly
                | Opt::AllowNewPrivs
                | Opt::NoInit
                | Opt::Help
                | Opt::Detach
                | Opt::Rm
        )
    }
}

/// Capability options are collected first and combined at the end, with
/// Docker's semantics: `--cap-drop ALL --cap-add X` means just X, in any order.
#[derive(Default)]
struct CapOpts {
    add: u64,
    drop: u64,
}

/// Parse the arguments after `husk run`. `Ok(None)`: `--help` was asked.
pub fn parse_run(args: &[&[u8]]) -> Result<Option<Container>> {
    let mut c = Container::new();
    let mut caps = CapOpts::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        if a == b"--" && c.layers.is_empty() {
            continue;
        }
        if a.len() < 2 || a[0] != b'-' {
            parse_rootfs(&mut c, a)?;
            let rest = &args[i..];
            let rest = if rest.first() == Some(&&b"--"[..]) {
                &rest[1..]
            } else {
                rest
            };
            c.command = rest.iter().map(|s| s.to_vec()).collect();
            break;
        }
        let (name, opt, inline) = lookup(a)?;
        if opt == Opt::Help {
            return Ok(None);
        }
        let val = if !opt.takes_value() {
            if inline.is_some() {
                return Err(Error::msg(name, a, "takes no value"));
            }
            &b""[..]
        } else if let Some(v) = inline {
            v
        } else if i < args.len() {
            i += 1;
            args[i - 1]
        } else {
            return Err(Error::msg(name, b"", "needs a value"));
        };
        apply(&mut c, &mut caps, name, opt, val)?;
    }
    finish(&mut c, caps)?;
    Ok(Some(c))
}

/// Find an option by name: `--memory`, `--memory=1g`, `-u`, `-u1000`.
fn lookup(a: &[u8]) -> Result<(&'static str, Opt, Option<&[u8]>)> {
    let (key, inline) = match a.iter().position(|&b| b == b'=') {
        Some(p) if a.starts_with(b"--") => (&a[..p], Some(&a[p + 1..])),
        _ if !a.starts_with(b"--") && a.len() > 2 => (&a[..2], Some(&a[2..])),
        _ => (a, None),
    };
    match OPTS.iter().find(|(n, _)| n.as_bytes() == key) {
        Some(&(n, o)) => Ok((n, o, inline)),
        None => Err(Error::msg("run", a, "unknown option (see husk run --help)")),
    }
}

fn apply(
    c: &mut Container,
    caps: &mut CapOpts,
    name: &'static str,
    opt: Opt,
    v: &[u8],
) -> Result<()> {
    let bad = |detail: &'static str| Error::msg(name, v, detail);
    let r = &mut c.resources;
    match opt {
        Opt::Name => {
            if !valid_name(v) {
                return Err(bad("bad name: want [A-Za-z0-9][A-Za-z0-9_.-]{0,63}"));
            }
            c.name = Some(utf8(v));
        }
        Opt::Hostname | Opt::Domainname => {
            if v.is_empty()
                || v.len() > 64
                || !v
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            {
                return Err(bad("bad host name: want 1 to 64 of [A-Za-z0-9_.-]"));
            }
            if opt == Opt::Hostname {
                c.hostname = Some(utf8(v));
            } else {
                c.domainname = Some(utf8(v));
            }
        }
        Opt::Share => {
            for item in v.split(|&b| b == b',') {
                let flag = match item {
                    b"net" => CLONE_NEWNET,
                    b"ipc" => CLONE_NEWIPC,
                    b"uts" => CLONE_NEWUTS,
                    b"pid" => CLONE_NEWPID,
                    b"cgroup" => CLONE_NEWCGROUP,
                    b"mnt" => return Err(bad("the mount namespace is always new")),
                    _ => return Err(bad("want a list of net,ipc,uts,pid,cgroup")),
                };
                c.namespaces &= !flag;
            }
        }
        Opt::Userns => c.userns = true,
        Opt::Detach => c.detach = true,
        Opt::Rm => c.auto_remove = true,
        Opt::UidMap | Opt::GidMap => {
            let m = parse_map(v).ok_or_else(|| bad("want INSIDE:OUTSIDE:COUNT"))?;
            let maps = if opt == Opt::UidMap {
                &mut c.uid_maps
            } else {
                &mut c.gid_maps
            };
            // The kernel takes at most 340 lines (linux/user_namespace.h).
            if maps.len() == 340 {
                return Err(bad("too many maps (340 at most)"));
            }
            maps.push(m);
        }
        Opt::Join => {
            let (ty, path) = split2(v).ok_or_else(|| bad("want TYPE:PATH"))?;
            let kind = match ns::kind_flag(ty) {
                Some(k) if ty != b"time" => k,
                _ => return Err(bad("TYPE is one of net ipc uts pid mnt user cgroup")),
            };
            if path.is_empty() {
                return Err(bad("want TYPE:PATH"));
            }
            if c.joins.iter().any(|j| j.kind == kind) {
                return Err(bad("this namespace type is joined twice"));
            }
            c.joins.push(Join {
                kind,
                path: path.to_vec(),
            });
        }
        Opt::ReadOnly => c.read_only = true,
        Opt::Upper => c.upper = Some(nonempty(name, v)?.to_vec()),
        Opt::Bind => c.binds.push(parse_bind(name, v)?),
        Opt::Tmpfs => {
            let (dst, size) = match split2(v) {
                Some((d, s)) => (
                    d,
                    Some(parse_size(s).ok_or_else(|| bad("bad size: want N[k|m|g]"))?),
                ),
                None => (v, None),
            };
            check_dst(name, dst)?;
            c.tmpfs.push(Tmpfs {
                dst: dst.to_vec(),
                size,
            });
        }
        Opt::Memory | Opt::MemorySwap => {
            let n = parse_size(v)
                .filter(|&n| n > 0)
                .ok_or_else(|| bad("bad size: want N[k|m|g]"))?;
            if opt == Opt::Memory {
                if n < MIN_MEMORY {
                    return Err(bad("too small to start a container (1m at least)"));
                }
                r.memory = Some(n);
            } else {
                r.memory_swap = Some(n);
            }
        }
        Opt::Cpus => {
            r.cpus_milli = Some(parse_cpus(v).ok_or_else(|| bad("want a number of CPUs like 1.5"))?)
        }
        Opt::CpuWeight | Opt::IoWeight => {
            let w = parse_u64(v)
                .filter(|w| (1..=10000).contains(w))
                .ok_or_else(|| bad("want 1..10000"))? as u32;
            if opt == Opt::CpuWeight {
                r.cpu_weight = Some(w);
            } else {
                r.io_weight = Some(w);
            }
        }
        Opt::Pids => {
            r.pids = Some(
                parse_u64(v)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("want a positive number"))?,
            )
        }
        Opt::CpusetCpus | Opt::CpusetMems => {
            if !valid_cpu_list(v) {
                return Err(bad("want a list like 0-3,6"));
            }
            if opt == Opt::CpusetCpus {
                r.cpuset_cpus = Some(utf8(v));
            } else {
                r.cpuset_mems = Some(utf8(v));
            }
        }
        Opt::CgroupParent => {
            let p = v.strip_prefix(b"/").unwrap_or(v);
            if p.is_empty()
                || core::str::from_utf8(p).is_err()
                || p.split(|&b| b == b'/')
                    .any(|s| s.is_empty() || s == b"." || s == b"..")
            {
                return Err(bad("want a UTF-8 relative path without . or .."));
            }
            c.cgroup_parent = utf8(p);
        }
        Opt::CapAdd | Opt::CapDrop => {
            let bits = if v.eq_ignore_ascii_case(b"ALL") {
                ALL_CAPS
            } else {
                1u64 << parse_cap(v).ok_or_else(|| bad("unknown capability"))?
            };
            if opt == Opt::CapAdd {
                caps.add |= bits;
            } else {
                caps.drop |= bits;
            }
        }
        Opt::AllowNewPrivs => c.no_new_privs = false,
        Opt::User => c.user = Some(parse_user(v).ok_or_else(|| bad("want USER[:GROUP]"))?),
        Opt::Env => {
            if v.is_empty() || v[0] == b'=' || !v.contains(&b'=') {
                return Err(bad("want KEY=VALUE"));
            }
            c.env.push(v.to_vec());
        }
        Opt::Workdir => {
            check_dst(name, v)?;
            c.workdir = Some(v.to_vec());
        }
        Opt::Rlimit => c
            .rlimits
            .push(parse_rlimit(v).ok_or_else(|| bad("want NAME=SOFT[:HARD] with SOFT <= HARD"))?),
        Opt::NoInit | Opt::InitPath => {
            if c.init != Init::Builtin {
                return Err(bad("--init and --no-init exclude each other"));
            }
            c.init = if opt == Opt::NoInit {
                Init::None
            } else {
                Init::Path(nonempty(name, v)?.to_vec())
            };
        }
        Opt::Root => c.state_root = Some(nonempty(name, v)?.to_vec()),
        Opt::Image => return Err(bad("not supported yet: give a ROOTFS directory")),
        Opt::Help => {}
    }
    Ok(())
}

/// Checks that need the whole command line.
fn finish(c: &mut Container, caps: CapOpts) -> Result<()> {
    if c.layers.is_empty() {
        return Err(Error::msg(
            "run",
            b"",
            "missing ROOTFS (see husk run --help)",
        ));
    }
    if c.command.is_empty() {
        return Err(Error::msg(
            "run",
            b"",
            "missing COMMAND (see husk run --help)",
        ));
    }
    if c.read_only && c.upper.is_some() {
        return Err(Error::msg("--read-only", b"", "excludes --upper"));
    }
    // A joined namespace is not created, except mnt: the container still
    // gets its own copy of the joined mount namespace to build its root in.
    for j in &c.joins {
        c.namespaces &= !(j.kind & !husk_sys::ns::CLONE_NEWNS);
    }
    if let (Some(m), Some(s)) = (c.resources.memory, c.resources.memory_swap) {
        if s < m {
            return Err(Error::msg(
                "--memory-swap",
                b"",
                "must be at least --memory",
            ));
        }
    }
    // Docker's rule: an explicit add wins over a drop of ALL, and an explicit
    // drop wins over an add of ALL.
    let drop = if caps.drop == ALL_CAPS {
        ALL_CAPS & !caps.add
    } else {
        caps.drop
    };
    let add = if caps.add == ALL_CAPS {
        ALL_CAPS & !caps.drop
    } else {
        caps.add
    };
    c.caps.set = (c.caps.set & !drop) | add;
    c.caps.added = add & c.caps.set;
    Ok(())
}

fn parse_rootfs(c: &mut Container, a: &[u8]) -> Result<()> {
    for layer in a.split(|&b| b == b':') {
        if layer.is_empty() {
            return Err(Error::msg("rootfs", a, "empty layer in DIR:DIR:..."));
        }
        // The layers go into overlay's mount options, where these separate
        // options and escape characters.
        if layer.iter().any(|&b| b == b',' || b == b'\\') {
            return Err(Error::msg(
                "rootfs",
                layer,
                "overlay layer paths may not contain ',' or '\\'",
            ));
        }
        c.layers.push(layer.to_vec());
    }
    Ok(())
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`: also safe as a file and cgroup name.
pub fn valid_name(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s[0].is_ascii_alphanumeric()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// A size with an optional k/m/g suffix (powers of 1024), no overflow.
pub fn parse_size(s: &[u8]) -> Option<u64> {
    let (digits, shift) = match s.last()?.to_ascii_lowercase() {
        b'k' => (&s[..s.len() - 1], 10),
        b'm' => (&s[..s.len() - 1], 20),
        b'g' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n = parse_u64(digits)?;
    n.checked_mul(1u64 << shift)
}

/// `1`, `1.5`, `0.25` CPUs into thousandths; 0 is refused.
pub fn parse_cpus(s: &[u8]) -> Option<u64> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(p) => (&s[..p], &s[p + 1..]),
        None => (s, &b""[..]),
    };
    if frac.len() > 3 || (int.is_empty() && frac.is_empty()) || s.last() == Some(&b'.') {
        return None;
    }
    let whole = if int.is_empty() { 0 } else { parse_u64(int)? };
    let mut milli = 0;
    for i in 0..3 {
        let d = match frac.get(i) {
            Some(d) if d.is_ascii_digit() => (d - b'0') as u64,
            Some(_) => return None,
            None => 0,
        };
        milli = milli * 10 + d;
    }
    let n = whole.checked_mul(1000)?.checked_add(milli)?;
    (n > 0).then_some(n)
}

/// `0-3,5`: what cpuset.cpus and cpuset.mems accept.
fn valid_cpu_list(s: &[u8]) -> bool {
    !s.is_empty()
        && s.split(|&b| b == b',').all(|r| {
            let mut ends = r.split(|&b| b == b'-');
            let a = ends.next().and_then(parse_u64);
            let b = ends.next().map(parse_u64);
            ends.next().is_none()
                && match (a, b) {
                    (Some(_), None) => true,
                    (Some(a), Some(Some(b))) => a <= b,
                    _ => false,
                }
        })
}

fn parse_map(s: &[u8]) -> Option<IdMap> {
    let mut it = s.split(|&b| b == b':');
    let mut num = || parse_u64(it.next()?).filter(|&n| n <= u32::MAX as u64);
    let (inside, outside, count) = (num()?, num()?, num()?);
    let end = 1u64 << 32;
    if it.next().is_some() || count == 0 || inside + count > end || outside + count > end {
        return None;
    }
    Some(IdMap {
        inside: inside as u32,
        outside: outside as u32,
        count: count as u32,
    })
}

fn parse_bind(name: &'static str, v: &[u8]) -> Result<Bind> {
    let mut parts = v.split(|&b| b == b':');
    let src = parts.next().unwrap_or(b"");
    let dst = parts.next().unwrap_or(b"");
    let read_only = match parts.next() {
        None | Some(b"rw") => false,
        Some(b"ro") => true,
        Some(_) => return Err(Error::msg(name, v, "want SRC:DST[:ro]")),
    };
    if src.is_empty() || dst.is_empty() || parts.next().is_some() {
        return Err(Error::msg(name, v, "want SRC:DST[:ro]"));
    }
    check_dst(name, dst)?;
    Ok(Bind {
        src: src.to_vec(),
        dst: dst.to_vec(),
        read_only,
    })
}

/// A path inside the container: absolute, and no `..` that could climb out.
/// Symlinks on the way are checked against the rootfs by the host stage.
fn check_dst(name: &'static str, dst: &[u8]) -> Result<()> {
    if dst.first() != Some(&b'/') {
        return Err(Error::msg(name, dst, "must be an absolute path"));
    }
    if dst.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err(Error::msg(name, dst, "escapes the root through '..'"));
    }
    Ok(())
}

fn parse_user(v: &[u8]) -> Option<UserSpec> {
    let id = |s: &[u8]| -> Option<Id> {
        if s.is_empty() || s.contains(&b':') {
            return None;
        }
        Some(match parse_u64(s) {
            Some(n) if n < u32::MAX as u64 => Id::Num(n as u32),
            Some(_) => return None,
            None => Id::Name(s.to_vec()),
        })
    };
    match split2(v) {
        Some((u, g)) => Some(UserSpec {
            user: id(u)?,
            group: Some(id(g)?),
        }),
        None => Some(UserSpec {
            user: id(v)?,
            group: None,
        }),
    }
}

/// setrlimit(2)'s resources by name, in RLIMIT_* number order.
const RLIMITS: [&str; 16] = [
    "CPU",
    "FSIZE",
    "DATA",
    "STACK",
    "CORE",
    "RSS",
    "NPROC",
    "NOFILE",
    "MEMLOCK",
    "AS",
    "LOCKS",
    "SIGPENDING",
    "MSGQUEUE",
    "NICE",
    "RTPRIO",
    "RTTIME",
];

fn parse_rlimit(v: &[u8]) -> Option<Rlimit> {
    let eq = v.iter().position(|&b| b == b'=')?;
    let (name, vals) = (&v[..eq], &v[eq + 1..]);
    let name = if name.len() > 7 && name[..7].eq_ignore_ascii_case(b"RLIMIT_") {
        &name[7..]
    } else {
        name
    };
    let resource = RLIMITS
        .iter()
        .position(|r| r.as_bytes().eq_ignore_ascii_case(name))? as u32;
    let limit = |s: &[u8]| match s {
        b"unlimited" | b"-1" => Some(RLIM_INFINITY),
        _ => parse_u64(s),
    };
    let (soft, hard) = match split2(vals) {
        Some((s, h)) => (limit(s)?, limit(h)?),
        None => (limit(vals)?, limit(vals)?),
    };
    (soft <= hard).then_some(Rlimit {
        resource,
        soft,
        hard,
    })
}

fn split2(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let p = v.iter().position(|&b| b == b':')?;
    Some((&v[..p], &v[p + 1..]))
}

fn nonempty<'a>(name: &'static str, v: &'a [u8]) -> Result<&'a [u8]> {
    if v.is_empty() {
        return Err(Error::msg(name, b"", "needs a value"));
    }
    Ok(v)
}

/// Names, hostnames and cpu lists were checked to be ASCII before this;
/// anything else (a cgroup parent) must be UTF-8 to be a cgroup path.
fn utf8(v: &[u8]) -> String {
    String::from(core::str::from_utf8(v).unwrap_or("?"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use husk_sys::ns::CLONE_NEWNS;

    fn parse(line: &str) -> Result<Container> {
        let args: Vec<&[u8]> = line.split_whitespace().map(|s| s.as_bytes()).collect();
        parse_run(&args).map(|c| c.expect("not --help"))
    }

    fn err(line: &str) -> String {
        let e = parse(line).expect_err(line);
        let mut b = husk_sys::CBuf::<512>::new();
        e.render("husk", &mut b);
        String::from_utf8(b.bytes().to_vec()).unwrap()
    }

    #[test]
    fn a_plain_run_has_the_defaults() {
        let c = parse("/srv/rootfs /bin/sh -c true").unwrap();
        assert_eq!(c.layers, vec![b"/srv/rootfs".to_vec()]);
        assert_eq!(
            c.command,
            vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"true".to_vec()]
        );
        assert_eq!(c.namespaces, crate::spec::DEFAULT_NAMESPACES);
        assert_eq!(c.caps.set, husk_sys::caps::DOCKER_DEFAULT);
        assert!(c.no_new_privs && !c.read_only && c.init == Init::Builtin);
        assert_eq!(c.cgroup_parent, "husk");
    }

    #[test]
    fn options_fill_the_container() {
        let c = parse(
            "--name=c1 --hostname h --memory 64m --memory-swap=1g --cpus 1.5 --pids 20 --cpu-weight 100 \
             --cpuset-cpus 0-1,3 --bind /src:/dst:ro --tmpfs /tmp:16m --tmpfs /run -u 1000:users -e A=1 \
             -w /work --rlimit nofile=1024:4096 --rlimit CORE=0 --share net,ipc --join uts:/proc/1/ns/uts \
             --uid-map 0:1000:1 --init /sbin/other --cgroup-parent /a/b --allow-new-privs --read-only \
             /l1:/l2 -- cmd --flag",
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("c1"));
        assert_eq!(c.hostname(), "h");
        assert_eq!(c.resources.memory, Some(64 << 20));
        assert_eq!(c.resources.memory_swap, Some(1 << 30));
        assert_eq!(c.resources.cpus_milli, Some(1500));
        assert_eq!(c.resources.pids, Some(20));
        assert_eq!(c.resources.cpu_weight, Some(100));
        assert_eq!(c.resources.cpuset_cpus.as_deref(), Some("0-1,3"));
        assert_eq!(
            c.binds,
            vec![Bind {
                src: b"/src".to_vec(),
                dst: b"/dst".to_vec(),
                read_only: true
            }]
        );
        assert_eq!(c.tmpfs[0].size, Some(16 << 20));
        assert_eq!(c.tmpfs[1].size, None);
        assert_eq!(
            c.user,
            Some(UserSpec {
                user: Id::Num(1000),
                group: Some(Id::Name(b"users".to_vec()))
            })
        );
        assert_eq!(c.env, vec![b"A=1".to_vec()]);
        assert_eq!(c.workdir.as_deref(), Some(&b"/work"[..]));
        assert_eq!(
            c.rlimits,
            vec![
                Rlimit {
                    resource: 7,
                    soft: 1024,
                    hard: 4096
                },
                Rlimit {
                    resource: 4,
                    soft: 0,
                    hard: 0
                }
            ]
        );
        assert_eq!(
            c.namespaces & (CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS),
            0
        );
        assert_eq!(c.namespaces & CLONE_NEWNS, CLONE_NEWNS);
        assert_eq!(
            c.joins,
            vec![Join {
                kind: CLONE_NEWUTS,
                path: b"/proc/1/ns/uts".to_vec()
            }]
        );
        assert_eq!(
            c.uid_maps,
            vec![IdMap {
                inside: 0,
                outside: 1000,
                count: 1
            }]
        );
        assert!(c.wants_userns(0));
        assert_eq!(c.init, Init::Path(b"/sbin/other".to_vec()));
        assert_eq!(c.cgroup_parent, "a/b");
        assert!(!c.no_new_privs && c.read_only && c.is_overlay());
        assert_eq!(c.layers.len(), 2);
        assert_eq!(c.command, vec![b"cmd".to_vec(), b"--flag".to_vec()]);
    }

    #[test]
    fn options_after_rootfs_belong_to_the_command() {
        let c = parse("/r ls --memory 1g").unwrap();
        assert_eq!(c.resources.memory, None);
        assert_eq!(c.command.len(), 3);
        let c = parse("-ubin -eX=1 /r x").unwrap();
        assert_eq!(c.user.unwrap().user, Id::Name(b"bin".to_vec()));
        assert_eq!(parse_run(&[b"--help"]).unwrap(), None);
        assert!(parse("--join user:/proc/1/ns/user /r x")
            .map(|c| !c.wants_userns(1000))
            .unwrap());
    }

    #[test]
    fn capabilities_follow_dockers_rules() {
        let d = husk_sys::caps::DOCKER_DEFAULT;
        let c = parse("--cap-add sys_admin --cap-drop CAP_NET_RAW /r x").unwrap();
        assert_eq!(c.caps.set, (d | 1 << 21) & !(1 << 13));
        assert_eq!(c.caps.added, 1 << 21);
        let c = parse("--cap-add NET_ADMIN --cap-drop ALL /r x").unwrap();
        assert_eq!(c.caps.set, 1 << 12);
        let c = parse("--cap-drop chown --cap-add all /r x").unwrap();
        assert_eq!(c.caps.set, ALL_CAPS & !1);
    }

    #[test]
    fn numbers_parse_strictly() {
        assert_eq!(parse_size(b"12"), Some(12));
        assert_eq!(parse_size(b"4k"), Some(4096));
        assert_eq!(parse_size(b"2G"), Some(2 << 30));
        for bad in [
            "12x",
            "-1",
            "",
            "m",
            "1.5g",
            "99999999999999999999",
            "17179869184g",
        ] {
            assert_eq!(parse_size(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_cpus(b"2"), Some(2000));
        assert_eq!(parse_cpus(b"0.25"), Some(250));
        assert_eq!(parse_cpus(b".5"), Some(500));
        for bad in ["0", "0.0", "1.", "1.2345", "x", "-1", "1.2.3", ""] {
            assert_eq!(parse_cpus(bad.as_bytes()), None, "{bad}");
        }
        assert!(valid_cpu_list(b"0") && valid_cpu_list(b"0-3,7,9-10"));
        assert!(
            !valid_cpu_list(b"3-1")
                && !valid_cpu_list(b"0,")
                && !valid_cpu_list(b"a")
                && !valid_cpu_list(b"1-2-3")
        );
        assert_eq!(
            parse_map(b"0:100000:65536"),
            Some(IdMap {
                inside: 0,
                outside: 100000,
                count: 65536
            })
        );
        assert_eq!(parse_map(b"0:4294967295:2"), None);
        assert_eq!(parse_map(b"0:1:0"), None);
        assert_eq!(
            parse_rlimit(b"RLIMIT_NOFILE=unlimited").map(|r| r.soft),
            Some(RLIM_INFINITY)
        );
        assert_eq!(parse_rlimit(b"nofile=10:5"), None);
        assert_eq!(parse_rlimit(b"bogus=1"), None);
    }

    #[test]
    fn names_follow_the_pattern() {
        assert!(valid_name(b"c1") && valid_name(b"A.b_c-9"));
        assert!(valid_name(&[b'a'; 64]) && !valid_name(&[b'a'; 65]));
        for bad in ["", "-x", ".x", "_x", "a/b", "a b", "ä"] {
            assert!(!valid_name(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn bad_input_is_one_clear_line() {
        let table = [
            (
                "--bogus /r x",
                "husk: run --bogus: unknown option (see husk run --help)",
            ),
            (
                "--memory 12x /r x",
                "husk: --memory 12x: bad size: want N[k|m|g]",
            ),
            (
                "--memory -1 /r x",
                "husk: --memory -1: bad size: want N[k|m|g]",
            ),
            (
                "--memory 99999999999g /r x",
                "husk: --memory 99999999999g: bad size: want N[k|m|g]",
            ),
            (
                "--memory 4k /r x",
                "husk: --memory 4k: too small to start a container (1m at least)",
            ),
            (
                "--cap-add CAP_BOGUS /r x",
                "husk: --cap-add CAP_BOGUS: unknown capability",
            ),
            ("--bind /a /r x", "husk: --bind /a: want SRC:DST[:ro]"),
            (
                "--bind /a:/b:rx /r x",
                "husk: --bind /a:/b:rx: want SRC:DST[:ro]",
            ),
            (
                "--bind /a:b /r x",
                "husk: --bind b: must be an absolute path",
            ),
            (
                "--bind /a:/b/../../etc /r x",
                "husk: --bind /b/../../etc: escapes the root through '..'",
            ),
            (
                "--tmpfs /t:12x /r x",
                "husk: --tmpfs /t:12x: bad size: want N[k|m|g]",
            ),
            (
                "--name -bad /r x",
                "husk: --name -bad: bad name: want [A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
            ),
            (
                "--read-only --upper /u /r x",
                "husk: --read-only: excludes --upper",
            ),
            (
                "--share mnt /r x",
                "husk: --share mnt: the mount namespace is always new",
            ),
            (
                "--join time:/x /r x",
                "husk: --join time:/x: TYPE is one of net ipc uts pid mnt user cgroup",
            ),
            (
                "--cpus 0 /r x",
                "husk: --cpus 0: want a number of CPUs like 1.5",
            ),
            ("--pids 0 /r x", "husk: --pids 0: want a positive number"),
            (
                "--cpu-weight 10001 /r x",
                "husk: --cpu-weight 10001: want 1..10000",
            ),
            (
                "--rlimit nofile=2:1 /r x",
                "husk: --rlimit nofile=2:1: want NAME=SOFT[:HARD] with SOFT <= HARD",
            ),
            (
                "--no-init --init /i /r x",
                "husk: --init /i: --init and --no-init exclude each other",
            ),
            ("-e NOVALUE /r x", "husk: -e NOVALUE: want KEY=VALUE"),
            (
                "--memory 2m --memory-swap 1m /r x",
                "husk: --memory-swap: must be at least --memory",
            ),
            (
                "--read-only=yes /r x",
                "husk: --read-only --read-only=yes: takes no value",
            ),
            ("/r", "husk: run: missing COMMAND (see husk run --help)"),
            ("--name", "husk: --name: needs a value"),
            ("", "husk: run: missing ROOTFS (see husk run --help)"),
            (
                "/a::/b x",
                "husk: rootfs /a::/b: empty layer in DIR:DIR:...",
            ),
        ];
        for (line, want) in table {
            assert_eq!(err(line), want, "{line}");
        }
    }
}
