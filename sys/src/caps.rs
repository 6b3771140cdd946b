//! Capabilities: capget/capset (version 3, 64-bit sets), the bounding and
//! ambient sets through prctl, and capability names.

use crate::errno::SysResult;
use crate::macros::sc;
use crate::process::{
    prctl, PR_CAPBSET_DROP, PR_CAPBSET_READ, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAP_AMBIENT_RAISE,
};

/// Capability names in number order, as in linux/capability.h, separated
/// by spaces: one string instead of a table of 41 string pointers.
const NAME_LIST: &str = "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID \
SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW \
IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT \
SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD \
LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG \
WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE";

/// How many capabilities husk knows by name (0..COUNT).
pub const COUNT: u32 = 41;

/// The name of capability `cap` without `CAP_` (`"SYS_ADMIN"`).
pub fn cap_name(cap: u32) -> Option<&'static str> {
    NAME_LIST.split(' ').nth(cap as usize)
}

/// Docker's default set: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW
/// SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
pub const DOCKER_DEFAULT: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 4)
    | (1 << 3)
    | (1 << 27)
    | (1 << 13)
    | (1 << 6)
    | (1 << 7)
    | (1 << 31)
    | (1 << 8)
    | (1 << 10)
    | (1 << 18)
    | (1 << 5)
    | (1 << 29);

/// Parse `chown`, `CAP_CHOWN` or `Cap_Chown` into a capability number.
pub fn parse_cap(s: &[u8]) -> Option<u32> {
    let s = if s.len() > 4 && s[..4].eq_ignore_ascii_case(b"CAP_") { &s[4..] } else { s };
    NAME_LIST.split(' ').position(|n| n.as_bytes().eq_ignore_ascii_case(s)).map(|i| i as u32)
}

/// The three per-thread sets of capget/capset.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
const VERSION_3: u32 = 0x2008_0522;

/// `int capget(cap_user_header_t hdr, cap_user_data_t data)` for this thread.
pub fn capget() -> SysResult<CapSets> {
    let mut hdr = Header { version: VERSION_3, pid: 0 };
    let mut d = [Data::default(); 2];
    // SAFETY: hdr is a valid header; version 3 writes two data structs.
    unsafe { sc!(capget, &mut hdr as *mut Header, d.as_mut_ptr()) }?;
    let join = |lo: u32, hi: u32| lo as u64 | (hi as u64) << 32;
    Ok(CapSets {
        effective: join(d[0].effective, d[1].effective),
        permitted: join(d[0].permitted, d[1].permitted),
        inheritable: join(d[0].inheritable, d[1].inheritable),
    })
}

/// `int capset(cap_user_header_t hdr, const cap_user_data_t data)` for this thread.
pub fn capset(sets: CapSets) -> SysResult<()> {
    let mut hdr = Header { version: VERSION_3, pid: 0 };
    let d = [
        Data {
            effective: sets.effective as u32,
            permitted: sets.permitted as u32,
            inheritable: sets.inheritable as u32,
        },
        Data {
            effective: (sets.effective >> 32) as u32,
            permitted: (sets.permitted >> 32) as u32,
            inheritable: (sets.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: hdr is a valid header; version 3 reads two data structs.
    unsafe { sc!(capset, &mut hdr as *mut Header, d.as_ptr()) }.map(|_| ())
}

/// Whether `cap` exists in the running kernel's bounding set API.
pub fn bounding_has(cap: u32) -> SysResult<bool> {
    prctl(PR_CAPBSET_READ, cap as u64, 0, 0, 0).map(|v| v == 1)
}

/// `prctl(PR_CAPBSET_DROP, cap)`
pub fn bounding_drop(cap: u32) -> SysResult<()> {
    prctl(PR_CAPBSET_DROP, cap as u64, 0, 0, 0).map(|_| ())
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)`
pub fn ambient_raise(cap: u32) -> SysResult<()> {
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE as u64, cap as u64, 0, 0).map(|_| ())
}

/// `prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)`
pub fn ambient_clear_all() -> SysResult<()> {
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL as u64, 0, 0, 0).map(|_| ())
}

/// The highest capability the running kernel knows: probe the bounding set,
/// since /proc may not be mounted yet.
pub fn last_cap() -> u32 {
    let mut last = 0;
    while last < 63 && bounding_has(last + 1).is_ok() {
        last += 1;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_is_fourteen_named_caps() {
        assert_eq!(DOCKER_DEFAULT.count_ones(), 14);
        assert_eq!(DOCKER_DEFAULT, 0xa80425fb); // what `docker run` shows as CapBnd
        assert_eq!(parse_cap(b"cap_sys_admin"), Some(21));
        assert_eq!(parse_cap(b"NET_RAW"), Some(13));
        assert_eq!(parse_cap(b"Checkpoint_Restore"), Some(40));
        assert_eq!(parse_cap(b"CAP_"), None);
        assert_eq!(parse_cap(b"bogus"), None);
        assert_eq!(cap_name(21), Some("SYS_ADMIN"));
        assert_eq!(cap_name(COUNT - 1), Some("CHECKPOINT_RESTORE"));
        assert_eq!(cap_name(COUNT), None);
    }

    #[test]
    fn capget_reads_this_process() {
        let s = capget().unwrap();
        assert_eq!(s.effective & !s.permitted, 0);
        assert!(last_cap() >= 40);
    }
}
