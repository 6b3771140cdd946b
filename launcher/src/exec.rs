//! The init stage: the container process becomes PID 1's program.
//!
//! Runs last in the container process, inside the new root, with the final
//! credentials and capabilities. husk-init is copied into a memfd, sealed,
//! and executed through the fd, so /proc/1/exe names no host file that
//! container root could open for writing (CVE-2019-5736: runc's own binary
//! was overwritten that way). `--no-init` executes COMMAND directly.

use crate::spec::DEFAULT_PATH;
use alloc::vec::Vec;
use husk_sys::fs::{self, AT_EMPTY_PATH};
use husk_sys::mem::{
    self, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, MFD_ALLOW_SEALING, MFD_CLOEXEC,
    MFD_EXEC,
};
use husk_sys::process::{execve, execveat, Argv, CStrVec};
use husk_sys::{fd, CBuf, Context, Errno, Error, OwnedFd};

/// Where PID 1's program comes from.
pub enum InitImage {
    /// The image built into husk.
    Builtin(&'static [u8]),
    /// `--init PATH`, opened by the host stage.
    File(OwnedFd),
    /// `--no-init`.
    None,
}

/// Copy the init image into a sealed memfd. MFD_EXEC (6.3+) says the memfd
/// is meant to be executed, so a `vm.memfd_noexec=1` host does not refuse
/// it; older kernels reject the flag with EINVAL and need no such promise.
pub fn load_init(image: &InitImage) -> Result<Option<OwnedFd>, Error> {
    if let InitImage::None = image {
        return Ok(None);
    }
    let flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
    let memfd = match mem::memfd_create(c"husk-init", flags | MFD_EXEC) {
        Err(Errno::EINVAL) => mem::memfd_create(c"husk-init", flags),
        r => r,
    }
    .ctx("memfd_create husk-init")?;
    match image {
        InitImage::None => {}
        InitImage::Builtin(bytes) => {
            fs::write_all(memfd.fd(), bytes).ctx("write the init image")?
        }
        InitImage::File(f) => {
            let mut buf = [0u8; 8192];
            loop {
                let n = fs::read(f.fd(), &mut buf).ctx("read the init image")?;
                if n == 0 {
                    break;
                }
                fs::write_all(memfd.fd(), &buf[..n]).ctx("write the init image")?;
            }
        }
    }
    // F_SEAL_SEAL last: nobody, not even us, can undo the others.
    let seals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    fd::fcntl_add_seals(memfd.fd(), seals).ctx("seal the init memfd")?;
    Ok(Some(memfd))
}

/// The argv of PID 1: `husk-init -- COMMAND ARG...`, or COMMAND alone.
pub fn argv(command: &[Vec<u8>], with_init: bool) -> Result<CStrVec, Error> {
    let mut v = CStrVec::new();
    if with_init {
        v.push(b"husk-init").ctx("argv")?;
        v.push(b"--").ctx("argv")?;
    }
    for a in command {
        v.push(a).at("argv", a)?;
    }
    Ok(v)
}

/// The environment: PATH, HOSTNAME, HOME, TERM (when stdin is a tty), then
/// each `-e KEY=VALUE`, later ones replacing earlier ones with the same KEY.
pub fn environment(
    hostname: &[u8],
    home: &[u8],
    term: Option<&[u8]>,
    extra: &[Vec<u8>],
) -> Vec<Vec<u8>> {
    let mut env: Vec<Vec<u8>> = Vec::new();
    let mut set = |kv: Vec<u8>| {
        let key_len = kv.iter().position(|&b| b == b'=').unwrap_or(kv.len()) + 1;
        match env
            .iter_mut()
            .find(|e| e.len() >= key_len && e[..key_len] == kv[..key_len])
        {
            Some(e) => *e = kv,
            None => env.push(kv),
        }
    };
    let pair = |k: &[u8], v: &[u8]| [k, v].concat();
    set(pair(b"PATH=", DEFAULT_PATH));
    set(pair(b"HOSTNAME=", hostname));
    set(pair(b"HOME=", home));
    if let Some(t) = term {
        set(pair(b"TERM=", t));
    }
    for kv in extra {
        set(kv.clone());
    }
    env
}

/// The PATH COMMAND is looked up in: the container's own.
pub fn path_of(env: &[Vec<u8>]) -> &[u8] {
    env.iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// execveat of the sealed memfd, or execve of COMMAND. Returns only on
/// failure, with the exit code a shell would use.
pub fn exec(memfd: Option<&OwnedFd>, command_path: &[u8], argv: Argv, envp: Argv) -> (i32, Error) {
    match memfd {
        Some(m) => (
            125,
            Error::sys(
                "execveat husk-init",
                b"",
                execveat(m.fd(), c"", argv, envp, AT_EMPTY_PATH),
            ),
        ),
        None => {
            let mut p = CBuf::<4096>::from(command_path);
            let e = match p.cstr() {
                Ok(c) => execve(c, argv, envp),
                Err(e) => e,
            };
            let code = if e == Errno::ENOENT { 127 } else { 126 };
            (code, Error::sys("exec", command_path, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_has_defaults_and_overrides() {
        let env = environment(
            b"h1",
            b"/root",
            None,
            &[b"A=1".to_vec(), b"PATH=/x".to_vec(), b"A=2".to_vec()],
        );
        let s: Vec<&[u8]> = env.iter().map(|e| &e[..]).collect();
        assert_eq!(
            s,
            vec![&b"PATH=/x"[..], b"HOSTNAME=h1", b"HOME=/root", b"A=2"]
        );
        assert_eq!(path_of(&env), b"/x");
        let env = environment(b"h", b"/", Some(b"xterm"), &[]);
        assert_eq!(env.last().unwrap(), b"TERM=xterm");
    }

    #[test]
    fn argv_puts_init_first() {
        let v = argv(&[b"ls".to_vec(), b"-l".to_vec()], true).unwrap();
        assert_eq!(v.argv().get(0), Some(&b"husk-init"[..]));
        assert_eq!(v.argv().get(2), Some(&b"ls"[..]));
        assert_eq!(argv(&[b"ls".to_vec()], false).unwrap().len(), 1);
    }

    #[test]
    fn the_init_memfd_is_sealed() {
        let m = load_init(&InitImage::Builtin(b"\x7fELF..."))
            .unwrap()
            .unwrap();
        let seals = fd::fcntl_get_seals(m.fd()).unwrap();
        assert_eq!(
            seals & (F_SEAL_WRITE | F_SEAL_SEAL),
            F_SEAL_WRITE | F_SEAL_SEAL
        );
        assert!(fs::write(m.fd(), b"x").is_err());
    }
}
