//! husk: the launcher's logic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
extern crate alloc;
pub mod cgroup;
pub mod check;
