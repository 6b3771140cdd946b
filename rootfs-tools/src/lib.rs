//! husk-rootfs library: the formats (gzip inflate, sha256, tar, cpio, JSON,
//! ELF) as plain functions over byte slices and readers, plus the commands.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
extern crate alloc;
