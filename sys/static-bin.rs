//! Build script shared by husk's three binaries: link them fully static with
//! no C runtime. Passed with `rustc-link-arg-bins` so that build scripts and
//! test binaries are not linked this way (MACHINE.md: RUSTFLAGS would reach
//! build scripts too and crash them).
//!
//! For the launcher it also stages the husk-init image that husk embeds and
//! executes from a sealed memfd: `$HUSK_INIT_IMAGE` (the Makefile sets it),
//! else the workspace's release build, else an empty image, in which case
//! `husk run` asks for `--init PATH`. The image is stored LZ-compressed
//! (launcher/src/lz.rs, shared with the decoder): 15 KiB becomes 11 KiB of
//! husk's 128 KiB budget.
use std::path::PathBuf;

extern crate alloc;
#[allow(dead_code)]
#[path = "../launcher/src/lz.rs"]
mod lz;

fn main() {
    // --icf=all folds identical functions (same-layout monomorphizations):
    // measured 1.1 KB off husk. Nothing in husk compares function addresses.
    let args = [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--gc-sections",
        "-Wl,--build-id=none",
        "-Wl,--icf=all",
    ];
    for arg in args {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=../sys/static-bin.rs");
    if std::env::var("CARGO_PKG_NAME").as_deref() == Ok("husk") {
        stage_init_image();
    }
}

fn stage_init_image() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("husk-init.lz");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let src = std::env::var("HUSK_INIT_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../target/release-init/husk-init"));
    println!("cargo:rerun-if-env-changed=HUSK_INIT_IMAGE");
    println!("cargo:rerun-if-changed={}", src.display());
    let image = std::fs::read(&src).unwrap_or_default();
    let packed = if image.is_empty() { image } else { lz::compress(&image) };
    std::fs::write(&out, packed).unwrap();
}
