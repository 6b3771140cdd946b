//! husk-rootfs: root filesystems from host programs and from OCI/Docker
//! images, a shared layer store, and cpio/tar packing.
//!
//! Exit codes: 0 success, 1 failure (the message names the step, the
//! object and the errno), 2 usage error.
#![no_std]
#![no_main]
#![deny(unsafe_code)]
extern crate alloc;

use alloc::vec::Vec;
use husk_rootfs::{flatten, host, import, pack, store};
use husk_sys::fmt::Sink;
use husk_sys::Error;

husk_sys::main!(main);

const PROG: &str = "husk-rootfs";

const USAGE: &str = "\
Usage: husk-rootfs COMMAND [OPTIONS] ARGS...

Commands:
  host [--applets] DIR PROGRAM...   copy programs and their shared libraries
                                    into DIR, with /proc /sys /dev /tmp and a
                                    minimal /etc; --applets adds busybox's links
  import [--name NAME[:TAG]] SOURCE  import an OCI layout (directory or tar) or
                                    a `docker save` archive into the store
  ls                                list the images in the store
  rm NAME[:TAG]...                  remove images (their layers stay until gc)
  gc                                remove layers no image refers to
  flatten NAME[:TAG] DIR            apply an image's layers into DIR
  pack --format cpio|tar [--mtime N] DIR OUT
                                    archive DIR (OUT `-` is stdout)

Options:
  --store DIR   the layer store (default /var/lib/husk)
  --help        show this help
  --version     show the version

Exit status: 0 success, 1 failure, 2 usage error.
";

/// Why a command did not succeed. Error is big (its object is inline, so
/// no allocation is needed to report), and it is returned once per run.
#[allow(clippy::large_enum_variant)]
enum Fail {
    Usage(&'static str),
    Error(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Error(e)
    }
}

/// The command line: the command, its options and its operands.
#[derive(Default)]
struct Args {
    command: &'static [u8],
    store: Option<&'static [u8]>,
    name: Option<&'static [u8]>,
    format: Option<&'static [u8]>,
    mtime: Option<&'static [u8]>,
    applets: bool,
    operands: Vec<&'static [u8]>,
}

fn main() -> i32 {
    match parse_args().and_then(run) {
        Ok(()) => 0,
        Err(Fail::Usage(msg)) => {
            husk_sys::fmt::stderr().s(PROG).s(": ").s(msg).s("\nTry 'husk-rootfs --help'.\n");
            2
        }
        Err(Fail::Error(e)) => {
            e.print(PROG);
            1
        }
    }
}

fn parse_args() -> Result<Args, Fail> {
    let argv = husk_sys::rt::args();
    let mut a = Args::default();
    let mut i = 1;
    let mut options_done = false;
    while let Some(arg) = argv.get(i) {
        i += 1;
        if options_done || !arg.starts_with(b"--") {
            if a.command.is_empty() {
                a.command = arg;
            } else {
                a.operands.push(arg);
            }
            continue;
        }
        let (key, inline) = match arg.iter().position(|&c| c == b'=') {
            Some(p) => (&arg[..p], Some(&arg[p + 1..])),
            None => (arg, None),
        };
        let mut value = || -> Result<&'static [u8], Fail> {
            if let Some(v) = inline {
                return Ok(v);
            }
            i += 1;
            argv.get(i - 1).ok_or(Fail::Usage("option needs a value"))
        };
        match key {
            b"--" => options_done = true,
            b"--help" => a.command = b"help",
            b"--version" => a.command = b"version",
            b"--store" => a.store = Some(value()?),
            b"--name" => a.name = Some(value()?),
            b"--format" => a.format = Some(value()?),
            b"--mtime" => a.mtime = Some(value()?),
            b"--applets" => a.applets = true,
            _ => return Err(Fail::Usage("unknown option")),
        }
    }
    Ok(a)
}

fn run(a: Args) -> Result<(), Fail> {
    let store = a.store.unwrap_or(store::DEFAULT_STORE);
    let ops = &a.operands[..];
    match a.command {
        b"help" => {
            husk_sys::fmt::stdout().s(USAGE);
            Ok(())
        }
        b"version" => {
            husk_sys::fmt::stdout().s(PROG).c(b' ').s(env!("CARGO_PKG_VERSION")).c(b'\n');
            Ok(())
        }
        b"host" => match ops {
            [dir, programs @ ..] if !programs.is_empty() => build_host_rootfs(dir, programs, a.applets),
            _ => Err(Fail::Usage("host needs DIR and at least one PROGRAM")),
        },
        b"import" => match ops {
            [source] => import_image(store, a.name, source),
            _ => Err(Fail::Usage("import needs one SOURCE")),
        },
        b"ls" if ops.is_empty() => list_images(store),
        b"rm" if !ops.is_empty() => remove_images(store, ops),
        b"gc" if ops.is_empty() => collect_garbage(store),
        b"flatten" => match ops {
            [name, dir] => Ok(flatten::flatten(store, name, dir)?),
            _ => Err(Fail::Usage("flatten needs NAME[:TAG] and DIR")),
        },
        b"pack" => match ops {
            [dir, out] => pack_tree(a.format, a.mtime, dir, out),
            _ => Err(Fail::Usage("pack needs DIR and OUT")),
        },
        b"" => Err(Fail::Usage("no command given")),
        b"ls" | b"rm" | b"gc" => Err(Fail::Usage("wrong number of operands")),
        _ => Err(Fail::Usage("unknown command")),
    }
}

fn build_host_rootfs(dir: &[u8], programs: &[&[u8]], applets: bool) -> Result<(), Fail> {
    let report = host::build(dir, programs, applets)?;
    let mut out = husk_sys::fmt::stdout();
    out.s("rootfs ").b(dir).s(": ").u(report.files).s(" files, ").u(report.links).s(" links\n");
    Ok(())
}

fn import_image(store: &[u8], name: Option<&[u8]>, source: &[u8]) -> Result<(), Fail> {
    let progress = husk_sys::process::isatty(husk_sys::Fd::STDERR);
    let s = import::import(source, &import::Options { store, name, progress })?;
    husk_sys::fmt::stdout()
        .s("imported ")
        .b(&s.name)
        .s(": ")
        .u(s.layers as u64)
        .s(" layers, ")
        .u(s.new_layers as u64)
        .s(" new\n");
    Ok(())
}

fn list_images(store: &[u8]) -> Result<(), Fail> {
    let st = match store::Store::open(store, false) {
        // No store yet: nothing imported, an empty list.
        Err(e) if e.errno.0 == 0 && e.detail.starts_with("no such store") => return Ok(()),
        r => r?,
    };
    let mut out = husk_sys::fmt::stdout();
    for (_, rec) in st.images()? {
        let id = rec.id.strip_prefix("sha256:").unwrap_or(&rec.id);
        out.s(&rec.name).c(b'\t').s(&id[..id.len().min(12)]).c(b'\t').u(rec.layers.len() as u64).s(" layers\n");
    }
    Ok(())
}

fn remove_images(store: &[u8], names: &[&[u8]]) -> Result<(), Fail> {
    // Check every name before removing any.
    let st = store::Store::open(store, true)?;
    for n in names {
        store::read_image(&st.path, n)?;
    }
    for n in names {
        st.remove_image(n)?;
        husk_sys::fmt::stdout().s("removed ").b(&store::normalize_name(n)?).c(b'\n');
    }
    Ok(())
}

fn collect_garbage(store: &[u8]) -> Result<(), Fail> {
    let removed = store::Store::open(store, true)?.gc()?;
    husk_sys::fmt::stdout().s("removed ").u(removed).s(" unused layers\n");
    Ok(())
}

fn pack_tree(format: Option<&[u8]>, mtime: Option<&[u8]>, dir: &[u8], out: &[u8]) -> Result<(), Fail> {
    let format = format.ok_or(Fail::Usage("pack needs --format cpio|tar"))?;
    let format = pack::parse_format(format).ok_or(Fail::Usage("--format must be cpio or tar"))?;
    let mtime = match mtime {
        None => None,
        Some(m) => {
            Some(husk_sys::fmt::parse_u64(m).ok_or(Fail::Usage("--mtime needs seconds since the epoch"))? as i64)
        }
    };
    Ok(pack::pack(dir, out, &pack::Options { format, mtime })?)
}
