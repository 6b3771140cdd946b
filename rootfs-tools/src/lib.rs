//! husk-rootfs library: the formats (gzip inflate, sha256, tar, cpio, JSON,
//! ELF) as plain functions over byte slices and readers, plus the commands.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
extern crate alloc;

pub mod cpio;
pub mod crc32;
pub mod elf;
pub mod gzip;
pub mod inflate;
pub mod json;
pub mod ldcache;
pub mod record;
pub mod sha256;
pub mod stream;
pub mod tar;

// The commands (store, import, unpack, flatten, pack, host) and their helpers.
pub mod flatten;
pub mod host;
pub mod import;
pub mod pack;
pub mod store;
pub mod tree;
pub mod unpack;
