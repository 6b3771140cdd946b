#![no_std]
#![no_main]
#![deny(unsafe_code)]
extern crate alloc;

use husk_sys::fmt::Sink;

husk_sys::main!(main);

fn main() -> i32 {
    let mut v = alloc::vec::Vec::new();
    v.extend_from_slice(b"husk ");
    let mut out = husk_sys::fmt::stdout();
    out.b(&v).s(env!("CARGO_PKG_VERSION")).c(b'\n');
    0
}
