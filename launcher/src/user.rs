//! Who the container runs as: `-u USER[:GROUP]` against the rootfs's
//! /etc/passwd and /etc/group, the way `docker run -u` reads them.
//!
//! Pure functions over the two files' bytes; the host stage reads them from
//! inside the rootfs (never the host's own /etc), `husk exec` from inside
//! the container's root.

use crate::spec::{Id, UserSpec};
use alloc::vec::Vec;
use husk_sys::fmt::Sink;
use husk_sys::Error;

/// The credentials and HOME the container process gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: those that list the user by name.
    pub groups: Vec<u32>,
    pub home: Vec<u8>,
}

/// `resolve`, failing as `husk: -u NAME: <text>`.
pub fn identity(spec: Option<&UserSpec>, passwd: &[u8], group: &[u8]) -> Result<Identity, Error> {
    resolve(spec, passwd, group).map_err(|why| {
        let mut shown = Vec::new();
        match spec.map(|s| &s.user) {
            Some(Id::Num(n)) => shown.u(*n as u64),
            Some(Id::Name(n)) => shown.b(n),
            None => &mut shown,
        };
        Error::msg("-u", &shown, why)
    })
}

/// Resolve `spec` (None: root) against passwd and group file contents.
/// The error is the text for `husk: -u NAME: <text>`.
pub fn resolve(spec: Option<&UserSpec>, passwd: &[u8], group: &[u8]) -> Result<Identity, &'static str> {
    let (user, want_group) = match spec {
        Some(s) => (&s.user, s.group.as_ref()),
        None => (&Id::Num(0), None),
    };
    // The first well-formed line with that name or uid, as getpwnam(3) and
    // getpwuid(3); malformed lines are skipped, as getpwent(3) does.
    let mut entry = None;
    let mut f = [&b""[..]; 7];
    for line in split(passwd, b'\n') {
        let n = fields(line, &mut f);
        let (Some(uid), Some(gid)) = (num(f[2]), num(f[3])) else {
            continue;
        };
        let hit = match user {
            Id::Num(want) => *want == uid,
            Id::Name(want) => want[..] == *f[0],
        };
        if n == 7 && !f[0].is_empty() && hit {
            entry = Some((f[0], uid, gid, f[5]));
            break;
        }
    }
    let (name, uid, mut gid, home) = match (entry, user) {
        (Some(e), _) => e,
        (None, Id::Name(_)) => return Err("no such user in the rootfs's /etc/passwd"),
        // A bare number need not be listed, as with docker: group 0, and
        // HOME / (or /root for root).
        (None, &Id::Num(n)) => (&b""[..], n, 0, if n == 0 { &b"/root"[..] } else { b"/" }),
    };
    // One pass over /etc/group: the named group's gid, and the groups
    // listing the user by name.
    let mut named = None;
    let mut groups = Vec::new();
    for line in split(group, b'\n') {
        if fields(line, &mut f) < 4 || f[0].is_empty() {
            continue;
        }
        let Some(g) = num(f[2]) else { continue };
        if let Some(Id::Name(want)) = want_group {
            if named.is_none() && want[..] == *f[0] {
                named = Some(g);
            }
        }
        if entry.is_some() && !groups.contains(&g) && listed(f[3], name) {
            groups.push(g);
        }
    }
    match want_group {
        Some(Id::Num(n)) => gid = *n,
        Some(Id::Name(_)) => gid = named.ok_or("no such group in the rootfs's /etc/group")?,
        None => {}
    }
    // The primary group is not a supplementary one too.
    if let Some(i) = groups.iter().position(|&g| g == gid) {
        groups.remove(i);
    }
    Ok(Identity { uid, gid, groups, home: if home.is_empty() { b"/" } else { home }.to_vec() })
}

/// Whether the `member,member` list names `name`.
fn listed(members: &[u8], name: &[u8]) -> bool {
    for m in split(members, b',') {
        if m == name {
            return true;
        }
    }
    false
}

/// Fill `f` with the first 7 `:`-separated fields of a line (those past
/// its end are left as they were); returns how many it has, at most 7.
fn fields<'a>(line: &'a [u8], f: &mut [&'a [u8]; 7]) -> usize {
    let mut n = 0;
    for v in split(line, b':') {
        match f.get_mut(n) {
            Some(slot) => *slot = v,
            None => break,
        }
        n += 1;
    }
    n
}

fn split(s: &[u8], sep: u8) -> impl Iterator<Item = &[u8]> {
    s.split(move |&b| b == sep)
}

fn num(s: &[u8]) -> Option<u32> {
    match husk_sys::fmt::parse_u64(s) {
        Some(n) if n <= u32::MAX as u64 => Some(n as u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/sbin/nologin\n\
        broken line\nalice:x:1000:1000::/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &[u8] = b"root:x:0:\nwheel:x:10:root,alice\naudio:x:29:alice\nalice:x:1000:\nusers:x:100:\n";

    fn spec(u: Id, g: Option<Id>) -> UserSpec {
        UserSpec { user: u, group: g }
    }

    #[test]
    fn users_resolve_like_docker() {
        let root = resolve(None, PASSWD, GROUP).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_slice(), root.groups), (0, 0, &b"/root"[..], vec![10]));
        let a = resolve(Some(&spec(Id::Name(b"alice".to_vec()), None)), PASSWD, GROUP).unwrap();
        assert_eq!((a.uid, a.gid, a.home.as_slice(), a.groups), (1000, 1000, &b"/home/alice"[..], vec![10, 29]));
        let a = resolve(Some(&spec(Id::Num(1000), Some(Id::Name(b"users".to_vec())))), PASSWD, GROUP).unwrap();
        assert_eq!((a.uid, a.gid), (1000, 100));
        let n = resolve(Some(&spec(Id::Num(4242), Some(Id::Num(7)))), PASSWD, GROUP).unwrap();
        assert_eq!((n.uid, n.gid, n.home.as_slice(), n.groups.len()), (4242, 7, &b"/"[..], 0));
        let r = resolve(Some(&spec(Id::Num(0), None)), b"", b"").unwrap();
        assert_eq!(r.home, b"/root");
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(resolve(Some(&spec(Id::Name(b"mallory".to_vec()), None)), PASSWD, GROUP).is_err());
        assert!(resolve(Some(&spec(Id::Num(0), Some(Id::Name(b"nogroup".to_vec())))), PASSWD, GROUP).is_err());
    }
}
