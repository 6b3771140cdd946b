//! errno values with the names and texts users know from strerror(3).
//!
//! Only the errnos a container runtime meets are named; anything else renders
//! as `errno N`, which keeps husk-init small.

/// A kernel error number (positive).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Errno(pub i32);

/// The result of a raw syscall wrapper.
pub type SysResult<T> = core::result::Result<T, Errno>;

macro_rules! errnos {
    ($($name:ident = $n:literal, $text:literal;)*) => {
        impl Errno {
            $(pub const $name: Errno = Errno($n);)*
        }
        /// The numbers, in table order.
        const NUMBERS: &[u8] = &[$($n),*];
        /// "NAME\0text\0" for each number, in the same order. One string
        /// scanned linearly: a `match` per accessor became two 2 KiB tables of
        /// string pointers indexed by errno.
        const STRINGS: &str = concat!($(stringify!($name), "\0", $text, "\0"),*);
    };
}

impl Errno {
    /// The symbolic name (`"EINVAL"`), if known.
    pub fn name(self) -> Option<&'static str> {
        self.field(0)
    }
    /// The strerror(3) text (`"Invalid argument"`), if known.
    pub fn text(self) -> Option<&'static str> {
        self.field(1)
    }
    fn field(self, which: usize) -> Option<&'static str> {
        let i = NUMBERS.iter().position(|&n| n as i32 == self.0)?;
        STRINGS.split('\0').nth(2 * i + which)
    }
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    ENXIO = 6, "No such device or address";
    E2BIG = 7, "Argument list too long";
    ENOEXEC = 8, "Exec format error";
    EBADF = 9, "Bad file descriptor";
    ECHILD = 10, "No child processes";
    EAGAIN = 11, "Resource temporarily unavailable";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    ENOTBLK = 15, "Block device required";
    EBUSY = 16, "Device or resource busy";
    EEXIST = 17, "File exists";
    EXDEV = 18, "Invalid cross-device link";
    ENODEV = 19, "No such device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    ETXTBSY = 26, "Text file busy";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EMLINK = 31, "Too many links";
    EPIPE = 32, "Broken pipe";
    ERANGE = 34, "Numerical result out of range";
    EDEADLK = 35, "Resource deadlock avoided";
    ENAMETOOLONG = 36, "File name too long";
    ENOSYS = 38, "Function not implemented";
    ENOTEMPTY = 39, "Directory not empty";
    ELOOP = 40, "Too many levels of symbolic links";
    ENODATA = 61, "No data available";
    EOVERFLOW = 75, "Value too large for defined data type";
    EILSEQ = 84, "Invalid or incomplete multibyte or wide character";
    EUSERS = 87, "Too many users";
    ENOTSOCK = 88, "Socket operation on non-socket";
    EMSGSIZE = 90, "Message too long";
    EPROTONOSUPPORT = 93, "Protocol not supported";
    EOPNOTSUPP = 95, "Operation not supported";
    EAFNOSUPPORT = 97, "Address family not supported by protocol";
    EADDRINUSE = 98, "Address already in use";
    ENETDOWN = 100, "Network is down";
    ECONNREFUSED = 111, "Connection refused";
    ESTALE = 116, "Stale file handle";
    EDQUOT = 122, "Disk quota exceeded";
    ECANCELED = 125, "Operation canceled";
    EOWNERDEAD = 130, "Owner died";
}

impl Errno {
    /// `errno` as the kernel's small integer, for exit codes and tests.
    pub fn raw(self) -> i32 {
        self.0
    }
}

/// Retry a syscall that the kernel interrupted with EINTR.
pub fn retry<T>(mut f: impl FnMut() -> SysResult<T>) -> SysResult<T> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_texts_match_strerror() {
        assert_eq!(Errno::EINVAL.name(), Some("EINVAL"));
        assert_eq!(Errno::EINVAL.text(), Some("Invalid argument"));
        assert_eq!(Errno(2).name(), Some("ENOENT"));
        assert_eq!(Errno(25).text(), Some("Inappropriate ioctl for device"));
        assert_eq!(Errno(4000).name(), None);
    }
}
