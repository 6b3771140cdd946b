//! husk-sys: the only crate of husk that says `unsafe`.
//!
//! One safe wrapper per syscall, named after it and documented with its C
//! signature; owned file descriptors; flag newtypes; an error type that
//! carries operation, object and errno; formatting without `core::fmt`; and,
//! behind features, the runtime (`_start`, mem*, panic) and an allocator for
//! the static binaries.
//!
//! Wrappers never print and never exit: they return `SysResult`, and callers
//! attach the step and object with [`Context::at`].
#![cfg_attr(not(test), no_std)]
#![allow(clippy::missing_safety_doc)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod macros;

pub mod beneath;
pub mod caps;
pub mod errno;
pub mod error;
pub mod fd;
pub mod fmt;
pub mod fs;
pub mod mem;
pub mod mount;
pub mod net;
pub mod ns;
pub mod path;
pub mod process;
pub mod sha_ni;
pub mod signal;
pub mod time;

#[cfg(feature = "alloc")]
pub mod heap;
#[cfg(feature = "rt")]
pub mod rt;

pub use errno::{Errno, SysResult};
pub use error::{Context, Error, Result};
pub use fd::{Fd, OwnedFd};
pub use path::CBuf;

pub use core::ffi::CStr;
