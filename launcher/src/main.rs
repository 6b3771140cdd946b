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

/// husk-init, LZ-compressed and embedded at build time (sys/static-bin.rs
/// stages it, lz.rs expands it in the container stage), and run
/// from a sealed memfd as the container's PID 1. Empty when husk was built
/// without it: `husk run` then asks for --init PATH.
static INIT_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/husk-init.lz"));

const USAGE: &str = "usage: husk COMMAND [ARG...]
  run [OPTIONS] ROOTFS [--] COMMAND [ARG...]   run a container (husk run --help)
  run --image NAME[:TAG] [OPTIONS] [COMMAND...] run an imported image
  ps [-a] [--json]                             list containers
  exec [-d] [-u U[:G]] [-e K=V] [-w DIR] NAME COMMAND [ARG...]
  kill NAME [SIGNAL] | stop [-t SECONDS] NAME... | wait NAME
  rm [-f] NAME... | state NAME                 (all take --root DIR)
  check                                        what this host offers husk
  --version, --help
";

/// The subcommands that take the arguments after their name. `check`
/// takes the raw argv (check.rs).
type Subcommand = fn(&[&[u8]]) -> i32;

const COMMANDS: [(&[u8], Subcommand); 12] = [
    (b"run", run),
    // The lifecycle of named containers (issue 5): lifecycle.rs, enter.rs.
    (b"exec", enter::main),
    (b"ps", lifecycle::ps),
    (b"kill", lifecycle::kill),
    (b"stop", lifecycle::stop),
    (b"wait", lifecycle::wait),
    (b"rm", lifecycle::rm),
    (b"state", lifecycle::state),
    (b"--version", version),
    (b"version", version),
    (b"--help", help),
    (b"help", help),
];

/// Exit codes: the container's own; 125 when husk fails (also for usage
/// errors); 126/127 when COMMAND cannot be executed or found.
fn main() -> i32 {
    let args = husk_sys::rt::args();
    let all: Vec<&[u8]> = (1..args.len()).filter_map(|i| args.get(i)).collect();
    let Some((&cmd, rest)) = all.split_first() else {
        husk_sys::fmt::stderr().s(USAGE);
        return 125;
    };
    if cmd == b"check" {
        return check::main(&args.skip(1));
    }
    if cmd == b"-h" {
        return help(rest);
    }
    for (name, f) in COMMANDS {
        if name == cmd {
            return f(rest);
        }
    }
    husk_sys::fmt::stderr().s("husk: ").b(cmd).s(": unknown command\n").s(USAGE);
    125
}

fn version(_: &[&[u8]]) -> i32 {
    husk_sys::fmt::stdout().s("husk ").s(env!("CARGO_PKG_VERSION")).c(b'\n');
    0
}

fn help(_: &[&[u8]]) -> i32 {
    husk_sys::fmt::stdout().s(USAGE);
    0
}

/// `husk run`: parse and validate, then the host stage does the rest.
fn run(args: &[&[u8]]) -> i32 {
    match cli::parse_run(args) {
        Ok(Some(c)) if c.detach => host::run_detached(c, INIT_IMAGE),
        Ok(Some(c)) => host::run(c, INIT_IMAGE),
        Ok(None) => help_run(),
        Err(e) => {
            e.print("husk");
            125
        }
    }
}

fn help_run() -> i32 {
    cli::print_usage();
    0
}
