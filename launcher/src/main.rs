//! husk: a stage-based container launcher. This file is the table of
//! contents: which subcommand runs where. The stages of `husk run` are
//! host.rs (this process), container.rs and exec.rs (the container's PID 1).
#![no_std]
#![no_main]
#![deny(unsafe_code)]
extern crate alloc;

use alloc::vec::Vec;
use husk::{check, cli, enter, host, lifecycle};
use husk_sys::fmt::Sink;

husk_sys::main!(main);

/// husk-init, embedded at build time (sys/static-bin.rs stages it) and run
/// from a sealed memfd as the container's PID 1. Empty when husk was built
/// without it: `husk run` then asks for --init PATH.
static INIT_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/husk-init.img"));

const USAGE: &str = "usage: husk COMMAND [ARG...]
  run [OPTIONS] ROOTFS [--] COMMAND [ARG...]   run a container (husk run --help)
  ps [-a] [--json]                             list containers
  exec [-d] [-u U[:G]] [-e K=V] [-w DIR] NAME COMMAND [ARG...]
  kill NAME [SIGNAL] | stop [-t SECONDS] NAME... | wait NAME
  rm [-f] NAME... | state NAME                 (all take --root DIR)
  check                                        what this host offers husk
  --version, --help
";

/// Exit codes: the container's own; 125 when husk fails (also for usage
/// errors); 126/127 when COMMAND cannot be executed or found.
fn main() -> i32 {
    let args = husk_sys::rt::args();
    let all: Vec<&[u8]> = (1..args.len()).filter_map(|i| args.get(i)).collect();
    match all.first().copied() {
        Some(b"run") => run(&all[1..]),
        Some(b"check") => check::main(&args.skip(1)),
        Some(b"--version") | Some(b"version") => {
            husk_sys::fmt::stdout()
                .s("husk ")
                .s(env!("CARGO_PKG_VERSION"))
                .c(b'\n');
            0
        }
        Some(b"--help") | Some(b"-h") | Some(b"help") => {
            husk_sys::fmt::stdout().s(USAGE);
            0
        }
        // The lifecycle of named containers (issue 5): lifecycle.rs, enter.rs.
        Some(b"exec") => enter::main(&all[1..]),
        Some(b"ps") => lifecycle::ps(&all[1..]),
        Some(b"kill") => lifecycle::kill(&all[1..]),
        Some(b"stop") => lifecycle::stop(&all[1..]),
        Some(b"wait") => lifecycle::wait(&all[1..]),
        Some(b"rm") => lifecycle::rm(&all[1..]),
        Some(b"state") => lifecycle::state(&all[1..]),
        Some(other) => {
            husk_sys::fmt::stderr()
                .s("husk: ")
                .b(other)
                .s(": unknown command\n")
                .s(USAGE);
            125
        }
        None => {
            husk_sys::fmt::stderr().s(USAGE);
            125
        }
    }
}

/// `husk run`: parse and validate, then the host stage does the rest.
fn run(args: &[&[u8]]) -> i32 {
    match cli::parse_run(args) {
        Ok(Some(c)) if c.detach => host::run_detached(c, INIT_IMAGE),
        Ok(Some(c)) => host::run(c, INIT_IMAGE),
        Ok(None) => {
            husk_sys::fmt::stdout().s(cli::USAGE);
            0
        }
        Err(e) => {
            e.print("husk");
            125
        }
    }
}
