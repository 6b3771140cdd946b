//! User namespace id maps: what to write to /proc/PID/{uid_map,gid_map}.
//!
//! Runs in the host stage, after the container process exists in its new
//! user namespace and before it is released: the kernel lets only a process
//! outside the namespace (with the same euid as its creator) write the maps,
//! once each (user_namespaces(7)).

use crate::spec::IdMap;
use alloc::vec::Vec;
use husk_sys::fmt::Sink;
use husk_sys::fs;
use husk_sys::{CBuf, Context, Error, Fd};

/// The maps to write: the explicit ones, else uid/gid 0 inside mapped to
/// the caller's euid/egid, one id each (all an unprivileged caller may map
/// without newuidmap).
pub fn maps_or_default(explicit: &[IdMap], outside: u32) -> Vec<IdMap> {
    if explicit.is_empty() {
        alloc::vec![IdMap { inside: 0, outside, count: 1 }]
    } else {
        explicit.to_vec()
    }
}

/// The file contents: one `inside outside count` line per map.
pub fn render(maps: &[IdMap]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in maps {
        out.u(m.inside as u64).c(b' ').u(m.outside as u64).c(b' ');
        out.u(m.count as u64).c(b'\n');
    }
    out
}

/// Write the maps of process `pid`. `deny_setgroups`: needed before an
/// unprivileged gid_map write (since 3.19, CVE-2014-8989), and it makes
/// setgroups(2) fail inside for good.
pub fn write_maps(pid: i32, uid: &[IdMap], gid: &[IdMap], deny_setgroups: bool) -> Result<(), Error> {
    if deny_setgroups {
        write_proc(pid, "setgroups", b"deny")?;
    }
    write_proc(pid, "uid_map", &render(uid))?;
    write_proc(pid, "gid_map", &render(gid))
}

fn write_proc(pid: i32, file: &str, data: &[u8]) -> Result<(), Error> {
    let mut p = CBuf::<64>::new();
    p.s("/proc/").u(pid as u64).c(b'/').s(file);
    let r = p.cstr().and_then(|path| fs::write_file(Fd::CWD, path, data));
    r.at("write", p.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_render_as_kernel_lines() {
        let m = maps_or_default(&[], 1000);
        assert_eq!(render(&m), b"0 1000 1\n");
        let two = [IdMap { inside: 0, outside: 100000, count: 65536 }, IdMap { inside: 65536, outside: 5, count: 1 }];
        assert_eq!(render(&maps_or_default(&two, 0)), b"0 100000 65536\n65536 5 1\n");
    }
}
