#![no_std]
#![no_main]
#![deny(unsafe_code)]

use husk_sys::fmt::Sink;

husk_sys::main!(main);

fn main() -> i32 {
    let mut out = husk_sys::fmt::stdout();
    out.s("husk-init ").s(env!("CARGO_PKG_VERSION")).c(b'\n');
    0
}
