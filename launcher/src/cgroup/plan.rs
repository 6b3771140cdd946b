//! The cgroup file plan: which files a set of limits writes, with which
//! values, for cgroup v2 and for v1. Pure functions, no syscalls, so every
//! value and conversion is unit-tested without root.
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
use husk_sys::fmt::Sink;
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

/// One file to write in the leaf cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knob {
    /// The controller: v2 name (`io`) in a v2 plan, v1 hierarchy (`blkio`) in a v1 plan.
    pub ctrl: &'static str,
    pub file: &'static str,
    pub value: String,
    /// Written instead when `file` does not exist: BFQ's weight file, which
    /// replaced CFQ's `blkio.weight` when the legacy schedulers were removed (5.0).
    pub alt: Option<(&'static str, String)>,
    /// What a missing `file` means, for the error line.
    pub missing: &'static str,
}

fn knob(ctrl: &'static str, file: &'static str, value: String) -> Knob {
    Knob {
        ctrl,
        file,
        value,
        alt: None,
        missing: "",
    }
}

/// A controller as husk's options see it, with its v2 and v1 names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Controller {
    pub v2: &'static str,
    pub v1: &'static str,
    /// The option that needs it, for "no controller" errors.
    pub option: &'static str,
}

pub const CPUSET: Controller = Controller {
    v2: "cpuset",
    v1: "cpuset",
    option: "--cpuset-cpus/--cpuset-mems",
};
pub const MEMORY: Controller = Controller {
    v2: "memory",
    v1: "memory",
    option: "--memory",
};
pub const CPU: Controller = Controller {
    v2: "cpu",
    v1: "cpu",
    option: "--cpus/--cpu-weight",
};
pub const PIDS: Controller = Controller {
    v2: "pids",
    v1: "pids",
    option: "--pids",
};
pub const IO: Controller = Controller {
    v2: "io",
    v1: "blkio",
    option: "--io-weight",
};

/// The controllers the asked-for limits need, in the order they are written.
pub fn controllers(res: &Resources) -> Vec<Controller> {
    let mut v = Vec::new();
    if res.cpuset_cpus.is_some() || res.cpuset_mems.is_some() {
        v.push(CPUSET);
    }
    if res.memory.is_some() || res.memory_swap.is_some() {
        v.push(MEMORY);
    }
    if res.cpus_milli.is_some() || res.cpu_weight.is_some() {
        v.push(CPU);
    }
    if res.pids.is_some() {
        v.push(PIDS);
    }
    if res.io_weight.is_some() {
        v.push(IO);
    }
    v
}

/// Decimal text of `n`.
pub fn num(n: u64) -> String {
    let mut tmp = [0u8; 20];
    let len = husk_sys::fmt::fmt_u64(n, &mut tmp);
    tmp[20 - len..].iter().map(|&d| d as char).collect()
}

fn bad(option: &'static str, value: &[u8], why: &'static str) -> Error {
    Error::msg(option, value, why)
}

fn bad_num(option: &'static str, n: u64, why: &'static str) -> Error {
    let mut b = CBuf::<24>::new();
    b.u(n);
    bad(option, b.bytes(), why)
}

/// Check every limit before anything is created.
pub fn validate(res: &Resources) -> Result<(), Error> {
    if let Some(m) = res.memory {
        if m < MIN_MEMORY {
            return Err(bad_num(
                "--memory",
                m,
                "below 1m, too small for a container to start",
            ));
        }
    }
    if let Some(s) = res.memory_swap {
        match res.memory {
            None => {
                return Err(bad_num(
                    "--memory-swap",
                    s,
                    "needs --memory (it is memory plus swap)",
                ))
            }
            Some(m) if s < m => {
                return Err(bad_num(
                    "--memory-swap",
                    s,
                    "less than --memory (it is memory plus swap)",
                ))
            }
            _ => {}
        }
    }
    if let Some(c) = res.cpus_milli {
        if c < MIN_CPUS_MILLI {
            return Err(bad_num(
                "--cpus",
                c,
                "below 0.01 (the kernel's 1 ms quota minimum)",
            ));
        }
        if c.checked_mul(CPU_PERIOD_US / 1000)
            .is_none_or(|q| q > i64::MAX as u64)
        {
            return Err(bad_num("--cpus", c, "too large"));
        }
    }
    if let Some(w) = res.cpu_weight {
        if !(1..=10000).contains(&w) {
            return Err(bad_num("--cpu-weight", w as u64, "must be 1..10000"));
        }
    }
    if let Some(w) = res.io_weight {
        if !(1..=10000).contains(&w) {
            return Err(bad_num("--io-weight", w as u64, "must be 1..10000"));
        }
    }
    if res.pids == Some(0) {
        return Err(bad("--pids", b"0", "must be at least 1"));
    }
    if let Some(l) = &res.cpuset_cpus {
        check_list("--cpuset-cpus", l)?;
    }
    if let Some(l) = &res.cpuset_mems {
        check_list("--cpuset-mems", l)?;
    }
    Ok(())
}

/// A kernel cpu/node list: `0-3,5,7-8`. Whether the ids exist is the
/// kernel's call (EINVAL on write).
pub fn check_list(option: &'static str, list: &str) -> Result<(), Error> {
    let ok = !list.is_empty()
        && list.split(',').all(|item| {
            let mut ends = item.splitn(2, '-');
            let lo = ends
                .next()
                .and_then(|s| husk_sys::fmt::parse_u64(s.as_bytes()));
            match (lo, ends.next()) {
                (Some(_), None) => true,
                (Some(a), Some(b)) => {
                    husk_sys::fmt::parse_u64(b.as_bytes()).is_some_and(|b| a <= b)
                }
                _ => false,
            }
        });
    if ok {
        Ok(())
    } else {
        Err(bad(option, list.as_bytes(), "not a list like 0-3,5"))
    }
}

/// `cpu.shares` for a v2 weight: systemd's `cgroup_cpu_weight_to_shares()`.
/// 100 (v2 default) -> 1024 (v1 default); 1 -> 10; 10000 -> 102400.
pub fn weight_to_shares(w: u32) -> u64 {
    (w as u64 * 1024 / 100).clamp(2, 262_144)
}

/// `blkio.weight` (CFQ, 10..1000, default 500) for a v2 io weight:
/// systemd's `cgroup_weight_io_to_blkio()`. 100 -> 500.
pub fn weight_to_blkio(w: u32) -> u64 {
    (w as u64 * 500 / 100).clamp(10, 1000)
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

fn cpu_quota(milli: u64) -> u64 {
    milli * (CPU_PERIOD_US / 1000)
}

/// The v2 files for `res`, in write order. Call [`validate`] first.
pub fn plan_v2(res: &Resources) -> Vec<Knob> {
    let mut v = Vec::new();
    if let Some(l) = &res.cpuset_cpus {
        v.push(knob("cpuset", "cpuset.cpus", l.clone()));
    }
    if let Some(l) = &res.cpuset_mems {
        v.push(knob("cpuset", "cpuset.mems", l.clone()));
    }
    if let Some(m) = res.memory {
        v.push(knob("memory", "memory.max", num(m)));
        if let Some(s) = res.memory_swap {
            // v2 limits swap alone; docker's option is memory plus swap.
            let swap = if s == u64::MAX {
                "max".into()
            } else {
                num(s.saturating_sub(m))
            };
            let mut k = knob("memory", "memory.swap.max", swap);
            k.missing = "no swap accounting in this kernel (CONFIG_MEMCG_SWAP, swapaccount=1)";
            v.push(k);
        }
    }
    if let Some(c) = res.cpus_milli {
        let mut s = num(cpu_quota(c));
        s.push(' ');
        s.push_str(&num(CPU_PERIOD_US));
        v.push(knob("cpu", "cpu.max", s));
    }
    if let Some(w) = res.cpu_weight {
        v.push(knob("cpu", "cpu.weight", num(w as u64)));
    }
    if let Some(p) = res.pids {
        v.push(knob("pids", "pids.max", num(p)));
    }
    if let Some(w) = res.io_weight {
        let mut s = String::from("default ");
        s.push_str(&num(w as u64));
        let mut k = knob("io", "io.weight", s);
        k.alt = Some(("io.bfq.weight", num(weight_to_bfq(w))));
        k.missing = "no io weight in this kernel (neither iocost nor BFQ)";
        v.push(k);
    }
    v
}

/// The v1 files for `res`, in write order. Call [`validate`] first.
/// cpuset.cpus/mems of new parent levels are copied separately (see cgroup.rs).
pub fn plan_v1(res: &Resources) -> Vec<Knob> {
    let mut v = Vec::new();
    if let Some(l) = &res.cpuset_cpus {
        v.push(knob("cpuset", "cpuset.cpus", l.clone()));
    }
    if let Some(l) = &res.cpuset_mems {
        v.push(knob("cpuset", "cpuset.mems", l.clone()));
    }
    if let Some(m) = res.memory {
        // memsw must never be below limit_in_bytes (EINVAL), so the memory
        // limit goes first; in a new cgroup both start unlimited.
        v.push(knob("memory", "memory.limit_in_bytes", num(m)));
        if let Some(s) = res.memory_swap {
            let val = if s == u64::MAX { "-1".into() } else { num(s) };
            let mut k = knob("memory", "memory.memsw.limit_in_bytes", val);
            k.missing = "swap accounting is off in this kernel (boot with swapaccount=1)";
            v.push(k);
        }
    }
    if let Some(c) = res.cpus_milli {
        v.push(knob("cpu", "cpu.cfs_period_us", num(CPU_PERIOD_US)));
        v.push(knob("cpu", "cpu.cfs_quota_us", num(cpu_quota(c))));
    }
    if let Some(w) = res.cpu_weight {
        v.push(knob("cpu", "cpu.shares", num(weight_to_shares(w))));
    }
    if let Some(p) = res.pids {
        v.push(knob("pids", "pids.max", num(p)));
    }
    if let Some(w) = res.io_weight {
        let mut k = knob("blkio", "blkio.weight", num(weight_to_blkio(w)));
        k.alt = Some(("blkio.bfq.weight", num(weight_to_bfq(w))));
        k.missing = "no blkio weight in this kernel (neither CFQ nor BFQ)";
        v.push(k);
    }
    v
}

/// What a misleading errno from writing `file` really means, if known.
pub fn explain(file: &str, errno: husk_sys::Errno) -> &'static str {
    use husk_sys::Errno;
    match (file, errno) {
        // v1 tries to reclaim down to the new limit and gives up with EBUSY.
        ("memory.limit_in_bytes" | "memory.memsw.limit_in_bytes", Errno::EBUSY) => {
            "memory limit below current usage"
        }
        ("cpuset.cpus", Errno::EINVAL) => "not a subset of the CPUs of the parent cgroup",
        ("cpuset.mems", Errno::EINVAL) => "not a subset of the memory nodes of the parent cgroup",
        ("cpuset.cpus", Errno::ERANGE) => "no such CPU on this host",
        ("cpuset.mems", Errno::ERANGE) => "no such memory node on this host",
        ("cpuset.cpus" | "cpuset.mems", Errno::ENOSPC) => {
            "the parent cgroup has no CPUs or memory nodes"
        }
        ("cpu.cfs_quota_us" | "cpu.max", Errno::EINVAL) => "quota outside the kernel's range",
        ("cgroup.subtree_control", Errno::EBUSY) => {
            "the parent cgroup has processes of its own (v2 no-internal-process rule)"
        }
        ("cgroup.subtree_control", Errno::ENOENT) => {
            "controller not available in the parent cgroup"
        }
        ("cgroup.procs", Errno::ENOSPC) => "cpuset of the cgroup is empty",
        ("cgroup.procs", Errno::EAGAIN) => "pids limit reached",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        p.iter()
            .map(|k| (k.ctrl, k.file, k.value.as_str()))
            .collect()
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
        let r = Resources {
            pids: Some(2),
            ..Default::default()
        };
        assert_eq!(files(&plan_v2(&r)), [("pids", "pids.max", "2")]);
        assert_eq!(controllers(&r), [PIDS]);
        let r = Resources {
            memory: Some(1 << 20),
            ..Default::default()
        };
        assert_eq!(
            files(&plan_v1(&r)),
            [("memory", "memory.limit_in_bytes", "1048576")]
        );
    }

    #[test]
    fn unlimited_swap_is_max_on_v2_and_minus_one_on_v1() {
        let r = Resources {
            memory: Some(8 << 20),
            memory_swap: Some(u64::MAX),
            ..Default::default()
        };
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
                Resources {
                    memory: Some(4096),
                    ..d()
                },
                "husk: --memory 4096: below 1m, too small for a container to start",
            ),
            (
                Resources {
                    memory_swap: Some(1 << 30),
                    ..d()
                },
                "husk: --memory-swap 1073741824: needs --memory (it is memory plus swap)",
            ),
            (
                Resources {
                    memory: Some(2 << 20),
                    memory_swap: Some(1 << 20),
                    ..d()
                },
                "husk: --memory-swap 1048576: less than --memory (it is memory plus swap)",
            ),
            (
                Resources {
                    cpus_milli: Some(5),
                    ..d()
                },
                "husk: --cpus 5: below 0.01 (the kernel's 1 ms quota minimum)",
            ),
            (
                Resources {
                    cpus_milli: Some(u64::MAX / 10),
                    ..d()
                },
                "husk: --cpus 1844674407370955161: too large",
            ),
            (
                Resources {
                    cpu_weight: Some(0),
                    ..d()
                },
                "husk: --cpu-weight 0: must be 1..10000",
            ),
            (
                Resources {
                    io_weight: Some(10001),
                    ..d()
                },
                "husk: --io-weight 10001: must be 1..10000",
            ),
            (
                Resources {
                    pids: Some(0),
                    ..d()
                },
                "husk: --pids 0: must be at least 1",
            ),
            (
                Resources {
                    cpuset_cpus: Some("0-".into()),
                    ..d()
                },
                "husk: --cpuset-cpus 0-: not a list like 0-3,5",
            ),
            (
                Resources {
                    cpuset_mems: Some("3-1".into()),
                    ..d()
                },
                "husk: --cpuset-mems 3-1: not a list like 0-3,5",
            ),
            (
                Resources {
                    cpuset_cpus: Some("0 ,1".into()),
                    ..d()
                },
                "husk: --cpuset-cpus 0 ,1: not a list like 0-3,5",
            ),
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
