//! The cgroup file plan: which files a set of limits writes, with which
//! values, for cgroup v2 and for v1. Pure functions over one table of files,
//! no syscalls, so every value and conversion is unit-tested without root.
//!
//! v1 has no weights of its own, so the v2-style options are converted the
//! way systemd converts them (src/core/cgroup.c, src/basic/cgroup-util.h):
//! linearly, so that the default maps to the default and the ratio between
//! two containers is kept, clamped to the v1 range.
//!
//! | option          | v2 file                      | v1 file                                    |
//! |-----------------|------------------------------|--------------------------------------------|
//! | `--memory M`    | memory.max = M               | memory.limit_in_bytes = M                  |
//! | `--memory-swap S` | memory.swap.max = S - M    | memory.memsw.limit_in_bytes = S (after M)  |
//! | `--cpus C`      | cpu.max = "C*100000 100000"  | cpu.cfs_period_us = 100000, cpu.cfs_quota_us = C*100000 |
//! | `--cpu-weight W`| cpu.weight = W               | cpu.shares = clamp(W * 1024 / 100, 2, 262144) |
//! | `--pids N`      | pids.max = N                 | pids.max = N                               |
//! | `--cpuset-*`    | cpuset.cpus / cpuset.mems    | the same files                             |
//! | `--io-weight W` | io.weight = "default W", else io.bfq.weight | blkio.weight = clamp(W * 500 / 100, 10, 1000), else blkio.bfq.weight |
//!
//! BFQ's weight (1..1000, default 100) is mapped piecewise: 1..100 stay as
//! they are, 100..10000 scale onto 100..1000 (systemd's `BFQ_WEIGHT()`).
//! `--memory-swap` is docker's "memory plus swap" total; u64::MAX means
//! unlimited swap ("max" on v2, -1 on v1).

use super::Resources;
use alloc::string::String;
use alloc::vec::Vec;
use husk_sys::errno::Errno;
use husk_sys::fmt::{parse_u64, Sink};
use husk_sys::{CBuf, Error};

/// The smallest `--memory` husk accepts. Measured on kernel 6.18: a
/// dynamically linked /bin/true peaks at 256 KiB of charged memory, and the
/// container's mount namespace, tmpfs /dev and husk-init add to it; below
/// this a container would only die of OOM (137) before running anything.
/// The bench's `--memory 1m --pids 2` must still work, so 1 MiB it is.
pub const MIN_MEMORY: u64 = 1 << 20;
/// CFS period husk uses for `--cpus`, the kernel's default (100 ms).
pub const CPU_PERIOD_US: u64 = 100_000;
/// The kernel refuses a CFS quota under 1 ms (`min_cfs_quota_period`), i.e.
/// `--cpus 0.01` with a 100 ms period.
pub const MIN_CPUS_MILLI: u64 = 10;

/// A controller as husk's options see it, with its v2 and v1 names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Controller {
    pub v2: &'static str,
    pub v1: &'static str,
    /// The option that needs it, for "no controller" errors.
    pub option: &'static str,
}

const fn ctrl(v2: &'static str, v1: &'static str, option: &'static str) -> Controller {
    Controller { v2, v1, option }
}
pub const CPUSET: Controller = ctrl("cpuset", "cpuset", "--cpuset-cpus/--cpuset-mems");
pub const MEMORY: Controller = ctrl("memory", "memory", "--memory");
pub const CPU: Controller = ctrl("cpu", "cpu", "--cpus/--cpu-weight");
pub const PIDS: Controller = ctrl("pids", "pids", "--pids");
pub const IO: Controller = ctrl("io", "blkio", "--io-weight");
/// In write order; `FILES` refers to them by index.
pub static CONTROLLERS: [Controller; 5] = [CPUSET, MEMORY, CPU, PIDS, IO];

/// The files a plan writes, in write order: (controller index, [v1 file,
/// v2 file]); "" = none in that version. memsw must never be below
/// limit_in_bytes (EINVAL), so the memory limit goes first. The last row is
/// not planned: it is BFQ's weight, written instead of the io row's file
/// when that is missing (CFQ's `blkio.weight` went with the legacy
/// schedulers in 5.0, and io.weight needs iocost).
pub static FILES: [(usize, [&str; 2]); 10] = [
    (0, ["cpuset.cpus", "cpuset.cpus"]),
    (0, ["cpuset.mems", "cpuset.mems"]),
    (1, ["memory.limit_in_bytes", "memory.max"]),
    (1, ["memory.memsw.limit_in_bytes", "memory.swap.max"]),
    (2, ["cpu.cfs_period_us", ""]),
    (2, ["cpu.cfs_quota_us", "cpu.max"]),
    (2, ["cpu.shares", "cpu.weight"]),
    (3, ["pids.max", "pids.max"]),
    (4, ["blkio.weight", "io.weight"]),
    (4, ["blkio.bfq.weight", "io.bfq.weight"]),
];
/// Rows of `FILES` that are planned; the one after them is the BFQ fallback.
pub const PLANNED: usize = 9;

/// The controllers the asked-for limits need, as bits of `CONTROLLERS`.
pub fn asked(res: &Resources) -> u32 {
    let mut mask = 0;
    for (row, &(c, _)) in FILES[..PLANNED].iter().enumerate() {
        if value(res, row, false, &mut Vec::new()) {
            mask |= 1 << c;
        }
    }
    mask
}

/// Append the value of row `row` of `FILES` for `res` to `out`; false when
/// the limit was not asked. Call [`validate`] first.
pub fn value(res: &Resources, row: usize, v2: bool, out: &mut Vec<u8>) -> bool {
    let (mut pre, mut post) = ("", "");
    let n = match row {
        0 | 1 => {
            let l = if row == 0 { &res.cpuset_cpus } else { &res.cpuset_mems };
            return l.as_ref().map(|l| out.s(l)).is_some();
        }
        2 => res.memory,
        3 => match (res.memory, res.memory_swap) {
            (Some(_), Some(u64::MAX)) => {
                out.s(if v2 { "max" } else { "-1" });
                return true;
            }
            // v2 limits swap alone; docker's option is memory plus swap.
            (Some(m), Some(s)) => Some(if v2 { s.saturating_sub(m) } else { s }),
            _ => None,
        },
        4 => res.cpus_milli.filter(|_| !v2).map(|_| CPU_PERIOD_US),
        5 => {
            if v2 {
                post = " 100000";
            }
            res.cpus_milli.map(|c| c * (CPU_PERIOD_US / 1000))
        }
        6 => res.cpu_weight.map(|w| if v2 { w as u64 } else { weight_to_shares(w) }),
        7 => res.pids,
        8 => {
            if v2 {
                pre = "default ";
            }
            res.io_weight.map(|w| if v2 { w as u64 } else { weight_to_blkio(w) })
        }
        _ => res.io_weight.map(weight_to_bfq),
    };
    n.map(|n| out.s(pre).u(n).s(post)).is_some()
}

#[cold]
#[inline(never)]
fn bad(option: &'static str, n: u64, why: &'static str) -> Error {
    let mut b = CBuf::<24>::new();
    b.u(n);
    Error::msg(option, b.bytes(), why)
}

/// Check every limit before anything is created.
pub fn validate(res: &Resources) -> Result<(), Error> {
    let (mem, swap) = (res.memory, res.memory_swap);
    let c = res.cpus_milli.unwrap_or(MIN_CPUS_MILLI);
    let (cw, iw) = (res.cpu_weight.unwrap_or(1), res.io_weight.unwrap_or(1));
    let s = swap.unwrap_or(0);
    let (option, n, why) = if mem.is_some_and(|m| m < MIN_MEMORY) {
        ("--memory", mem.unwrap_or(0), "below 1m, too small for a container to start")
    } else if swap.is_some() && mem.is_none() {
        ("--memory-swap", s, "needs --memory (it is memory plus swap)")
    } else if swap.unwrap_or(u64::MAX) < mem.unwrap_or(0) {
        ("--memory-swap", s, "less than --memory (it is memory plus swap)")
    } else if c < MIN_CPUS_MILLI {
        ("--cpus", c, "below 0.01 (the kernel's 1 ms quota minimum)")
    } else if c > i64::MAX as u64 / 100 {
        // The quota in µs must fit the kernel's s64.
        ("--cpus", c, "too large")
    } else if !(1..=10000).contains(&cw) {
        ("--cpu-weight", cw as u64, "must be 1..10000")
    } else if !(1..=10000).contains(&iw) {
        ("--io-weight", iw as u64, "must be 1..10000")
    } else if res.pids == Some(0) {
        ("--pids", 0, "must be at least 1")
    } else {
        ("", 0, "")
    };
    if !option.is_empty() {
        return Err(bad(option, n, why));
    }
    check_list("--cpuset-cpus", &res.cpuset_cpus)?;
    check_list("--cpuset-mems", &res.cpuset_mems)
}

/// A kernel cpu/node list: `0-3,5,7-8`. Whether the ids exist is the
/// kernel's call (EINVAL on write).
fn check_list(option: &'static str, list: &Option<String>) -> Result<(), Error> {
    let Some(list) = list else { return Ok(()) };
    let mut ok = !list.is_empty();
    for item in list.as_bytes().split(|&c| c == b',') {
        let mut ends = item.splitn(2, |&c| c == b'-');
        let a = ends.next().unwrap_or(b"");
        let b = ends.next().unwrap_or(a);
        ok &= matches!((parse_u64(a), parse_u64(b)), (Some(a), Some(b)) if a <= b);
    }
    if ok {
        return Ok(());
    }
    Err(Error::msg(option, list.as_bytes(), "not a list like 0-3,5"))
}

/// `cpu.shares` for a v2 weight: systemd's `cgroup_cpu_weight_to_shares()`.
/// 100 (v2 default) -> 1024 (v1 default); 1 -> 10; 10000 -> 102400.
pub fn weight_to_shares(w: u32) -> u64 {
    (w as u64 * 1024 / 100).clamp(2, 262_144)
}

/// `blkio.weight` (CFQ, 10..1000, default 500) for a v2 io weight:
/// systemd's `cgroup_weight_io_to_blkio()`. 100 -> 500.
pub fn weight_to_blkio(w: u32) -> u64 {
    (w as u64 * 5).clamp(10, 1000)
}

/// BFQ's weight (1..1000, default 100) for a v2 io weight: systemd's
/// `BFQ_WEIGHT()`, identity up to the default, then 100..10000 onto 100..1000.
pub fn weight_to_bfq(w: u32) -> u64 {
    let w = w.clamp(1, 10000) as u64;
    if w <= 100 {
        w
    } else {
        100 + (w - 100) * 900 / 9900
    }
}

/// What an errno from writing a file really means, where the kernel
/// misleads: (file, errno, meaning). ENOENT on a planned file means the
/// kernel lacks the feature.
const EXPLAIN: [(&str, Errno, &str); 18] = [
    // v1 tries to reclaim down to the new limit and gives up with EBUSY.
    ("memory.limit_in_bytes", Errno::EBUSY, "memory limit below current usage"),
    ("memory.memsw.limit_in_bytes", Errno::EBUSY, "memory limit below current usage"),
    ("memory.memsw.limit_in_bytes", Errno::ENOENT, "swap accounting is off in this kernel (boot with swapaccount=1)"),
    ("memory.swap.max", Errno::ENOENT, "no swap accounting in this kernel (CONFIG_MEMCG_SWAP, swapaccount=1)"),
    ("io.weight", Errno::ENOENT, "no io weight in this kernel (neither iocost nor BFQ)"),
    ("blkio.weight", Errno::ENOENT, "no blkio weight in this kernel (neither CFQ nor BFQ)"),
    ("cpuset.cpus", Errno::EINVAL, "not a subset of the CPUs of the parent cgroup"),
    ("cpuset.mems", Errno::EINVAL, "not a subset of the memory nodes of the parent cgroup"),
    ("cpuset.cpus", Errno::ERANGE, "no such CPU on this host"),
    ("cpuset.mems", Errno::ERANGE, "no such memory node on this host"),
    ("cpuset.cpus", Errno::ENOSPC, "the parent cgroup has no CPUs or memory nodes"),
    ("cpuset.mems", Errno::ENOSPC, "the parent cgroup has no CPUs or memory nodes"),
    ("cpu.cfs_quota_us", Errno::EINVAL, "quota outside the kernel's range"),
    ("cpu.max", Errno::EINVAL, "quota outside the kernel's range"),
    (
        "cgroup.subtree_control",
        Errno::EBUSY,
        "the parent cgroup has processes of its own (v2 no-internal-process rule)",
    ),
    ("cgroup.subtree_control", Errno::ENOENT, "controller not available in the parent cgroup"),
    ("cgroup.procs", Errno::ENOSPC, "cpuset of the cgroup is empty"),
    ("cgroup.procs", Errno::EAGAIN, "pids limit reached"),
];

/// What a misleading errno from writing `file` really means, if known.
pub fn explain(file: &str, errno: Errno) -> &'static str {
    for (f, e, why) in &EXPLAIN {
        if *f == file && *e == errno {
            return why;
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One planned file, as the tests look at it.
    #[derive(Debug)]
    struct Knob {
        ctrl: &'static str,
        file: &'static str,
        value: String,
        alt: Option<(&'static str, String)>,
    }

    fn text(res: &Resources, row: usize, v2: bool) -> Option<String> {
        let mut v = Vec::new();
        value(res, row, v2, &mut v).then(|| String::from_utf8(v).unwrap())
    }

    fn plan(res: &Resources, v2: bool) -> Vec<Knob> {
        let mut p = Vec::new();
        for (row, &(c, files)) in FILES[..PLANNED].iter().enumerate() {
            if let Some(value) = text(res, row, v2) {
                let c = CONTROLLERS[c];
                let alt =
                    (row == PLANNED - 1).then(|| (FILES[PLANNED].1[v2 as usize], text(res, PLANNED, v2).unwrap()));
                p.push(Knob { ctrl: if v2 { c.v2 } else { c.v1 }, file: files[v2 as usize], value, alt });
            }
        }
        p
    }
    fn plan_v2(res: &Resources) -> Vec<Knob> {
        plan(res, true)
    }
    fn plan_v1(res: &Resources) -> Vec<Knob> {
        plan(res, false)
    }
    fn controllers(res: &Resources) -> Vec<Controller> {
        let m = asked(res);
        CONTROLLERS.iter().enumerate().filter(|(i, _)| m & 1 << i != 0).map(|(_, &c)| c).collect()
    }

    fn all() -> Resources {
        Resources {
            memory: Some(64 << 20),
            memory_swap: Some(96 << 20),
            cpus_milli: Some(1500),
            cpu_weight: Some(200),
            pids: Some(64),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            io_weight: Some(100),
        }
    }

    fn files(p: &[Knob]) -> Vec<(&str, &str, &str)> {
        p.iter().map(|k| (k.ctrl, k.file, k.value.as_str())).collect()
    }

    #[test]
    fn v2_plan_writes_every_asked_limit_in_kernel_format() {
        let p = plan_v2(&all());
        assert_eq!(
            files(&p),
            [
                ("cpuset", "cpuset.cpus", "0-1"),
                ("cpuset", "cpuset.mems", "0"),
                ("memory", "memory.max", "67108864"),
                ("memory", "memory.swap.max", "33554432"),
                ("cpu", "cpu.max", "150000 100000"),
                ("cpu", "cpu.weight", "200"),
                ("pids", "pids.max", "64"),
                ("io", "io.weight", "default 100"),
            ]
        );
        assert_eq!(p[7].alt, Some(("io.bfq.weight", "100".into())));
    }

    #[test]
    fn plans_write_nothing_that_was_not_asked() {
        assert!(plan_v2(&Resources::default()).is_empty());
        assert!(plan_v1(&Resources::default()).is_empty());
        assert!(controllers(&Resources::default()).is_empty());
        let r = Resources { pids: Some(2), ..Default::default() };
        assert_eq!(files(&plan_v2(&r)), [("pids", "pids.max", "2")]);
        assert_eq!(controllers(&r), [PIDS]);
        let r = Resources { memory: Some(1 << 20), ..Default::default() };
        assert_eq!(files(&plan_v1(&r)), [("memory", "memory.limit_in_bytes", "1048576")]);
    }

    #[test]
    fn unlimited_swap_is_max_on_v2_and_minus_one_on_v1() {
        let r = Resources { memory: Some(8 << 20), memory_swap: Some(u64::MAX), ..Default::default() };
        assert_eq!(plan_v2(&r)[1].value, "max");
        assert_eq!(plan_v1(&r)[1].value, "-1");
    }

    #[test]
    fn v1_plan_converts_and_orders_memory_before_memsw() {
        let p = plan_v1(&all());
        assert_eq!(
            files(&p),
            [
                ("cpuset", "cpuset.cpus", "0-1"),
                ("cpuset", "cpuset.mems", "0"),
                ("memory", "memory.limit_in_bytes", "67108864"),
                ("memory", "memory.memsw.limit_in_bytes", "100663296"),
                ("cpu", "cpu.cfs_period_us", "100000"),
                ("cpu", "cpu.cfs_quota_us", "150000"),
                ("cpu", "cpu.shares", "2048"),
                ("pids", "pids.max", "64"),
                ("blkio", "blkio.weight", "500"),
            ]
        );
        assert_eq!(p[8].alt, Some(("blkio.bfq.weight", "100".into())));
    }

    #[test]
    fn weight_conversions_map_defaults_to_defaults_and_clamp() {
        // (v2 weight, cpu.shares, blkio.weight, bfq weight)
        let table = [
            (1, 10, 10, 1),
            (2, 20, 10, 2),
            (50, 512, 250, 50),
            (100, 1024, 500, 100),
            (200, 2048, 1000, 109),
            (1000, 10240, 1000, 181),
            (10000, 102_400, 1000, 1000),
        ];
        for (w, shares, blkio, bfq) in table {
            assert_eq!(weight_to_shares(w), shares, "shares for {w}");
            assert_eq!(weight_to_blkio(w), blkio, "blkio for {w}");
            assert_eq!(weight_to_bfq(w), bfq, "bfq for {w}");
        }
    }

    fn err(r: Resources) -> String {
        let mut b = CBuf::<300>::new();
        validate(&r).unwrap_err().render("husk", &mut b);
        String::from_utf8(b.bytes().to_vec()).unwrap()
    }

    #[test]
    fn bad_limits_are_refused_with_the_option_and_value() {
        let d = Resources::default;
        let cases = [
            (
                Resources { memory: Some(4096), ..d() },
                "husk: --memory 4096: below 1m, too small for a container to start",
            ),
            (
                Resources { memory_swap: Some(1 << 30), ..d() },
                "husk: --memory-swap 1073741824: needs --memory (it is memory plus swap)",
            ),
            (
                Resources { memory: Some(2 << 20), memory_swap: Some(1 << 20), ..d() },
                "husk: --memory-swap 1048576: less than --memory (it is memory plus swap)",
            ),
            (Resources { cpus_milli: Some(5), ..d() }, "husk: --cpus 5: below 0.01 (the kernel's 1 ms quota minimum)"),
            (Resources { cpus_milli: Some(u64::MAX / 10), ..d() }, "husk: --cpus 1844674407370955161: too large"),
            (Resources { cpu_weight: Some(0), ..d() }, "husk: --cpu-weight 0: must be 1..10000"),
            (Resources { io_weight: Some(10001), ..d() }, "husk: --io-weight 10001: must be 1..10000"),
            (Resources { pids: Some(0), ..d() }, "husk: --pids 0: must be at least 1"),
            (Resources { cpuset_cpus: Some("0-".into()), ..d() }, "husk: --cpuset-cpus 0-: not a list like 0-3,5"),
            (Resources { cpuset_mems: Some("3-1".into()), ..d() }, "husk: --cpuset-mems 3-1: not a list like 0-3,5"),
            (Resources { cpuset_cpus: Some("0 ,1".into()), ..d() }, "husk: --cpuset-cpus 0 ,1: not a list like 0-3,5"),
        ];
        for (r, want) in cases {
            assert_eq!(err(r), want);
        }
    }

    #[test]
    fn limits_at_the_edges_are_accepted() {
        let ok = Resources {
            memory: Some(MIN_MEMORY),
            memory_swap: Some(MIN_MEMORY),
            cpus_milli: Some(10),
            cpu_weight: Some(10000),
            pids: Some(1),
            cpuset_cpus: Some("0,2-3,5-5".into()),
            cpuset_mems: Some("0".into()),
            io_weight: Some(1),
        };
        validate(&ok).unwrap();
        assert_eq!(plan_v2(&ok)[3].value, "0", "swap beyond memory: none");
    }
}
