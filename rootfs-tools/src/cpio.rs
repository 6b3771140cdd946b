//! cpio "newc" (SVR4, magic 070701) writer, the format the kernel unpacks
//! as an initramfs (Documentation/driver-api/early-userspace/
//! buffer-format.rst).
//!
//! Each entry is a 110-byte ASCII-hex header, the name with its NUL padded
//! to a multiple of 4, then the data padded to a multiple of 4. Output is
//! deterministic because every field comes from the caller: it numbers the
//! inodes (so hard links share one), chooses the mtime and sorts the names.
//! Hard links follow GNU cpio's convention: every name carries nlink and the
//! same inode, and only the last one carries the data.
//!
//! Limits: newc fields are 32 bits, so files of 4 GiB or more and times
//! past 2106 cannot be written.

use alloc::vec::Vec;

pub const S_IFMT: u32 = 0o170000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFIFO: u32 = 0o010000;

/// One member. `mode` includes the file type bits (S_IF*).
#[derive(Clone, Copy, Debug, Default)]
pub struct Entry<'a> {
    /// Relative name without a leading `/` (the kernel and `cpio -i` take
    /// it relative to the extraction root); `.` for the root itself.
    pub name: &'a [u8],
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    /// Data bytes that follow: the contents, or a symlink's target.
    pub size: u64,
    /// Device numbers of a character or block device.
    pub rdev_major: u32,
    pub rdev_minor: u32,
}

fn put_hex(out: &mut Vec<u8>, v: u32) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for shift in (0..8).rev() {
        out.push(DIGITS[((v >> (shift * 4)) & 15) as usize]);
    }
}

/// Zero bytes after `len` bytes to reach a 4-byte boundary.
pub fn pad_len(len: u64) -> usize {
    ((4 - len % 4) % 4) as usize
}

/// Appends the header and the padded name of `e`. The caller then writes
/// `e.size` bytes of data and [`pad_len`]`(e.size)` zeros.
pub fn encode_header(e: &Entry, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let size = u32::try_from(e.size).map_err(|_| "file too large for cpio (4 GiB)")?;
    if e.name.is_empty() || e.name.contains(&0) {
        return Err("empty name or NUL byte in name");
    }
    let start = out.len();
    out.extend_from_slice(b"070701");
    for v in [
        e.ino,
        e.mode,
        e.uid,
        e.gid,
        e.nlink,
        e.mtime,
        size,
        0, // major and minor of the device holding the file: unused
        0,
        e.rdev_major,
        e.rdev_minor,
        e.name.len() as u32 + 1,
        0, // check: only for the 070702 "crc" variant
    ] {
        put_hex(out, v);
    }
    out.extend_from_slice(e.name);
    out.push(0);
    let len = (out.len() - start) as u64;
    out.resize(out.len() + pad_len(len), 0);
    Ok(())
}

/// Appends the `TRAILER!!!` entry that ends the archive.
pub fn encode_trailer(out: &mut Vec<u8>) {
    let t = Entry { name: b"TRAILER!!!", nlink: 1, ..Entry::default() };
    encode_header(&t, out).unwrap_or(());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::process::{Command, Stdio};

    fn add(out: &mut Vec<u8>, e: Entry, data: &[u8]) {
        encode_header(&e, out).unwrap();
        out.extend_from_slice(data);
        out.resize(out.len() + pad_len(data.len() as u64), 0);
    }

    fn archive() -> Vec<u8> {
        let mut out = Vec::new();
        let base = Entry { nlink: 1, mtime: 1_500_000_000, ..Entry::default() };
        let long = format!("dir/{}", "n".repeat(200));
        add(&mut out, Entry { name: b".", ino: 1, mode: S_IFDIR | 0o755, nlink: 3, ..base }, b"");
        add(&mut out, Entry { name: b"dir", ino: 2, mode: S_IFDIR | 0o700, nlink: 2, ..base }, b"");
        add(
            &mut out,
            Entry { name: b"dir/a", ino: 3, mode: S_IFREG | 0o4755, size: 5, uid: 7, gid: 8, ..base },
            b"hello",
        );
        add(&mut out, Entry { name: b"dir/hard1", ino: 4, mode: S_IFREG | 0o644, nlink: 2, ..base }, b"");
        add(&mut out, Entry { name: b"dir/hard2", ino: 4, mode: S_IFREG | 0o644, nlink: 2, size: 3, ..base }, b"abc");
        add(&mut out, Entry { name: b"link", ino: 5, mode: S_IFLNK | 0o777, size: 5, ..base }, b"dir/a");
        add(&mut out, Entry { name: b"fifo", ino: 6, mode: S_IFIFO | 0o600, ..base }, b"");
        let null = Entry { name: b"null", ino: 7, mode: S_IFCHR | 0o666, rdev_major: 1, rdev_minor: 3, ..base };
        add(&mut out, null, b"");
        add(&mut out, Entry { name: long.as_bytes(), ino: 8, mode: S_IFREG | 0o600, size: 1, ..base }, b"x");
        encode_trailer(&mut out);
        out
    }

    #[test]
    fn header_layout() {
        let mut out = Vec::new();
        encode_header(&Entry { name: b"ab", ino: 0x1a, mode: S_IFREG | 0o644, nlink: 1, ..Entry::default() }, &mut out)
            .unwrap();
        // 110 + "ab\0" = 113, padded to 116.
        assert_eq!(out.len(), 116);
        assert_eq!(&out[..22], b"0707010000001A000081A4");
        assert_eq!(&out[94..102], b"00000003"); // namesize
        assert_eq!(
            encode_header(&Entry { name: b"x", size: 1 << 32, ..Entry::default() }, &mut out).err(),
            Some("file too large for cpio (4 GiB)")
        );
    }

    #[test]
    fn gnu_cpio_lists_and_extracts() {
        let dir = std::env::temp_dir().join(format!("husk-cpio-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("x")).unwrap();
        let data = archive();
        assert_eq!(data, archive(), "deterministic");
        std::fs::write(dir.join("a.cpio"), &data).unwrap();

        let list = Command::new("cpio").args(["-t", "--quiet", "-F"]).arg(dir.join("a.cpio")).output().unwrap();
        assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
        let names = String::from_utf8(list.stdout).unwrap();
        let names: Vec<&str> = names.lines().collect();
        assert_eq!(names.len(), 9);
        assert_eq!(&names[..8], [".", "dir", "dir/a", "dir/hard1", "dir/hard2", "link", "fifo", "null"]);

        let st = Command::new("cpio")
            .args(["-idm", "--quiet", "-F"])
            .arg(dir.join("a.cpio"))
            .current_dir(dir.join("x"))
            .stderr(Stdio::inherit())
            .status()
            .unwrap();
        assert!(st.success());
        let x = dir.join("x");
        let a = std::fs::metadata(x.join("dir/a")).unwrap();
        assert_eq!((a.mode(), a.uid(), a.gid(), a.mtime()), (S_IFREG | 0o4755, 7, 8, 1_500_000_000));
        assert_eq!(std::fs::read(x.join("dir/a")).unwrap(), b"hello");
        assert_eq!(std::fs::read(x.join("dir/hard1")).unwrap(), b"abc");
        let h = std::fs::metadata(x.join("dir/hard2")).unwrap();
        assert_eq!((h.nlink(), h.ino()), (2, std::fs::metadata(x.join("dir/hard1")).unwrap().ino()));
        assert_eq!(std::fs::read_link(x.join("link")).unwrap().to_str(), Some("dir/a"));
        assert!(std::fs::metadata(x.join("fifo")).unwrap().file_type().is_fifo());
        let null = std::fs::metadata(x.join("null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), (1 << 8) | 3);
        assert_eq!(std::fs::read(x.join(format!("dir/{}", "n".repeat(200)))).unwrap(), b"x");
        assert_eq!(std::fs::metadata(x.join("dir")).unwrap().mode() & 0o7777, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
