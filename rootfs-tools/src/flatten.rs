//! `husk-rootfs flatten NAME[:TAG] DIR`: the image's layers applied into
//! one directory, bottom first, the way overlayfs would show them stacked.
//!
//! The layers are in overlayfs form already (see unpack.rs), so applying
//! one is the kernel's rules done by hand: a 0:0 character device deletes
//! the name below it, an opaque directory hides everything below it, any
//! other directory merges with a directory below, and anything else
//! replaces what was there. Destination paths are only ever reached by
//! opening one component at a time with O_NOFOLLOW from DIR, so a symlink
//! left by a lower layer is replaced, never written through.

use crate::store::{self, Store};
use crate::tree;
use alloc::vec::Vec;
use husk_sys::fs::{self, Stat, O_CLOEXEC, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY};
use husk_sys::{CBuf, CStr, Context, Errno, Error, Fd};

/// Flatten `name` from the store at `store_dir` into `dest`, which must be
/// missing or an empty directory. On failure `dest` is removed (or emptied,
/// if it existed).
pub fn flatten(store_dir: &[u8], name: &[u8], dest: &[u8]) -> Result<(), Error> {
    // A shared lock: gc waits until we are done reading the layers.
    let store = Store::open(store_dir, false)?;
    let rec = store::read_image(&store.path, name)?;
    let mut d = CBuf::<4096>::from(dest);
    let dc = d.cstr().at("create", dest)?;
    let created = match fs::mkdirat(Fd::CWD, dc, 0o755) {
        Ok(()) => true,
        Err(Errno::EEXIST) => false,
        Err(e) => return Err(Error::sys("create", dest, e)),
    };
    let dfd = tree::open_dir(Fd::CWD, dc).at("open", dest)?;
    if !created && !tree::list_sorted(dfd.fd()).at("read", dest)?.is_empty() {
        return Err(Error::msg("flatten into", dest, "directory is not empty"));
    }
    let mut a =
        Applier { privileged: husk_sys::process::geteuid() == 0, buf: alloc::vec![0; 64 * 1024], links: Vec::new() };
    let r = rec.layers.iter().rev().try_for_each(|layer| {
        let mut l = CBuf::<4096>::from(layer);
        let lfd = tree::open_dir(Fd::CWD, l.cstr().at("open layer", layer)?).at("open layer", layer)?;
        a.links.clear();
        if is_opaque(lfd.fd(), b".") {
            tree::clear_dir(dfd.fd()).at("clear", dest)?;
        }
        a.apply_dir(lfd.fd(), dfd.fd(), dfd.fd(), &mut Vec::new()).map_err(|(e, at)| Error::sys("flatten", &at, e))
    });
    if r.is_err() {
        if created {
            drop(dfd);
            let _ = tree::remove_tree(Fd::CWD, dc);
        } else {
            let _ = tree::clear_dir(dfd.fd());
        }
    }
    r
}

/// True if the directory `name` under `dir` carries overlayfs's opaque mark.
pub fn is_opaque(dir: Fd, name: &[u8]) -> bool {
    let mut p = tree::fd_path(dir, name);
    let Ok(p) = p.cstr() else { return false };
    let mut v = [0u8; 4];
    [c"trusted.overlay.opaque", c"user.overlay.opaque"]
        .iter()
        .any(|k| fs::lgetxattr(p, k, &mut v).is_ok_and(|v| v == b"y"))
}

/// A whiteout in overlayfs form: a character device numbered 0:0.
pub fn is_whiteout(st: &Stat) -> bool {
    st.mode & fs::S_IFMT == fs::S_IFCHR && st.rdev == 0
}

type Fail = (Errno, Vec<u8>);

struct Applier {
    privileged: bool,
    buf: Vec<u8>,
    /// (inode in the layer, path in DIR) of files with several links, so
    /// that hard links within a layer stay hard links.
    links: Vec<(u64, Vec<u8>)>,
}

impl Applier {
    fn apply_dir(&mut self, src: Fd, dst: Fd, root: Fd, rel: &mut Vec<u8>) -> Result<(), Fail> {
        for name in tree::list_sorted(src).map_err(|e| (e, rel.clone()))? {
            let len = rel.len();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(&name);
            let mut c = CBuf::<256>::from(&name);
            let cn = c.cstr().map_err(|e| (e, rel.clone()))?;
            let st = fs::fstatat(src, cn, fs::AT_SYMLINK_NOFOLLOW).map_err(|e| (e, rel.clone()))?;
            self.apply_one(src, dst, root, cn, &st, rel)?;
            rel.truncate(len);
        }
        Ok(())
    }

    fn apply_one(&mut self, src: Fd, dst: Fd, root: Fd, name: &CStr, st: &Stat, rel: &mut Vec<u8>) -> Result<(), Fail> {
        let fail = |e: Errno| (e, rel.clone());
        if is_whiteout(st) {
            return tree::remove_tree(dst, name).map_err(fail);
        }
        if st.is_dir() {
            match fs::fstatat(dst, name, fs::AT_SYMLINK_NOFOLLOW) {
                Ok(d) if d.is_dir() => {
                    if is_opaque(src, name.to_bytes()) {
                        let sub = tree::open_dir(dst, name).map_err(fail)?;
                        tree::clear_dir(sub.fd()).map_err(fail)?;
                    }
                }
                Ok(_) => {
                    tree::remove_tree(dst, name).map_err(fail)?;
                    fs::mkdirat(dst, name, 0o700).map_err(fail)?;
                }
                Err(Errno::ENOENT) => fs::mkdirat(dst, name, 0o700).map_err(fail)?,
                Err(e) => return Err(fail(e)),
            }
            let s = tree::open_dir(src, name).map_err(fail)?;
            let d = tree::open_dir(dst, name).map_err(fail)?;
            self.apply_dir(s.fd(), d.fd(), root, rel)?;
            return self.set_attrs(src, dst, name, st).map_err(|e| (e, rel.clone()));
        }
        tree::remove_tree(dst, name).map_err(fail)?;
        match st.mode & fs::S_IFMT {
            fs::S_IFREG => {
                if st.nlink > 1 {
                    if let Some((_, first)) = self.links.iter().find(|(ino, _)| *ino == st.ino) {
                        let mut f = CBuf::<4096>::from(first);
                        return fs::linkat(root, f.cstr().map_err(fail)?, dst, name, 0).map_err(fail);
                    }
                    self.links.push((st.ino, rel.clone()));
                }
                let from = fs::openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0).map_err(fail)?;
                let to =
                    fs::openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600).map_err(fail)?;
                tree::copy_data(from.fd(), to.fd(), &mut self.buf).map_err(fail)?;
            }
            fs::S_IFLNK => {
                let mut t = [0u8; 4096];
                let target = fs::readlinkat(src, name, &mut t).map_err(fail)?;
                let mut tc = CBuf::<4096>::from(target);
                fs::symlinkat(tc.cstr().map_err(fail)?, dst, name).map_err(fail)?;
            }
            kind @ (fs::S_IFIFO | fs::S_IFCHR | fs::S_IFBLK) => match fs::mknodat(dst, name, kind | 0o600, st.rdev) {
                Err(Errno::EPERM) if kind != fs::S_IFIFO => return Ok(()),
                r => r.map_err(fail)?,
            },
            _ => return Ok(()), // sockets are not kept
        }
        self.set_attrs(src, dst, name, st).map_err(fail)
    }

    /// Owner, mode, xattrs (not overlayfs's own) and mtime of `st` onto
    /// `name` under `dst`.
    fn set_attrs(&self, src: Fd, dst: Fd, name: &CStr, st: &Stat) -> Result<(), Errno> {
        if self.privileged {
            fs::fchownat(dst, name, st.uid, st.gid, fs::AT_SYMLINK_NOFOLLOW)?;
        }
        if !st.is_lnk() {
            fs::fchmodat(dst, name, st.mode & 0o7777)?;
        }
        for (k, v) in tree::read_xattrs(src, name.to_bytes())? {
            if !tree::is_overlay_xattr(&k) {
                match tree::set_xattr(dst, name.to_bytes(), &k, &v) {
                    Err(Errno::EPERM) => {}
                    r => r?,
                }
            }
        }
        fs::utimensat(dst, name, st.mtime, st.mtime_nsec, fs::AT_SYMLINK_NOFOLLOW)
    }
}
