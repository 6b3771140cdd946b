//! Looking into the rootfs from the host, before anything is created: the
//! layers exist, COMMAND is there and executable, /etc/passwd says who `-u`
//! is, and no mount destination climbs out through a symlink.
//!
//! Runs in the host stage. Every lookup resolves inside a layer (symlinks
//! are taken relative to the layer, never the host's /), and an overlay is
//! searched top layer first, as the merged view would show it.

use alloc::vec::Vec;
use husk_sys::beneath::open_in_root;
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, O_CLOEXEC, O_DIRECTORY, O_PATH, O_RDONLY};
use husk_sys::{CBuf, Context, Errno, Error, Fd, OwnedFd};

/// Open every layer as an O_PATH directory fd; names the bad one.
pub fn open_layers(layers: &[Vec<u8>]) -> Result<Vec<OwnedFd>, Error> {
    let mut fds = Vec::with_capacity(layers.len());
    for l in layers {
        let mut p = CBuf::<4096>::from(l);
        let fd = fs::openat(Fd::CWD, p.cstr().at("rootfs", l)?, O_PATH | O_DIRECTORY | O_CLOEXEC, 0).at("rootfs", l)?;
        fds.push(fd);
    }
    Ok(fds)
}

/// Open `path` in the first layer that has it.
fn open_in_layers(layers: &[OwnedFd], path: &[u8], flags: i32) -> Result<OwnedFd, Errno> {
    let mut last = Errno::ENOENT;
    for l in layers {
        match open_in_root(l.fd(), path, flags, 0) {
            Ok(fd) => return Ok(fd),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The contents of a small file of the rootfs, or empty if it is missing.
pub fn read_file(layers: &[OwnedFd], path: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(fd) = open_in_layers(layers, path, O_RDONLY) {
        let mut buf = [0u8; 1024];
        while let Ok(n) = fs::read(fd.fd(), &mut buf) {
            if n == 0 || out.len() > (1 << 20) {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }
    out
}

/// Find COMMAND the way execvp(3) will inside the container: as given if
/// it has a `/`, else in each directory of `path`. Returns the absolute
/// path in the container, or the exit code (127 missing, 126 not
/// executable) with the error.
pub fn find_command(layers: &[OwnedFd], cmd: &[u8], path: &[u8], workdir: &[u8]) -> Result<Vec<u8>, (i32, Error)> {
    let mut denied = false;
    let mut cand = Vec::new();
    if cmd.contains(&b'/') {
        if cmd.first() != Some(&b'/') {
            cand.b(workdir).c(b'/');
        }
        cand.b(cmd);
        if runnable(layers, &cand, &mut denied) {
            return Ok(cand);
        }
    } else {
        for dir in path.split(|&b| b == b':') {
            if dir.is_empty() {
                continue;
            }
            cand.clear();
            cand.b(dir).c(b'/').b(cmd);
            if runnable(layers, &cand, &mut denied) {
                return Ok(cand);
            }
        }
    }
    // The codes of a shell (and of execvp): 126 found but not runnable,
    // 127 not found at all.
    let (code, errno) = match denied {
        true => (126, Errno::EACCES),
        false => (127, Errno::ENOENT),
    };
    Err((code, Error::sys("exec", cmd, errno)))
}

/// Whether `p` is an executable regular file; `denied` notes one that is not.
fn runnable(layers: &[OwnedFd], p: &[u8], denied: &mut bool) -> bool {
    let Ok(fd) = open_in_layers(layers, p, O_PATH) else {
        return false;
    };
    let ok = matches!(fs::fstat(fd.fd()), Ok(st) if st.is_reg() && st.mode & 0o111 != 0);
    *denied |= !ok;
    ok
}

/// Whether resolving `path` (absolute, no `..`) inside a layer would climb
/// above the layer through a relative symlink such as `x -> ../../etc`.
/// Absolute symlinks are container paths and do not escape. Missing
/// components end the walk: they will be created as directories.
/// (openat2's RESOLVE_IN_ROOT clamps such a climb silently, and
/// RESOLVE_BENEATH refuses absolute symlinks too: neither tells this.)
pub fn escapes(layer: Fd, path: &[u8]) -> bool {
    husk_sys::beneath::escapes(layer, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn layer(tag: &str) -> (std::path::PathBuf, Vec<OwnedFd>) {
        let d = std::env::temp_dir().join(format!("husk-rootfs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("bin")).unwrap();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("bin/tool"), b"x").unwrap();
        std::fs::set_permissions(d.join("bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(d.join("bin/data"), b"x").unwrap();
        symlink("/bin/tool", d.join("bin/link")).unwrap();
        symlink("../../..", d.join("a/b/up")).unwrap();
        symlink("/a", d.join("abs")).unwrap();
        symlink("b/..", d.join("a/rel")).unwrap();
        let fds = open_layers(&[d.to_str().unwrap().as_bytes().to_vec()]).unwrap();
        (d, fds)
    }

    #[test]
    fn commands_are_found_like_execvp() {
        let (d, l) = layer("cmd");
        assert_eq!(find_command(&l, b"tool", b"/usr/bin:/bin", b"/").unwrap(), b"/bin/tool");
        assert_eq!(find_command(&l, b"link", b"/bin", b"/").unwrap(), b"/bin/link");
        assert_eq!(find_command(&l, b"/bin/tool", b"", b"/").unwrap(), b"/bin/tool");
        assert_eq!(find_command(&l, b"bin/tool", b"", b"/").unwrap(), b"//bin/tool");
        assert_eq!(find_command(&l, b"missing", b"/bin", b"/").unwrap_err().0, 127);
        assert_eq!(find_command(&l, b"data", b"/bin", b"/").unwrap_err().0, 126);
        assert_eq!(find_command(&l, b"/bin", b"", b"/").unwrap_err().0, 126);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn relative_symlinks_that_climb_out_are_escapes() {
        let (d, l) = layer("esc");
        let root = l[0].fd();
        assert!(!escapes(root, b"/a/b/new/dir"));
        assert!(escapes(root, b"/a/b/up/etc"));
        assert!(escapes(root, b"/a/b/up"));
        assert!(!escapes(root, b"/abs/b"));
        assert!(!escapes(root, b"/a/rel/b"));
        assert!(!escapes(root, b"/missing/x"));
        std::fs::remove_dir_all(d).unwrap();
    }
}
