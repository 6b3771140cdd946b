//! Who the container runs as: `-u USER[:GROUP]` against the rootfs's
//! /etc/passwd and /etc/group, the way `docker run -u` reads them.
//!
//! Pure functions over the two files' bytes; the host stage reads them from
//! inside the rootfs (never the host's own /etc).

use crate::spec::{Id, UserSpec};
use alloc::vec::Vec;

/// The credentials and HOME the container process gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: those that list the user by name.
    pub groups: Vec<u32>,
    pub home: Vec<u8>,
}

/// Resolve `spec` (None: root) against passwd and group file contents.
/// The error is the text for `husk: -u NAME: <text>`.
pub fn resolve(
    spec: Option<&UserSpec>,
    passwd: &[u8],
    group: &[u8],
) -> Result<Identity, &'static str> {
    let user = spec.map_or(Id::Num(0), |s| s.user.clone());
    let entry = match &user {
        Id::Num(n) => passwd_entries(passwd).find(|e| e.uid == *n),
        Id::Name(name) => passwd_entries(passwd).find(|e| e.name == &name[..]),
    };
    let (uid, mut gid, home) = match (&user, &entry) {
        (_, Some(e)) => (e.uid, e.gid, e.home.to_vec()),
        (Id::Name(_), None) => return Err("no such user in the rootfs's /etc/passwd"),
        // A bare number need not be listed, as with docker: group 0, and
        // HOME / (or /root for root).
        (Id::Num(n), None) => (
            *n,
            0,
            if *n == 0 {
                b"/root".to_vec()
            } else {
                b"/".to_vec()
            },
        ),
    };
    if let Some(g) = spec.and_then(|s| s.group.as_ref()) {
        gid = match g {
            Id::Num(n) => *n,
            Id::Name(name) => {
                group_entries(group)
                    .find(|e| e.0 == &name[..])
                    .ok_or("no such group in the rootfs's /etc/group")?
                    .1
            }
        };
    }
    let mut groups = Vec::new();
    if let Some(e) = &entry {
        for (_, g, members) in group_entries(group) {
            if members.split(|&b| b == b',').any(|m| m == e.name)
                && g != gid
                && !groups.contains(&g)
            {
                groups.push(g);
            }
        }
    }
    Ok(Identity {
        uid,
        gid,
        groups,
        home: if home.is_empty() { b"/".to_vec() } else { home },
    })
}

struct Passwd<'a> {
    name: &'a [u8],
    uid: u32,
    gid: u32,
    home: &'a [u8],
}

/// `name:pw:uid:gid:gecos:home:shell` lines; malformed lines are skipped,
/// as getpwent(3) does.
fn passwd_entries(file: &[u8]) -> impl Iterator<Item = Passwd<'_>> {
    file.split(|&b| b == b'\n').filter_map(|line| {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        if f.len() < 7 || f[0].is_empty() {
            return None;
        }
        Some(Passwd {
            name: f[0],
            uid: num(f[2])?,
            gid: num(f[3])?,
            home: f[5],
        })
    })
}

/// `name:pw:gid:member,member` lines as (name, gid, members).
fn group_entries(file: &[u8]) -> impl Iterator<Item = (&[u8], u32, &[u8])> {
    file.split(|&b| b == b'\n').filter_map(|line| {
        let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        if f.len() < 4 || f[0].is_empty() {
            return None;
        }
        Some((f[0], num(f[2])?, f[3]))
    })
}

fn num(s: &[u8]) -> Option<u32> {
    husk_sys::fmt::parse_u64(s)
        .filter(|&n| n <= u32::MAX as u64)
        .map(|n| n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/sbin/nologin\n\
        broken line\nalice:x:1000:1000::/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &[u8] =
        b"root:x:0:\nwheel:x:10:root,alice\naudio:x:29:alice\nalice:x:1000:\nusers:x:100:\n";

    fn spec(u: Id, g: Option<Id>) -> UserSpec {
        UserSpec { user: u, group: g }
    }

    #[test]
    fn users_resolve_like_docker() {
        let root = resolve(None, PASSWD, GROUP).unwrap();
        assert_eq!(
            (root.uid, root.gid, root.home.as_slice(), root.groups),
            (0, 0, &b"/root"[..], vec![10])
        );
        let a = resolve(
            Some(&spec(Id::Name(b"alice".to_vec()), None)),
            PASSWD,
            GROUP,
        )
        .unwrap();
        assert_eq!(
            (a.uid, a.gid, a.home.as_slice(), a.groups),
            (1000, 1000, &b"/home/alice"[..], vec![10, 29])
        );
        let a = resolve(
            Some(&spec(Id::Num(1000), Some(Id::Name(b"users".to_vec())))),
            PASSWD,
            GROUP,
        )
        .unwrap();
        assert_eq!((a.uid, a.gid), (1000, 100));
        let n = resolve(Some(&spec(Id::Num(4242), Some(Id::Num(7)))), PASSWD, GROUP).unwrap();
        assert_eq!(
            (n.uid, n.gid, n.home.as_slice(), n.groups.len()),
            (4242, 7, &b"/"[..], 0)
        );
        let r = resolve(Some(&spec(Id::Num(0), None)), b"", b"").unwrap();
        assert_eq!(r.home, b"/root");
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(resolve(
            Some(&spec(Id::Name(b"mallory".to_vec()), None)),
            PASSWD,
            GROUP
        )
        .is_err());
        assert!(resolve(
            Some(&spec(Id::Num(0), Some(Id::Name(b"nogroup".to_vec())))),
            PASSWD,
            GROUP
        )
        .is_err());
    }
}
