//! `husk-rootfs host DIR PROGRAM...`: a root filesystem holding host
//! programs and exactly the shared libraries they load.
//!
//! The closure is what ld.so would load, worked out from the ELF files
//! themselves (no ldd, which would run the program's own loader): the
//! interpreter (PT_INTERP), and each DT_NEEDED name looked up the way
//! ld.so(8) does: DT_RPATH (when there is no DT_RUNPATH), DT_RUNPATH, with
//! `$ORIGIN` expanded, then /etc/ld.so.cache, then the default directories.
//! A candidate must match the program's class and machine, as ld.so
//! skips a 32-bit libfoo.so.1 for a 64-bit program.
//!
//! Files keep their host paths. Each path is copied component by
//! component, so a symlink on the way (`libc.so.6 -> libc-2.36.so`,
//! merged-/usr's `lib -> usr/lib`) is recreated as the same symlink and its
//! target copied too. All writes resolve inside DIR (sys's beneath), so a
//! symlink already in DIR cannot send a copy onto the host.

use crate::unpack::split_parent;
use crate::{elf, ldcache, tree};
use alloc::vec::Vec;
use husk_sys::beneath::mkdir_in_root;
use husk_sys::fs::{self, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH, O_RDONLY, O_WRONLY};
use husk_sys::{CBuf, Context, Errno, Error, Fd, OwnedFd};

/// What `host` created, for the summary line.
#[derive(Default, Debug, Clone, Copy)]
pub struct Report {
    pub files: u64,
    pub links: u64,
}

/// The directories ld.so searches last, most specific first.
fn default_dirs(class64: bool, machine: u16) -> &'static [&'static [u8]] {
    match (class64, machine) {
        (true, elf::EM_X86_64) => {
            &[b"/lib/x86_64-linux-gnu", b"/usr/lib/x86_64-linux-gnu", b"/lib64", b"/usr/lib64", b"/lib", b"/usr/lib"]
        }
        (true, elf::EM_AARCH64) => {
            &[b"/lib/aarch64-linux-gnu", b"/usr/lib/aarch64-linux-gnu", b"/lib64", b"/usr/lib64", b"/lib", b"/usr/lib"]
        }
        (false, elf::EM_386) => {
            &[b"/lib/i386-linux-gnu", b"/usr/lib/i386-linux-gnu", b"/lib32", b"/usr/lib32", b"/lib", b"/usr/lib"]
        }
        (true, _) => &[b"/lib64", b"/usr/lib64", b"/lib", b"/usr/lib"],
        (false, _) => &[b"/lib", b"/usr/lib"],
    }
}

/// Host top-level directories that merged-/usr systems make symlinks;
/// recreated in DIR so `/bin/sh` works when `sh` was found in /usr/bin.
const TOP_LINKS: [&[u8]; 6] = [b"/bin", b"/sbin", b"/lib", b"/lib64", b"/lib32", b"/libx32"];

const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &[u8] = b"root:x:0:\nnobody:x:65534:\n";
const HOSTS: &[u8] = b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
/// glibc resolves users, groups and hosts through NSS; without this file
/// it falls back to compiled-in defaults that try services not in DIR.
const NSSWITCH: &[u8] = b"passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n";

pub fn build(dir: &[u8], programs: &[&[u8]], applets: bool) -> Result<Report, Error> {
    // Plan everything before creating anything.
    let mut paths = Vec::new();
    for p in programs {
        paths.push(find_program(p)?);
    }
    let closure = closure(&paths)?;
    let busybox: Vec<(Vec<u8>, Vec<Vec<u8>>)> = if applets {
        let found: Vec<_> = paths
            .iter()
            .filter_map(|p| {
                let data = fs::read_to_vec(Fd::CWD, CBuf::<4096>::from(p).cstr().ok()?).ok()?;
                let names = applet_names(&data);
                (!names.is_empty()).then(|| (p.clone(), names))
            })
            .collect();
        if found.is_empty() {
            return Err(Error::msg("--applets", b"", "no busybox among the programs (no applet table found)"));
        }
        found
    } else {
        Vec::new()
    };

    let mut d = CBuf::<4096>::from(dir);
    let dc = d.cstr().at("create", dir)?;
    match fs::mkdirat(Fd::CWD, dc, 0o755) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::sys("create", dir, e)),
    }
    let root = fs::openat(Fd::CWD, dc, O_PATH | O_DIRECTORY | O_CLOEXEC, 0).at("open", dir)?;
    let mut c = Copier { root, report: Report::default(), buf: alloc::vec![0; 64 * 1024] };
    c.make_skeleton()?;
    for top in TOP_LINKS {
        let mut t = CBuf::<64>::from(top);
        if fs::fstatat(Fd::CWD, t.cstr().ctx("stat")?, fs::AT_SYMLINK_NOFOLLOW).is_ok_and(|s| s.is_lnk()) {
            c.copy_path(top, 0)?;
        }
    }
    let mut glibc = false;
    for f in &closure.files {
        glibc |=
            f.ends_with(b"/libc.so.6") || f.rsplit(|&c| c == b'/').next().is_some_and(|b| b.starts_with(b"libnss_"));
        c.copy_path(f, 0)?;
    }
    if glibc {
        c.write_new(b"/etc/nsswitch.conf", NSSWITCH)?;
    }
    for (prog, names) in &busybox {
        c.link_applets(prog, names)?;
    }
    Ok(c.report)
}

/// A program named on the command line: a path, or a name searched on
/// $PATH like execvp(3) does.
fn find_program(p: &[u8]) -> Result<Vec<u8>, Error> {
    if p.contains(&b'/') {
        let abs = crate::store::absolute(p)?;
        let mut c = CBuf::<4096>::from(&abs);
        fs::fstatat(Fd::CWD, c.cstr().at("find", p)?, 0).at("find", p)?;
        return Ok(abs);
    }
    let path = husk_sys::rt::getenv(b"PATH").unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for d in path.split(|&c| c == b':').filter(|d| d.first() == Some(&b'/')) {
        let mut full = d.to_vec();
        full.push(b'/');
        full.extend_from_slice(p);
        let mut c = CBuf::<4096>::from(&full);
        let Ok(cs) = c.cstr() else { continue };
        if fs::fstatat(Fd::CWD, cs, 0).is_ok_and(|s| s.is_reg() && s.mode & 0o111 != 0) {
            return Ok(full);
        }
    }
    Err(Error::msg("find", p, "not found on PATH"))
}

/// The files to copy: the programs and everything they load.
pub struct Closure {
    pub files: Vec<Vec<u8>>,
}

fn read_host(path: &[u8]) -> Result<Vec<u8>, Error> {
    let mut c = CBuf::<4096>::from(path);
    fs::read_to_vec(Fd::CWD, c.cstr().at("read", path)?).at("read", path)
}

/// (class64, machine) from an ELF header, without reading the whole file.
fn elf_kind(path: &[u8]) -> Option<(bool, u16)> {
    let mut c = CBuf::<4096>::from(path);
    let fd = fs::openat(Fd::CWD, c.cstr().ok()?, O_RDONLY | O_CLOEXEC, 0).ok()?;
    let mut h = [0u8; 20];
    if fs::read_full(fd.fd(), &mut h).ok()? < 20 || !elf::is_elf(&h) {
        return None;
    }
    Some((h[4] == 2, u16::from_le_bytes([h[18], h[19]])))
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

pub fn closure(programs: &[Vec<u8>]) -> Result<Closure, Error> {
    let cache_data = fs::read_to_vec(Fd::CWD, c"/etc/ld.so.cache").unwrap_or_default();
    let cache = ldcache::parse(&cache_data).unwrap_or_default();
    let mut files: Vec<Vec<u8>> = Vec::new();
    let mut queue: Vec<Vec<u8>> = programs.iter().rev().cloned().collect();
    // DT_RPATH of the program applies to every library it loads.
    let mut program_rpath: Vec<Vec<u8>> = Vec::new();
    while let Some(path) = queue.pop() {
        if files.contains(&path) {
            continue;
        }
        files.push(path.clone());
        let data = read_host(&path)?;
        if data.starts_with(b"#!") {
            // A script: its interpreter comes along.
            let line = data[2..].split(|&c| c == b'\n').next().unwrap_or(b"");
            if let Some(interp) = line.split(|&c| c == b' ' || c == b'\t').find(|w| !w.is_empty()) {
                queue.push(interp.to_vec());
            }
            continue;
        }
        let info = match elf::parse(&data) {
            Ok(i) => i,
            Err(elf::Error::NotElf) => continue,
            Err(e) => return Err(Error::msg("read ELF", &path, e.message())),
        };
        drop(data);
        if let Some(interp) = &info.interp {
            queue.push(interp.clone());
        }
        let origin = split_parent(&path).0;
        let mut dirs: Vec<Vec<u8>> = Vec::new();
        match (&info.runpath, &info.rpath) {
            (Some(rp), _) => dirs.extend(elf::search_dirs(rp, origin)),
            (None, Some(rp)) => dirs.extend(elf::search_dirs(rp, origin)),
            _ => {}
        }
        if info.runpath.is_none() {
            dirs.extend(program_rpath.iter().cloned());
        }
        if programs.contains(&path) && info.runpath.is_none() {
            if let Some(rp) = &info.rpath {
                program_rpath = elf::search_dirs(rp, origin);
            }
        }
        let want = Some((info.class64, info.machine));
        for need in &info.needed {
            if need.contains(&b'/') {
                queue.push(need.clone());
                continue;
            }
            let found = dirs
                .iter()
                .map(|d| join(d, need))
                .find(|p| elf_kind(p) == want)
                .or_else(|| {
                    ldcache::lookup(&cache, need, ldcache::expected_flags(info.class64, info.machine))
                        .map(|p| p.to_vec())
                        .filter(|p| elf_kind(p) == want)
                })
                .or_else(|| {
                    default_dirs(info.class64, info.machine).iter().map(|d| join(d, need)).find(|p| elf_kind(p) == want)
                });
            match found {
                Some(p) => queue.push(p),
                None => return Err(Error::msg("find library", need, "not found (needed by a program given)")),
            }
        }
    }
    Ok(Closure { files })
}

/// busybox's applet names: its `applet_names` table, a sorted run of
/// NUL-terminated names in .rodata that starts with `[` and `[[`. Found by
/// that signature instead of by running busybox (nothing here runs an
/// external program); empty if the binary has no such table.
pub fn applet_names(bin: &[u8]) -> Vec<Vec<u8>> {
    let sig = b"[\0[[\0";
    let Some(start) = bin.windows(sig.len()).position(|w| w == sig) else {
        return Vec::new();
    };
    let mut names: Vec<Vec<u8>> = Vec::new();
    for name in bin[start..].split(|&c| c == 0) {
        let plain = name.iter().all(|&c| c.is_ascii_alphanumeric() || b"-_.[".contains(&c));
        if name.is_empty() || !plain || names.last().is_some_and(|l| l.as_slice() >= name) {
            break;
        }
        names.push(name.to_vec());
    }
    names
}

struct Copier {
    root: OwnedFd,
    report: Report,
    buf: Vec<u8>,
}

impl Copier {
    fn make_skeleton(&mut self) -> Result<(), Error> {
        for (d, mode) in [
            (&b"proc"[..], 0o555),
            (b"sys", 0o555),
            (b"dev", 0o755),
            (b"tmp", 0o1777),
            (b"etc", 0o755),
            (b"root", 0o700),
        ] {
            let fd = mkdir_in_root(self.root.fd(), d, Some(0o755)).at("create", d)?;
            // mkdir's mode passes through the umask; the sticky bit of /tmp
            // must be set explicitly anyway.
            fs::fchmodat(fd.fd(), c".", mode).at("chmod", d)?;
        }
        self.write_new(b"/etc/passwd", PASSWD)?;
        self.write_new(b"/etc/group", GROUP)?;
        self.write_new(b"/etc/hosts", HOSTS)
    }

    /// Create `path` in DIR with `data`, unless it exists (a rootfs that
    /// already has its own /etc keeps it).
    fn write_new(&mut self, path: &[u8], data: &[u8]) -> Result<(), Error> {
        let (parent, name) = self.parent_of(path)?;
        let mut n = CBuf::<256>::from(name);
        match fs::openat(
            parent.fd(),
            n.cstr().at("create", path)?,
            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
            0o644,
        ) {
            Err(Errno::EEXIST) => Ok(()),
            Err(e) => Err(Error::sys("create", path, e)),
            Ok(fd) => {
                self.report.files += 1;
                fs::write_all(fd.fd(), data).at("write", path)?;
                fs::fchmod(fd.fd(), 0o644).at("chmod", path)
            }
        }
    }

    /// The directory in DIR that holds `path`, created as needed.
    fn parent_of<'p>(&self, path: &'p [u8]) -> Result<(OwnedFd, &'p [u8]), Error> {
        let (parent, name) = split_parent(path);
        let fd = mkdir_in_root(self.root.fd(), parent, Some(0o755)).at("create", parent)?;
        Ok((fd, name))
    }

    /// Copy the host's `path` into DIR at the same path, recreating each
    /// symlink met on the way and copying its target.
    fn copy_path(&mut self, path: &[u8], depth: u32) -> Result<(), Error> {
        if depth > 40 {
            return Err(Error::sys("copy", path, Errno::ELOOP));
        }
        let comps: Vec<&[u8]> = path.split(|&c| c == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
        let mut cur: Vec<u8> = Vec::new();
        for (i, comp) in comps.iter().enumerate() {
            if *comp == b".." {
                cur.truncate(split_parent(&cur).0.len());
                continue;
            }
            cur.push(b'/');
            cur.extend_from_slice(comp);
            let mut c = CBuf::<4096>::from(&cur);
            let cs = c.cstr().at("copy", &cur)?;
            let st = fs::fstatat(Fd::CWD, cs, fs::AT_SYMLINK_NOFOLLOW).at("copy", &cur)?;
            if st.is_lnk() {
                let mut t = [0u8; 4096];
                let target = fs::readlinkat(Fd::CWD, cs, &mut t).at("readlink", &cur)?.to_vec();
                self.symlink(&cur, &target)?;
                let mut next = if target.first() == Some(&b'/') { Vec::new() } else { split_parent(&cur).0.to_vec() };
                next.push(b'/');
                next.extend_from_slice(&target);
                for rest in &comps[i + 1..] {
                    next.push(b'/');
                    next.extend_from_slice(rest);
                }
                return self.copy_path(&next, depth + 1);
            }
            if st.is_dir() {
                mkdir_in_root(self.root.fd(), &cur, Some(0o755)).at("create", &cur)?;
            } else if i + 1 == comps.len() {
                self.copy_file(&cur, cs, &st)?;
            } else {
                return Err(Error::sys("copy", &cur, Errno::ENOTDIR));
            }
        }
        Ok(())
    }

    fn symlink(&mut self, path: &[u8], target: &[u8]) -> Result<(), Error> {
        let (parent, name) = self.parent_of(path)?;
        let mut n = CBuf::<256>::from(name);
        let mut t = CBuf::<4096>::from(target);
        match fs::symlinkat(t.cstr().at("symlink", path)?, parent.fd(), n.cstr().at("symlink", path)?) {
            Ok(()) => {
                self.report.links += 1;
                Ok(())
            }
            Err(Errno::EEXIST) => Ok(()),
            Err(e) => Err(Error::sys("symlink", path, e)),
        }
    }

    fn copy_file(&mut self, path: &[u8], host: &husk_sys::CStr, st: &fs::Stat) -> Result<(), Error> {
        let (parent, name) = self.parent_of(path)?;
        let mut n = CBuf::<256>::from(name);
        let nc = n.cstr().at("copy", path)?;
        let to = match fs::openat(parent.fd(), nc, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) {
            // Copied already (two programs share it, or a second run).
            Err(Errno::EEXIST) => return Ok(()),
            r => r.at("create", path)?,
        };
        let from = fs::openat(Fd::CWD, host, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0).at("open", path)?;
        tree::copy_data(from.fd(), to.fd(), &mut self.buf).at("copy", path)?;
        fs::fchmod(to.fd(), st.mode & 0o7777).at("chmod", path)?;
        fs::utimensat(parent.fd(), nc, st.mtime, st.mtime_nsec, fs::AT_SYMLINK_NOFOLLOW).at("set mtime of", path)?;
        self.report.files += 1;
        Ok(())
    }

    /// A symlink to busybox for each applet, next to it (`sh -> busybox`).
    fn link_applets(&mut self, prog: &[u8], names: &[Vec<u8>]) -> Result<(), Error> {
        let (dir, base) = split_parent(prog);
        for n in names {
            if n.as_slice() == base || n.as_slice() == b"busybox" {
                continue;
            }
            self.symlink(&join(dir, n), base)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_table_is_found_by_signature_and_stops_at_its_end() {
        let mut bin = b"\x7fELF junk ".to_vec();
        bin.extend_from_slice(b"[\0[[\0ash\0cat\0ls\0sh\0\0zzz\0");
        assert_eq!(
            applet_names(&bin),
            vec![b"[".to_vec(), b"[[".to_vec(), b"ash".to_vec(), b"cat".to_vec(), b"ls".to_vec(), b"sh".to_vec()]
        );
        assert!(applet_names(b"no table here").is_empty());
        // Unsorted data after the table ends it too.
        assert_eq!(applet_names(b"[\0[[\0b\0a\0").len(), 3);
    }

    #[test]
    fn closure_of_the_host_shell_has_its_loader_and_libc() {
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        let c = closure(&[sh.to_str().unwrap().as_bytes().to_vec()]).unwrap();
        let names: Vec<String> = c.files.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        if names.len() > 1 {
            assert!(names.iter().any(|n| n.contains("ld-")), "{names:?}");
            assert!(names.iter().any(|n| n.ends_with("libc.so.6") || n.contains("libc.musl")), "{names:?}");
        }
    }
}
