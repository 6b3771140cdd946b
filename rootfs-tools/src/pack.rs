//! `husk-rootfs pack --format cpio|tar [--mtime N] DIR OUT`: a directory
//! tree as a newc cpio (an initramfs) or a ustar+pax tar.
//!
//! The output depends only on the tree: names are visited in bytewise
//! order, depth first, inodes are numbered in that order, and `--mtime`
//! replaces every time stamp, so two runs over equal trees give equal
//! bytes. Nothing is followed out of DIR: every open is O_NOFOLLOW from
//! the directory fd above it.
//!
//! The archive is written next to OUT and renamed over it at the end, so a
//! failed pack leaves no half archive (and OUT inside DIR is skipped).

use crate::{cpio, tar, tree};
use alloc::vec::Vec;
use husk_sys::fmt::Sink;
use husk_sys::fs::{self, Stat, O_CLOEXEC, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY};
use husk_sys::{CBuf, Context, Error, Fd, OwnedFd};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Cpio,
    Tar,
}

pub struct Options {
    pub format: Format,
    /// Every entry's mtime, for reproducible archives.
    pub mtime: Option<i64>,
}

/// The major and minor numbers of a kernel dev_t.
pub fn major_minor(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

pub fn pack(dir: &[u8], out: &[u8], opts: &Options) -> Result<(), Error> {
    let mut d = CBuf::<4096>::from(dir);
    let src = tree::open_dir(Fd::CWD, d.cstr().at("open", dir)?).at("open", dir)?;
    let to_stdout = out == b"-";
    let mut tmp = CBuf::<4096>::new();
    tmp.b(out).s(".tmp-").u(husk_sys::process::getpid() as u64);
    let (fd, own): (Fd, Option<OwnedFd>) = if to_stdout {
        (Fd::STDOUT, None)
    } else {
        let f = fs::openat(Fd::CWD, tmp.cstr().at("create", out)?, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            .at("create", out)?;
        (f.fd(), Some(f))
    };
    let skip = match &own {
        Some(f) => fs::fstat(f.fd()).ok().map(|s| (s.dev, s.ino)),
        None => None,
    };
    let mut p =
        Packer { opts, out: Out { fd, buf: Vec::with_capacity(1 << 17) }, skip, next_ino: 1, links: Vec::new() };
    let r = p.walk(src.fd(), &mut Vec::new()).and_then(|_| p.finish());
    drop(own);
    if to_stdout {
        return r;
    }
    let tc = tmp.cstr().at("create", out)?;
    let r = r.and_then(|_| {
        let mut o = CBuf::<4096>::from(out);
        fs::renameat2(Fd::CWD, tc, Fd::CWD, o.cstr().at("rename", out)?, 0).at("rename into place", out)
    });
    if r.is_err() {
        let _ = fs::unlinkat(Fd::CWD, tc, 0);
    }
    r
}

/// A buffered output that reports its errors.
struct Out {
    fd: Fd,
    buf: Vec<u8>,
}

impl Out {
    fn flush(&mut self) -> Result<(), Error> {
        fs::write_all(self.fd, &self.buf).ctx("write archive")?;
        self.buf.clear();
        Ok(())
    }
    fn maybe_flush(&mut self) -> Result<(), Error> {
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }
}

struct Packer<'a> {
    opts: &'a Options,
    out: Out,
    skip: Option<(u64, u64)>,
    next_ino: u32,
    /// (dev, ino) -> first path, for tar hard links.
    links: Vec<((u64, u64), Vec<u8>)>,
}

impl Packer<'_> {
    fn walk(&mut self, dir: Fd, rel: &mut Vec<u8>) -> Result<(), Error> {
        for name in tree::list_sorted(dir).at("read directory", rel)? {
            let len = rel.len();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(&name);
            let mut c = CBuf::<256>::from(&name);
            let cn = c.cstr().at("pack", rel)?;
            let st = fs::fstatat(dir, cn, fs::AT_SYMLINK_NOFOLLOW).at("stat", rel)?;
            if self.skip != Some((st.dev, st.ino)) {
                self.entry(dir, &name, &st, rel)?;
                if st.is_dir() {
                    let sub = tree::open_dir(dir, cn).at("open", rel)?;
                    self.walk(sub.fd(), rel)?;
                }
            }
            rel.truncate(len);
        }
        Ok(())
    }

    fn entry(&mut self, dir: Fd, name: &[u8], st: &Stat, rel: &[u8]) -> Result<(), Error> {
        let kind = st.mode & fs::S_IFMT;
        if kind == fs::S_IFSOCK {
            return Ok(()); // sockets only exist while their server runs
        }
        let mtime = self.opts.mtime.unwrap_or(st.mtime);
        let mut target = [0u8; 4096];
        let link: &[u8] = if kind == fs::S_IFLNK {
            let mut c = CBuf::<256>::from(name);
            fs::readlinkat(dir, c.cstr().at("readlink", rel)?, &mut target).at("readlink", rel)?
        } else {
            b""
        };
        let (major, minor) = major_minor(st.rdev);
        let mut size = if kind == fs::S_IFREG { st.size } else { 0 };
        match self.opts.format {
            Format::Cpio => {
                // Hard links are stored as separate files: newc would need
                // every link of an inode known before its last one.
                let e = cpio::Entry {
                    name: rel,
                    ino: self.next_ino,
                    mode: st.mode,
                    uid: st.uid,
                    gid: st.gid,
                    nlink: if kind == fs::S_IFDIR { 2 } else { 1 },
                    mtime: mtime.clamp(0, u32::MAX as i64) as u32,
                    size: if kind == fs::S_IFLNK { link.len() as u64 } else { size },
                    rdev_major: major,
                    rdev_minor: minor,
                };
                self.next_ino += 1;
                cpio::encode_header(&e, &mut self.out.buf).map_err(|d| Error::msg("pack", rel, d))?;
                if kind == fs::S_IFLNK {
                    self.out.buf.extend_from_slice(link);
                    self.pad(cpio::pad_len(link.len() as u64));
                }
            }
            Format::Tar => {
                let mut tkind = match kind {
                    fs::S_IFDIR => tar::Kind::Dir,
                    fs::S_IFLNK => tar::Kind::Symlink,
                    fs::S_IFCHR => tar::Kind::Char,
                    fs::S_IFBLK => tar::Kind::Block,
                    fs::S_IFIFO => tar::Kind::Fifo,
                    _ => tar::Kind::Regular,
                };
                let mut link = link.to_vec();
                if kind == fs::S_IFREG && st.nlink > 1 {
                    let key = (st.dev, st.ino);
                    if let Some((_, first)) = self.links.iter().find(|(k, _)| *k == key) {
                        tkind = tar::Kind::HardLink;
                        link = first.clone();
                        size = 0;
                    } else {
                        self.links.push((key, rel.to_vec()));
                    }
                }
                let xattrs = tree::read_xattrs(dir, name).at("read xattrs of", rel)?;
                let xs: Vec<(&[u8], &[u8])> = xattrs
                    .iter()
                    .filter(|(k, _)| !tree::is_overlay_xattr(k))
                    .map(|(k, v)| (k.as_slice(), v.as_slice()))
                    .collect();
                let m = tar::Meta {
                    path: rel,
                    link: &link,
                    kind: tkind,
                    mode: st.mode & 0o7777,
                    uid: st.uid,
                    gid: st.gid,
                    size,
                    mtime,
                    dev_major: major,
                    dev_minor: minor,
                    xattrs: &xs,
                };
                tar::encode_header(&m, &mut self.out.buf).map_err(|d| Error::msg("pack", rel, d))?;
            }
        }
        if size > 0 {
            self.copy_file(dir, name, size, rel)?;
            let pad = match self.opts.format {
                Format::Cpio => cpio::pad_len(size),
                Format::Tar => tar::pad_len(size),
            };
            self.pad(pad);
        }
        self.out.maybe_flush()
    }

    fn pad(&mut self, n: usize) {
        self.out.buf.resize(self.out.buf.len() + n, 0);
    }

    /// Append exactly `size` bytes of the file: the header already said so.
    fn copy_file(&mut self, dir: Fd, name: &[u8], size: u64, rel: &[u8]) -> Result<(), Error> {
        let mut c = CBuf::<256>::from(name);
        let fd = fs::openat(dir, c.cstr().at("open", rel)?, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0).at("open", rel)?;
        let mut left = size;
        while left > 0 {
            self.out.flush()?;
            let want = left.min(1 << 16) as usize;
            self.out.buf.resize(want, 0);
            let n = fs::read(fd.fd(), &mut self.out.buf[..want]).at("read", rel)?;
            if n == 0 {
                self.out.buf.clear();
                return Err(Error::msg("pack", rel, "file shrank while being packed"));
            }
            self.out.buf.truncate(n);
            left -= n as u64;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        match self.opts.format {
            Format::Cpio => cpio::encode_trailer(&mut self.out.buf),
            Format::Tar => self.out.buf.extend_from_slice(&tar::END_OF_ARCHIVE),
        }
        self.out.flush()
    }
}

/// Parse `--format`'s value.
pub fn parse_format(s: &[u8]) -> Option<Format> {
    match s {
        b"cpio" | b"newc" => Some(Format::Cpio),
        b"tar" => Some(Format::Tar),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_t_splits_like_the_kernel() {
        assert_eq!(major_minor(fs::makedev(1, 3)), (1, 3));
        assert_eq!(major_minor(fs::makedev(259, 70000)), (259, 70000));
        assert_eq!(major_minor(fs::makedev(4095, 255)), (4095, 255));
    }
}
