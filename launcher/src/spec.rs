//! The container description: what to run and how, as plain data.
//!
//! The command line fills it today (`cli.rs`); an OCI config.json or an
//! image's config (`--image`, issue 6) will fill the same struct later. No
//! syscalls here: the host stage checks it against the filesystem, and the
//! container stage applies it.

use crate::cgroup::Resources;
use alloc::string::String;
use alloc::vec::Vec;
use husk_sys::ns::{CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};

/// Namespaces a container gets unless told otherwise. The user namespace is
/// decided separately (`--userns`, or implied when not root); cgroup is
/// entered after the cgroup is joined, so it is in this set but never passed
/// to clone.
pub const DEFAULT_NAMESPACES: i32 =
    CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;

/// The default cgroup parent, below each hierarchy's root.
pub const DEFAULT_CGROUP_PARENT: &str = "husk";

/// The image store of `husk-rootfs import`.
pub const DEFAULT_STORE: &[u8] = b"/var/lib/husk";

/// Where COMMAND is looked up when it has no `/`, and PATH in the container.
pub const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A container, fully described.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Container {
    /// `--name`; `None` until the host stage generates one.
    pub name: Option<String>,
    /// ROOTFS: one directory, or overlay lower layers, top first.
    pub layers: Vec<Vec<u8>>,
    /// `--image NAME[:TAG]`: the host stage resolves it into `layers`,
    /// and the image's config into env, workdir, user and command.
    pub image: Option<Vec<u8>>,
    /// `--store DIR`: where the image is (default [`DEFAULT_STORE`]).
    pub store: Option<Vec<u8>>,
    /// `--upper DIR`: keep the overlay's writable layer there.
    pub upper: Option<Vec<u8>>,
    pub read_only: bool,
    /// `--hostname` (default: the name) and `--domainname`.
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// CLONE_NEW* flags of the namespaces to create (user aside).
    pub namespaces: i32,
    /// `--userns`: create a user namespace even when root.
    pub userns: bool,
    /// `--join TYPE:PATH`: namespaces to enter instead of creating.
    pub joins: Vec<Join>,
    pub uid_maps: Vec<IdMap>,
    pub gid_maps: Vec<IdMap>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<Tmpfs>,
    pub resources: Resources,
    /// `--cgroup-parent`, relative to each hierarchy's root.
    pub cgroup_parent: String,
    pub caps: Caps,
    /// no_new_privs; cleared by `--allow-new-privs`.
    pub no_new_privs: bool,
    /// `-u`: `None` runs as root (uid 0 inside).
    pub user: Option<UserSpec>,
    /// `-e KEY=VALUE`, in order; later ones win over earlier ones and over
    /// the defaults.
    pub env: Vec<Vec<u8>>,
    /// `-w`: absolute, inside the container.
    pub workdir: Option<Vec<u8>>,
    pub rlimits: Vec<Rlimit>,
    pub init: Init,
    /// COMMAND and its arguments.
    pub command: Vec<Vec<u8>>,
    /// `--root`: the state directory root (default `/run/husk`).
    pub state_root: Option<Vec<u8>>,
    /// `-d`: print the name once the init runs and leave a monitor behind.
    pub detach: bool,
    /// `--rm`: the state goes when the container ends (always so in the
    /// foreground).
    pub auto_remove: bool,
}

/// `--join TYPE:PATH`.
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    /// The CLONE_NEW* flag of TYPE.
    pub kind: i32,
    pub path: Vec<u8>,
}

/// One line of uid_map/gid_map: `inside outside count`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IdMap {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// `--bind SRC:DST[:ro]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bind {
    pub src: Vec<u8>,
    pub dst: Vec<u8>,
    pub read_only: bool,
}

/// `--tmpfs DST[:SIZE]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tmpfs {
    pub dst: Vec<u8>,
    pub size: Option<u64>,
}

/// The capability sets asked for, as bit masks over capability numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Caps {
    /// The container's bounding set; also permitted and effective for uid 0.
    pub set: u64,
    /// The ones named by `--cap-add`: a non-root `-u` user keeps only these,
    /// through the ambient set.
    pub added: u64,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps { set: husk_sys::caps::DOCKER_DEFAULT, added: 0 }
    }
}

/// `-u USER[:GROUP]`, each a number or a name for the rootfs's /etc files.
#[derive(Clone, Debug, PartialEq)]
pub struct UserSpec {
    pub user: Id,
    pub group: Option<Id>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Id {
    Num(u32),
    Name(Vec<u8>),
}

/// `--rlimit NAME=SOFT[:HARD]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// Which program becomes PID 1.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Init {
    /// The husk-init image built into husk.
    #[default]
    Builtin,
    /// `--init PATH`: another image, read from the host.
    Path(Vec<u8>),
    /// `--no-init`: COMMAND itself.
    None,
}

impl Container {
    /// A container with husk's defaults and nothing to run yet.
    pub fn new() -> Container {
        Container {
            namespaces: DEFAULT_NAMESPACES,
            cgroup_parent: String::from(DEFAULT_CGROUP_PARENT),
            no_new_privs: true,
            ..Default::default()
        }
    }

    /// Whether the root is an overlay: several layers, a kept upper, or an
    /// image (whose layers in the store must never be written).
    pub fn is_overlay(&self) -> bool {
        self.layers.len() > 1 || self.upper.is_some() || self.image.is_some()
    }

    /// Whether the container gets a user namespace of its own: asked for,
    /// implied by explicit maps, or needed because the caller is not root.
    pub fn wants_userns(&self, euid: u32) -> bool {
        let joined = self.joins.iter().any(|j| j.kind == husk_sys::ns::CLONE_NEWUSER);
        !joined && (self.userns || euid != 0 || !self.uid_maps.is_empty() || !self.gid_maps.is_empty())
    }

    /// The hostname: `--hostname`, else the name.
    pub fn hostname(&self) -> &str {
        self.hostname.as_deref().or(self.name.as_deref()).unwrap_or("husk")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_secure_and_overlay_follows_layers() {
        let mut c = Container::new();
        assert!(c.no_new_privs);
        assert_eq!(c.caps.set, 0xa80425fb);
        assert_eq!(c.namespaces & CLONE_NEWNS, CLONE_NEWNS);
        c.layers.push(b"/a".to_vec());
        assert!(!c.is_overlay());
        c.layers.push(b"/b".to_vec());
        assert!(c.is_overlay());
        assert!(!c.wants_userns(0));
        assert!(c.wants_userns(1000));
        c.name = Some("c1".into());
        assert_eq!(c.hostname(), "c1");
    }
}
