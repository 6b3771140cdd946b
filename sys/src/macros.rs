//! The raw syscall entry used by every wrapper. `sc!` returns `SysResult<usize>`.

/// Issue a raw syscall and map the kernel's `-errno` return into `Errno`.
/// Callers must uphold the syscall's pointer contracts; each use carries a
/// `// SAFETY:` line explaining why the pointers it passes are valid.
macro_rules! sc {
    ($nr:ident $(, $a:expr)* $(,)?) => {
        ::syscalls::syscall!(::syscalls::Sysno::$nr $(, $a)*)
            .map_err(|e| $crate::errno::Errno(e.into_raw()))
    };
}
pub(crate) use sc;
