//! The runtime of husk's static binaries: `_start`, argv/envp/auxv, the
//! mem* functions the compiler emits calls to, and the panic handler.
//!
//! Everything that defines a symbol is compiled only when `panic = "abort"`:
//! cargo builds test targets with unwinding and std, which brings its own.
//! A binary says `husk_sys::main!(main);` and gets `fn main() -> i32` called
//! with the process's arguments reachable through [`args`] and [`env`].

use crate::process::Argv;
use core::ffi::c_char;
use core::sync::atomic::{AtomicUsize, Ordering};

static ARGC: AtomicUsize = AtomicUsize::new(0);
static ARGV: AtomicUsize = AtomicUsize::new(0);
static ENVC: AtomicUsize = AtomicUsize::new(0);
static AUXV: AtomicUsize = AtomicUsize::new(0);

/// Define the binary's entry point: `husk_sys::main!(main)` where
/// `fn main() -> i32` returns the exit status.
#[macro_export]
macro_rules! main {
    ($f:path) => {
        // The one exported symbol of a binary; sys's `_start` calls it.
        #[allow(unsafe_code)]
        #[no_mangle]
        fn __husk_main() -> i32 {
            $f()
        }
    };
}

/// The command line, argv[0] included.
pub fn args() -> Argv<'static> {
    argv_at(ARGV.load(Ordering::Relaxed), ARGC.load(Ordering::Relaxed))
}

/// The environment, as execve(2) wants it.
pub fn env() -> Argv<'static> {
    let argv = ARGV.load(Ordering::Relaxed);
    argv_at(argv + (ARGC.load(Ordering::Relaxed) + 1) * 8, ENVC.load(Ordering::Relaxed))
}

/// The value of environment variable `name`.
pub fn getenv(name: &[u8]) -> Option<&'static [u8]> {
    let e = env();
    (0..e.len()).filter_map(|i| e.get(i)).find_map(|kv| {
        (kv.len() > name.len() && kv.starts_with(name) && kv[name.len()] == b'=').then(|| &kv[name.len() + 1..])
    })
}

/// The auxiliary vector entry `key` (e.g. AT_PAGESZ = 6, AT_RANDOM = 25).
pub fn getauxval(key: usize) -> Option<usize> {
    let mut p = AUXV.load(Ordering::Relaxed);
    if p == 0 {
        return None;
    }
    loop {
        // SAFETY: the kernel lays out auxv as (key, value) pairs ending with
        // AT_NULL after envp; `p` was derived from the initial stack pointer.
        let (k, v) = unsafe { (*(p as *const usize), *((p + 8) as *const usize)) };
        if k == 0 {
            return None;
        }
        if k == key {
            return Some(v);
        }
        p += 16;
    }
}

fn argv_at(addr: usize, count: usize) -> Argv<'static> {
    if addr == 0 {
        return Argv::empty();
    }
    // SAFETY: the kernel placed `count` string pointers plus a NULL at addr,
    // on the initial stack, which lives as long as the process.
    let ptrs = unsafe { core::slice::from_raw_parts(addr as *const *const c_char, count + 1) };
    Argv::from_ptrs(ptrs)
}

#[cfg(panic = "abort")]
mod entry {
    use super::*;

    extern "Rust" {
        fn __husk_main() -> i32;
    }

    /// The process entry point: the kernel jumps here with the stack holding
    /// argc, argv[], NULL, envp[], NULL, auxv[].
    #[cfg(target_arch = "x86_64")]
    #[unsafe(naked)]
    #[no_mangle]
    pub unsafe extern "C" fn _start() -> ! {
        core::arch::naked_asm!(
            "xor ebp, ebp",    // outermost frame: a zero frame pointer ends backtraces
            "mov rdi, rsp",    // first argument: the initial stack pointer
            "and rsp, -16",    // the SysV ABI wants 16-byte alignment at the call
            "call {start}",    // start_rust never returns
            "ud2",             // trap if it ever did
            start = sym start_rust,
        )
    }

    #[cfg(target_arch = "aarch64")]
    #[unsafe(naked)]
    #[no_mangle]
    pub unsafe extern "C" fn _start() -> ! {
        core::arch::naked_asm!(
            "mov x29, xzr",    // outermost frame: zero frame pointer
            "mov x30, xzr",    // and zero link register
            "mov x0, sp",      // first argument: the initial stack pointer
            "bl {start}",      // start_rust never returns
            "brk #1",          // trap if it ever did
            start = sym start_rust,
        )
    }

    unsafe extern "C" fn start_rust(sp: *const usize) -> ! {
        // SAFETY: sp is the kernel's initial stack: argc, then argc pointers
        // and a NULL, then the environment pointers and a NULL, then auxv.
        unsafe {
            let argc = *sp;
            let argv = sp.add(1);
            let envp = argv.add(argc + 1);
            let mut envc = 0;
            while *envp.add(envc) != 0 {
                envc += 1;
            }
            ARGC.store(argc, Ordering::Relaxed);
            ARGV.store(argv as usize, Ordering::Relaxed);
            ENVC.store(envc, Ordering::Relaxed);
            AUXV.store(envp.add(envc + 1) as usize, Ordering::Relaxed);
            crate::process::exit(__husk_main())
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        use crate::fmt::Sink;
        let mut w = crate::fmt::stderr();
        let prog = args().get(0).unwrap_or(b"husk");
        let base = prog.rsplit(|&c| c == b'/').next().unwrap_or(prog);
        w.b(base).s(": internal error (panic)");
        if let Some(loc) = info.location() {
            w.s(" at ").s(loc.file()).c(b':').u(loc.line() as u64);
        }
        w.c(b'\n');
        w.flush();
        crate::process::exit(101)
    }

    /// Referenced by precompiled `core` in unoptimised builds; never called
    /// because nothing unwinds with panic = "abort".
    #[no_mangle]
    extern "C" fn rust_eh_personality() {}

    // The compiler lowers copies and comparisons to these C symbols. With no
    // libc linked, they are defined here.

    #[no_mangle]
    pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the caller passes valid, non-overlapping ranges of n bytes.
        unsafe { copy_forward(dst, src, n) };
        dst
    }

    #[no_mangle]
    pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // Copy forward unless dst starts inside src, where that would clobber
        // bytes not yet read.
        if (dst as usize).wrapping_sub(src as usize) >= n {
            // SAFETY: valid ranges; a forward copy is correct for this overlap.
            unsafe { copy_forward(dst, src, n) };
        } else {
            let mut i = n;
            while i > 0 {
                i -= 1;
                // SAFETY: i < n, inside both ranges.
                unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
            }
        }
        dst
    }

    #[no_mangle]
    pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: dst is valid for n bytes; rep stosb writes exactly n bytes.
        unsafe {
            core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8,
                options(nostack, preserves_flags));
        }
        #[cfg(not(target_arch = "x86_64"))]
        for i in 0..n {
            // SAFETY: i < n. Volatile keeps LLVM from turning this loop into a memset call.
            unsafe { dst.add(i).write_volatile(c as u8) };
        }
        dst
    }

    #[no_mangle]
    pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        for i in 0..n {
            // SAFETY: i < n, inside both ranges.
            let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
            if x != y {
                return x as i32 - y as i32;
            }
        }
        0
    }

    #[no_mangle]
    pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
        // SAFETY: same contract as memcmp.
        unsafe { memcmp(a, b, n) }
    }

    #[no_mangle]
    pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
        let mut n = 0;
        // SAFETY: the caller passes a NUL-terminated string.
        while unsafe { *s.add(n) } != 0 {
            n += 1;
        }
        n
    }

    unsafe fn copy_forward(dst: *mut u8, src: *const u8, n: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller guarantees n valid bytes at both; rep movsb copies forward.
        unsafe {
            core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
                options(nostack, preserves_flags));
        }
        #[cfg(not(target_arch = "x86_64"))]
        for i in 0..n {
            // SAFETY: i < n. Volatile keeps LLVM from emitting a memcpy call here.
            unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
        }
    }
}

// Unwind tables are dead weight with panic = "abort": nothing unwinds, and
// .eh_frame cost husk-init 4 KiB of its 16 KiB. Module-level asm comes
// first in the object, so this sends every function's CFI to .debug_frame,
// which `strip` removes from release builds.
#[cfg(all(panic = "abort", any(target_arch = "x86_64", target_arch = "aarch64")))]
core::arch::global_asm!(".cfi_sections .debug_frame");
