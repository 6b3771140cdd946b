//! `husk run` arguments into a [`Container`]: pure parsing and validation,
//! no syscalls, so every rejection is unit-tested and happens before the
//! host stage creates anything.
//!
//! Grammar: `husk run [OPTIONS] ROOTFS [--] COMMAND [ARG...]`, or
//! `husk run --image NAME[:TAG] [OPTIONS] [--] [COMMAND [ARG...]]`. Options
//! take `--opt VALUE` or `--opt=VALUE`; the short ones also `-uVALUE`. The
//! first argument that is not an option is ROOTFS (COMMAND with --image);
//! everything after it belongs to COMMAND, so its own options need no `--`.

use crate::spec::{Bind, Container, Id, IdMap, Init, Join, Rlimit, Tmpfs, UserSpec};
use alloc::string::String;
#[cfg(test)]
use alloc::vec::Vec;
use husk_sys::caps::parse_cap;
use husk_sys::fmt::{parse_u64, Sink};
use husk_sys::ns::{self, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWUTS};
use husk_sys::process::RLIM_INFINITY;
use husk_sys::Error;

type Result<T> = core::result::Result<T, Error>;
/// Why a value is refused; the caller names the option and the value, so
/// each check is one string and not one error construction.
type Bad<T = ()> = core::result::Result<T, &'static str>;

/// The smallest `--memory` accepted: below this the kernel OOM-kills the
/// container stage before husk-init runs (measured on 6.18 with cgroup v1,
/// where kernel memory of the new namespaces is charged too).
pub const MIN_MEMORY: u64 = 1 << 20;

/// Every capability husk knows (`--cap-add ALL`); the container stage
/// narrows it to what the running kernel has.
const ALL_CAPS: u64 = (1 << husk_sys::caps::COUNT) - 1;

/// The head of `husk run --help`; the option lines come from [`OPTS`], so
/// each name is stored once.
const USAGE: &str = "usage: husk run [OPTIONS] ROOTFS|DIR:DIR:... [--] COMMAND [ARG...]
       husk run --image NAME[:TAG] [OPTIONS] [--] [COMMAND [ARG...]]
";

/// What each option is; [`OPTS`] holds the names. The options that take no
/// value come last (see `takes_value`).
#[derive(Clone, Copy, PartialEq)]
enum Opt {
    Name,
    Hostname,
    Domainname,
    Share,
    UidMap,
    GidMap,
    Join,
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
    User,
    Env,
    Workdir,
    Rlimit,
    InitPath,
    Root,
    Image,
    Store,
    Userns,
    ReadOnly,
    AllowNewPrivs,
    NoInit,
    Help,
    Detach,
    Rm,
}

/// Each option's name, then after a space what its value looks like (the
/// `--help` lines). Its meaning is at the same index in [`KINDS`]: two
/// arrays, as a table of pairs would pad every entry to 24 bytes.
const OPTS: [&str; 41] = [
    "--image NAME[:TAG]",
    "--store DIR (/var/lib/husk)",
    "--name [A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
    "--hostname NAME",
    "--domainname NAME",
    "--share net,ipc,uts,pid,cgroup",
    "--userns",
    "--uid-map IN:OUT:N",
    "--gid-map IN:OUT:N",
    "--join TYPE:PATH",
    "--read-only",
    "--upper DIR",
    "--bind SRC:DST[:ro]",
    "--tmpfs DST[:SIZE]",
    "--memory SIZE[k|m|g]",
    "--memory-swap SIZE",
    "--cpus N.NN",
    "--cpu-weight 1..10000",
    "--io-weight 1..10000",
    "--pids N",
    "--cpuset-cpus LIST",
    "--cpuset-mems LIST",
    "--cgroup-parent PATH (husk)",
    "--cap-add CAP|ALL",
    "--cap-drop CAP|ALL",
    "--allow-new-privs",
    "--user U[:G]",
    "-u U[:G]",
    "--env KEY=VALUE",
    "-e KEY=VALUE",
    "--workdir DIR",
    "-w DIR",
    "--rlimit NAME=SOFT[:HARD]",
    "--no-init",
    "--init PATH",
    "--root DIR (/run/husk)",
    "--help",
    "-h",
    "-d",
    "--detach",
    "--rm",
];

const KINDS: [Opt; 41] = {
    use Opt::*;
    [
        Image,
        Store,
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
        User,
        Env,
        Env,
        Workdir,
        Workdir,
        Rlimit,
        NoInit,
        InitPath,
        Root,
        Help,
        Help,
        Detach,
        Detach,
        Rm,
    ]
};

/// `husk run --help`: the usage line, then one line per option.
pub fn print_usage() {
    let mut out = husk_sys::fmt::stdout();
    out.s(USAGE);
    for n in OPTS {
        out.s("  ").s(n).s("\n");
    }
}

impl Opt {
    fn takes_value(self) -> bool {
        (self as u8) < Opt::Userns as u8
    }
}

const BAD_SIZE: &str = "bad size: want N[k|m|g]";
const WANT_BIND: &str = "want SRC:DST[:ro]";

/// Parse the arguments after `husk run`. `Ok(None)`: `--help` was asked.
pub fn parse_run(args: &[&[u8]]) -> Result<Option<Container>> {
    let mut c = Container::new();
    // Capability options are collected first and combined at the end, with
    // Docker's semantics: `--cap-drop ALL --cap-add X` means just X.
    let mut caps = [0u64; 2];
    let mut i = 0;
    while let Some(&a) = args.get(i) {
        i += 1;
        if a == b"--" {
            if c.image.is_some() {
                break;
            }
            continue;
        }
        if a.len() < 2 || a[0] != b'-' {
            if c.image.is_some() {
                i -= 1;
            } else {
                parse_rootfs(&mut c, a)?;
                if args.get(i) == Some(&&b"--"[..]) {
                    i += 1;
                }
            }
            break;
        }
        let (name, opt, inline) = lookup(a)?;
        let v = match inline {
            Some(_) if !opt.takes_value() => return Err(Error::msg(name, a, "takes no value")),
            Some(v) => v,
            None if !opt.takes_value() => b"",
            None => {
                i += 1;
                match args.get(i - 1) {
                    Some(v) => v,
                    None => return Err(Error::msg(name, b"", "needs a value")),
                }
            }
        };
        if opt == Opt::Help {
            return Ok(None);
        }
        let mut obj = v;
        if let Err(d) = apply(&mut c, &mut caps, opt, v, &mut obj) {
            return Err(Error::msg(name, obj, d));
        }
    }
    for a in args.get(i..).unwrap_or_default() {
        c.command.push(a.to_vec());
    }
    finish(&mut c, caps)?;
    Ok(Some(c))
}

/// Find an option by name: `--memory`, `--memory=1g`, `-u`, `-u1000`.
fn lookup(a: &[u8]) -> Result<(&'static str, Opt, Option<&[u8]>)> {
    let long = a.starts_with(b"--");
    let (key, inline) = match a.iter().position(|&b| b == b'=') {
        Some(p) if long => (&a[..p], a.get(p + 1..)),
        _ if !long && a.len() > 2 => (&a[..2], a.get(2..)),
        _ => (a, None),
    };
    for (i, entry) in OPTS.iter().enumerate() {
        // An entry is the name, then a space and what the value looks like.
        let e = entry.as_bytes();
        if e.starts_with(key) && e.get(key.len()).is_none_or(|&b| b == b' ') {
            return Ok((entry.get(..key.len()).unwrap_or(entry), KINDS[i], inline));
        }
    }
    Err(Error::msg("run", a, "unknown option (see husk run --help)"))
}

/// Apply one option. On a refusal `obj` is what the message shows: the
/// value, unless a part of it is to blame.
#[inline(never)]
fn apply<'a>(c: &mut Container, caps: &mut [u64; 2], opt: Opt, v: &'a [u8], obj: &mut &'a [u8]) -> Bad {
    let r = &mut c.resources;
    match opt {
        // Checked ASCII text into an Option<String>.
        Opt::Name | Opt::Hostname | Opt::Domainname | Opt::CpusetCpus | Opt::CpusetMems => {
            const HOST: &str = "bad host name: want 1 to 64 of [A-Za-z0-9_.-]";
            const LIST: &str = "want a list like 0-3,6";
            let (ok, why, slot) = match opt {
                Opt::Name => (valid_name(v), "bad name: want [A-Za-z0-9][A-Za-z0-9_.-]{0,63}", &mut c.name),
                Opt::Hostname => (name_chars(v), HOST, &mut c.hostname),
                Opt::Domainname => (name_chars(v), HOST, &mut c.domainname),
                Opt::CpusetCpus => (valid_cpu_list(v), LIST, &mut r.cpuset_cpus),
                _ => (valid_cpu_list(v), LIST, &mut r.cpuset_mems),
            };
            if !ok {
                return Err(why);
            }
            *slot = Some(String::from(core::str::from_utf8(v).unwrap_or("?")));
        }
        Opt::Share => {
            for item in v.split(|&b| b == b',') {
                const SHAREABLE: i32 = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP;
                c.namespaces &= !match ns::kind_flag(item) {
                    Some(ns::CLONE_NEWNS) => return Err("the mount namespace is always new"),
                    Some(f) if f & SHAREABLE != 0 => f,
                    _ => return Err("want a list of net,ipc,uts,pid,cgroup"),
                };
            }
        }
        Opt::Userns | Opt::Detach | Opt::Rm | Opt::ReadOnly | Opt::AllowNewPrivs => {
            *match opt {
                Opt::Userns => &mut c.userns,
                Opt::Detach => &mut c.detach,
                Opt::Rm => &mut c.auto_remove,
                Opt::ReadOnly => &mut c.read_only,
                _ => &mut c.no_new_privs,
            } = opt != Opt::AllowNewPrivs
        }
        Opt::UidMap | Opt::GidMap => {
            let m = parse_map(v).ok_or("want INSIDE:OUTSIDE:COUNT")?;
            let maps = if opt == Opt::UidMap { &mut c.uid_maps } else { &mut c.gid_maps };
            // The kernel takes at most 340 lines (linux/user_namespace.h).
            if maps.len() == 340 {
                return Err("too many maps (340 at most)");
            }
            maps.push(m);
        }
        Opt::Join => {
            let (ty, path) = split2(v).ok_or("want TYPE:PATH")?;
            let kind = match ns::kind_flag(ty) {
                Some(k) if ty != b"time" => k,
                _ => return Err("TYPE is one of net ipc uts pid mnt user cgroup"),
            };
            if path.is_empty() {
                return Err("want TYPE:PATH");
            }
            if c.joins.iter().any(|j| j.kind == kind) {
                return Err("this namespace type is joined twice");
            }
            c.joins.push(Join { kind, path: path.to_vec() });
        }
        // A path into an Option<Vec<u8>>.
        Opt::Upper | Opt::Root | Opt::Image | Opt::Store | Opt::Workdir => {
            let slot = match opt {
                Opt::Upper => &mut c.upper,
                Opt::Root => &mut c.state_root,
                Opt::Image => &mut c.image,
                Opt::Store => &mut c.store,
                _ => {
                    check_dst(v)?;
                    &mut c.workdir
                }
            };
            *slot = Some(nonempty(v)?.to_vec());
        }
        Opt::Bind => c.binds.push(parse_bind(v, obj)?),
        Opt::Tmpfs => {
            let (dst, size) = match split2(v) {
                Some((d, s)) => (d, Some(parse_size(s).ok_or(BAD_SIZE)?)),
                None => (v, None),
            };
            *obj = dst;
            check_dst(dst)?;
            c.tmpfs.push(Tmpfs { dst: dst.to_vec(), size });
        }
        Opt::Memory | Opt::MemorySwap => {
            let n = parse_size(v).filter(|&n| n > 0).ok_or(BAD_SIZE)?;
            if opt == Opt::MemorySwap {
                r.memory_swap = Some(n);
            } else if n < MIN_MEMORY {
                return Err("too small to start a container (1m at least)");
            } else {
                r.memory = Some(n);
            }
        }
        Opt::Cpus => r.cpus_milli = Some(parse_cpus(v).ok_or("want a number of CPUs like 1.5")?),
        Opt::CpuWeight | Opt::IoWeight => {
            let w = Some(parse_u64(v).filter(|w| (1..=10000).contains(w)).ok_or("want 1..10000")? as u32);
            if opt == Opt::CpuWeight {
                r.cpu_weight = w;
            } else {
                r.io_weight = w;
            }
        }
        Opt::Pids => r.pids = Some(parse_u64(v).filter(|&n| n > 0).ok_or("want a positive number")?),
        Opt::CgroupParent => {
            let p = v.strip_prefix(b"/").unwrap_or(v);
            match core::str::from_utf8(p) {
                Ok(s) if !p.split(|&b| b == b'/').any(|s| matches!(s, b"" | b"." | b"..")) => {
                    c.cgroup_parent.clear();
                    c.cgroup_parent.push_str(s);
                }
                _ => return Err("want a UTF-8 relative path without . or .."),
            }
        }
        Opt::CapAdd | Opt::CapDrop => {
            caps[(opt == Opt::CapDrop) as usize] |= if v.eq_ignore_ascii_case(b"ALL") {
                ALL_CAPS
            } else {
                1u64 << parse_cap(v).ok_or("unknown capability")?
            };
        }
        Opt::User => c.user = Some(parse_user(v).ok_or("want USER[:GROUP]")?),
        Opt::Env => {
            if v.first().is_none_or(|&b| b == b'=') || !v.contains(&b'=') {
                return Err("want KEY=VALUE");
            }
            c.env.push(v.to_vec());
        }
        Opt::Rlimit => c.rlimits.push(parse_rlimit(v).ok_or("want NAME=SOFT[:HARD] with SOFT <= HARD")?),
        Opt::NoInit | Opt::InitPath => {
            if c.init != Init::Builtin {
                return Err("--init and --no-init exclude each other");
            }
            c.init = if opt == Opt::NoInit { Init::None } else { Init::Path(nonempty(v)?.to_vec()) };
        }
        Opt::Help => {}
    }
    Ok(())
}

/// Checks that need the whole command line.
fn finish(c: &mut Container, caps: [u64; 2]) -> Result<()> {
    let image = c.image.is_some();
    let (op, detail) = if c.layers.is_empty() && !image {
        ("run", "missing ROOTFS (see husk run --help)")
    } else if c.command.is_empty() && !image {
        ("run", "missing COMMAND (see husk run --help)")
    } else if c.read_only && c.upper.is_some() {
        ("--read-only", "excludes --upper")
    } else if matches!(c.resources, crate::cgroup::Resources { memory: Some(m), memory_swap: Some(s), .. } if s < m) {
        ("--memory-swap", "must be at least --memory")
    } else {
        ("", "")
    };
    if !op.is_empty() {
        return Err(Error::msg(op, b"", detail));
    }
    // A joined namespace is not created, except mnt: the container still
    // gets its own copy of the joined mount namespace to build its root in.
    for j in &c.joins {
        c.namespaces &= !(j.kind & !husk_sys::ns::CLONE_NEWNS);
    }
    // Docker's rule: an explicit add wins over a drop of ALL, and an explicit
    // drop wins over an add of ALL.
    let [add, drop] = caps;
    let drop = if drop == ALL_CAPS { ALL_CAPS & !add } else { drop };
    let add = if add == ALL_CAPS { ALL_CAPS & !drop } else { add };
    c.caps.set = (c.caps.set & !drop) | add;
    c.caps.added = add & c.caps.set;
    Ok(())
}

fn parse_rootfs(c: &mut Container, a: &[u8]) -> Result<()> {
    let mut rest = a;
    loop {
        let (layer, more) = split2(rest).unwrap_or((rest, b""));
        if layer.is_empty() {
            return Err(Error::msg("rootfs", a, "empty layer in DIR:DIR:..."));
        }
        check_layer(layer)?;
        c.layers.push(layer.to_vec());
        if layer.len() == rest.len() {
            return Ok(());
        }
        rest = more;
    }
}

/// The layers go into overlay's mount options, where `,` separates options,
/// `:` layers and `\` escapes: refuse them rather than mount something else.
pub fn check_layer(layer: &[u8]) -> Result<()> {
    if layer.iter().any(|&b| b == b',' || b == b':' || b == b'\\') {
        return Err(Error::msg("rootfs", layer, "overlay layer paths may not contain ',' ':' or '\\'"));
    }
    Ok(())
}

/// `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`: also safe as a file and cgroup name.
pub fn valid_name(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_alphanumeric) && name_chars(s)
}

/// 1 to 64 of `[A-Za-z0-9_.-]`: names and host names.
fn name_chars(s: &[u8]) -> bool {
    (1..=64).contains(&s.len()) && s.iter().all(|&b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// A size with an optional k/m/g suffix (powers of 1024), no overflow.
pub fn parse_size(s: &[u8]) -> Option<u64> {
    let (&last, head) = s.split_last()?;
    let (digits, shift) = match last | 0x20 {
        b'k' => (head, 10),
        b'm' => (head, 20),
        b'g' => (head, 30),
        _ => (s, 0),
    };
    parse_u64(digits)?.checked_mul(1u64 << shift)
}

/// `1`, `1.5`, `0.25` CPUs into thousandths; 0 is refused.
pub fn parse_cpus(s: &[u8]) -> Option<u64> {
    let (int, frac) = split_at_byte(s, b'.').unwrap_or((s, b""));
    if frac.len() > 3 || (int.is_empty() && frac.is_empty()) || s.last() == Some(&b'.') {
        return None;
    }
    let mut n = if int.is_empty() { 0 } else { parse_u64(int)? };
    for i in 0..3 {
        let d = match frac.get(i) {
            Some(d) if d.is_ascii_digit() => (d - b'0') as u64,
            Some(_) => return None,
            None => 0,
        };
        n = n.checked_mul(10)?.checked_add(d)?;
    }
    (n > 0).then_some(n)
}

/// `0-3,5`: what cpuset.cpus and cpuset.mems accept.
fn valid_cpu_list(s: &[u8]) -> bool {
    !s.is_empty()
        && s.split(|&b| b == b',').all(|r| match split_at_byte(r, b'-') {
            None => parse_u64(r).is_some(),
            Some((a, b)) => {
                matches!((parse_u64(a), parse_u64(b)), (Some(a), Some(b)) if a <= b)
            }
        })
}

fn parse_map(s: &[u8]) -> Option<IdMap> {
    let mut n = [0u64; 3];
    let mut it = s.split(|&b| b == b':');
    for x in &mut n {
        *x = parse_u64(it.next()?).filter(|&n| n <= u32::MAX as u64)?;
    }
    let [inside, outside, count] = n;
    let end = 1u64 << 32;
    if it.next().is_some() || count == 0 || inside + count > end || outside + count > end {
        return None;
    }
    Some(IdMap { inside: inside as u32, outside: outside as u32, count: count as u32 })
}

fn parse_bind<'a>(v: &'a [u8], obj: &mut &'a [u8]) -> Bad<Bind> {
    let (src, rest) = split2(v).ok_or(WANT_BIND)?;
    let (dst, mode) = split2(rest).unwrap_or((rest, b"rw"));
    let read_only = mode == b"ro";
    if src.is_empty() || dst.is_empty() || !(read_only || mode == b"rw") {
        return Err(WANT_BIND);
    }
    *obj = dst;
    check_dst(dst)?;
    Ok(Bind { src: src.to_vec(), dst: dst.to_vec(), read_only })
}

/// A path inside the container: absolute, and no `..` that could climb out.
/// Symlinks on the way are checked against the rootfs by the host stage.
fn check_dst(dst: &[u8]) -> Bad {
    if dst.first() != Some(&b'/') {
        return Err("must be an absolute path");
    }
    if dst.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err("escapes the root through '..'");
    }
    Ok(())
}

/// `USER[:GROUP]`, each a number or a name to look up in the rootfs.
pub fn parse_user(v: &[u8]) -> Option<UserSpec> {
    let (u, g) = match split2(v) {
        Some((u, g)) => (u, Some(g)),
        None => (v, None),
    };
    let group = match g {
        Some(g) => Some(parse_id(g)?),
        None => None,
    };
    Some(UserSpec { user: parse_id(u)?, group })
}

fn parse_id(s: &[u8]) -> Option<Id> {
    if s.is_empty() || s.contains(&b':') {
        return None;
    }
    Some(match parse_u64(s) {
        Some(n) if n < u32::MAX as u64 => Id::Num(n as u32),
        Some(_) => return None,
        None => Id::Name(s.to_vec()),
    })
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
    let (name, vals) = split_at_byte(v, b'=')?;
    let name = match name.split_at_checked(7) {
        Some((p, rest)) if !rest.is_empty() && p.eq_ignore_ascii_case(b"RLIMIT_") => rest,
        _ => name,
    };
    let resource = RLIMITS.iter().position(|r| r.as_bytes().eq_ignore_ascii_case(name))? as u32;
    let (s, h) = split2(vals).unwrap_or((vals, vals));
    let (soft, hard) = (limit(s)?, limit(h)?);
    (soft <= hard).then_some(Rlimit { resource, soft, hard })
}

fn limit(s: &[u8]) -> Option<u64> {
    match s {
        b"unlimited" | b"-1" => Some(RLIM_INFINITY),
        _ => parse_u64(s),
    }
}

fn split_at_byte(v: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let p = v.iter().position(|&b| b == sep)?;
    Some((&v[..p], v.get(p + 1..)?))
}

fn split2(v: &[u8]) -> Option<(&[u8], &[u8])> {
    split_at_byte(v, b':')
}

fn nonempty(v: &[u8]) -> Bad<&[u8]> {
    if v.is_empty() {
        return Err("needs a value");
    }
    Ok(v)
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
        assert_eq!(c.command, vec![b"/bin/sh".to_vec(), b"-c".to_vec(), b"true".to_vec()]);
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
        assert_eq!(c.binds, vec![Bind { src: b"/src".to_vec(), dst: b"/dst".to_vec(), read_only: true }]);
        assert_eq!(c.tmpfs[0].size, Some(16 << 20));
        assert_eq!(c.tmpfs[1].size, None);
        assert_eq!(c.user, Some(UserSpec { user: Id::Num(1000), group: Some(Id::Name(b"users".to_vec())) }));
        assert_eq!(c.env, vec![b"A=1".to_vec()]);
        assert_eq!(c.workdir.as_deref(), Some(&b"/work"[..]));
        assert_eq!(
            c.rlimits,
            vec![Rlimit { resource: 7, soft: 1024, hard: 4096 }, Rlimit { resource: 4, soft: 0, hard: 0 }]
        );
        assert_eq!(c.namespaces & (CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), 0);
        assert_eq!(c.namespaces & CLONE_NEWNS, CLONE_NEWNS);
        assert_eq!(c.joins, vec![Join { kind: CLONE_NEWUTS, path: b"/proc/1/ns/uts".to_vec() }]);
        assert_eq!(c.uid_maps, vec![IdMap { inside: 0, outside: 1000, count: 1 }]);
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
        assert!(parse("--join user:/proc/1/ns/user /r x").map(|c| !c.wants_userns(1000)).unwrap());
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
        for bad in ["12x", "-1", "", "m", "1.5g", "99999999999999999999", "17179869184g"] {
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
            !valid_cpu_list(b"3-1") && !valid_cpu_list(b"0,") && !valid_cpu_list(b"a") && !valid_cpu_list(b"1-2-3")
        );
        assert_eq!(parse_map(b"0:100000:65536"), Some(IdMap { inside: 0, outside: 100000, count: 65536 }));
        assert_eq!(parse_map(b"0:4294967295:2"), None);
        assert_eq!(parse_map(b"0:1:0"), None);
        assert_eq!(parse_rlimit(b"RLIMIT_NOFILE=unlimited").map(|r| r.soft), Some(RLIM_INFINITY));
        assert_eq!(parse_rlimit(b"nofile=10:5"), None);
        assert_eq!(parse_rlimit(b"bogus=1"), None);
    }

    #[test]
    fn every_name_finds_its_own_option() {
        // OPTS and KINDS are parallel arrays: a shift would swap options.
        for (name, want) in [("--image", Opt::Image), ("-u", Opt::User), ("--workdir", Opt::Workdir), ("--rm", Opt::Rm)]
        {
            assert!(lookup(name.as_bytes()).is_ok_and(|(n, o, _)| n == name && o == want), "{name}");
        }
        assert!(lookup(b"--im").is_err() && lookup(b"--memory-swap=1").is_ok_and(|(n, ..)| n == "--memory-swap"));
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
            ("--bogus /r x", "husk: run --bogus: unknown option (see husk run --help)"),
            ("--memory 12x /r x", "husk: --memory 12x: bad size: want N[k|m|g]"),
            ("--memory -1 /r x", "husk: --memory -1: bad size: want N[k|m|g]"),
            ("--memory 99999999999g /r x", "husk: --memory 99999999999g: bad size: want N[k|m|g]"),
            ("--memory 4k /r x", "husk: --memory 4k: too small to start a container (1m at least)"),
            ("--cap-add CAP_BOGUS /r x", "husk: --cap-add CAP_BOGUS: unknown capability"),
            ("--bind /a /r x", "husk: --bind /a: want SRC:DST[:ro]"),
            ("--bind /a:/b:rx /r x", "husk: --bind /a:/b:rx: want SRC:DST[:ro]"),
            ("--bind /a:b /r x", "husk: --bind b: must be an absolute path"),
            ("--bind /a:/b/../../etc /r x", "husk: --bind /b/../../etc: escapes the root through '..'"),
            ("--tmpfs /t:12x /r x", "husk: --tmpfs /t:12x: bad size: want N[k|m|g]"),
            ("--name -bad /r x", "husk: --name -bad: bad name: want [A-Za-z0-9][A-Za-z0-9_.-]{0,63}"),
            ("--read-only --upper /u /r x", "husk: --read-only: excludes --upper"),
            ("--share mnt /r x", "husk: --share mnt: the mount namespace is always new"),
            ("--join time:/x /r x", "husk: --join time:/x: TYPE is one of net ipc uts pid mnt user cgroup"),
            ("--cpus 0 /r x", "husk: --cpus 0: want a number of CPUs like 1.5"),
            ("--pids 0 /r x", "husk: --pids 0: want a positive number"),
            ("--cpu-weight 10001 /r x", "husk: --cpu-weight 10001: want 1..10000"),
            ("--rlimit nofile=2:1 /r x", "husk: --rlimit nofile=2:1: want NAME=SOFT[:HARD] with SOFT <= HARD"),
            ("--no-init --init /i /r x", "husk: --init /i: --init and --no-init exclude each other"),
            ("-e NOVALUE /r x", "husk: -e NOVALUE: want KEY=VALUE"),
            ("--memory 2m --memory-swap 1m /r x", "husk: --memory-swap: must be at least --memory"),
            ("--read-only=yes /r x", "husk: --read-only --read-only=yes: takes no value"),
            ("/r", "husk: run: missing COMMAND (see husk run --help)"),
            ("--name", "husk: --name: needs a value"),
            ("", "husk: run: missing ROOTFS (see husk run --help)"),
            ("/a::/b x", "husk: rootfs /a::/b: empty layer in DIR:DIR:..."),
        ];
        for (line, want) in table {
            assert_eq!(err(line), want, "{line}");
        }
    }
}
