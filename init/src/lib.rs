//! husk-init's logic that needs no syscalls: option parsing and exit codes.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
