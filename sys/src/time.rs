//! Clocks and sleeping.

use crate::errno::{Errno, SysResult};
use crate::macros::sc;

pub use libc::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME};

/// `int clock_gettime(clockid_t clock, struct timespec *ts)` in nanoseconds.
pub fn clock_gettime(clock: i32) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a writable timespec. The clocks used here cannot fail.
    let _ = unsafe { sc!(clock_gettime, clock, &mut ts as *mut libc::timespec) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `int nanosleep(const struct timespec *req, struct timespec *rem)`,
/// resumed after signals until the whole time has passed.
pub fn nanosleep(ns: u64) -> SysResult<()> {
    let mut req = libc::timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 };
    loop {
        let mut rem = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: req and rem are valid timespecs.
        match unsafe { sc!(nanosleep, &req as *const libc::timespec, &mut rem as *mut libc::timespec) } {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => req = rem,
            Err(e) => return Err(e),
        }
    }
}
