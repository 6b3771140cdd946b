//! husk: the launcher's logic. Each stage of `husk run` has the file of the
//! process it runs in: host.rs (the caller), container.rs (the container's
//! PID 1 until it executes), exec.rs (that execve). The rest is plain data
//! and planning (spec, cli, mounts, caps, idmap, user, sync) and lookups in
//! the rootfs.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
extern crate alloc;
pub mod cgroup;
pub mod check;

pub mod caps;
pub mod cli;
pub mod container;
pub mod enter;
pub mod exec;
pub mod host;
pub mod idmap;
pub mod lifecycle;
pub mod lz;
pub mod mounts;
pub mod rootfs;
pub mod spec;
pub mod state;
pub mod sync;
pub mod user;
