//! husk-rootfs as a user runs it. Every fixture is built here, with GNU
//! tar, gzip and sha256sum (or a few lines of tar-writing code for the
//! malicious archives that real tools refuse to make), and every result is
//! checked against what the real tools make of the same input: GNU tar for
//! extraction and flattening, cpio for initramfs archives, chroot for
//! rootfs builds.
use husk_tests::{bin, run, text, Scratch};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

// ---------------------------------------------------------------------------
// Running things.

fn husk_rootfs(args: &[&str]) -> Output {
    run(Command::new(bin("husk-rootfs")).args(args))
}

fn store_cmd(store: &Path, args: &[&str]) -> Output {
    let s = store.to_str().unwrap();
    let mut all = vec![args[0], "--store", s];
    all.extend_from_slice(&args[1..]);
    husk_rootfs(&all)
}

#[track_caller]
fn ok(o: &Output) -> String {
    let (out, err) = text(o);
    assert!(o.status.success(), "expected success, got {:?}\nstdout: {out}\nstderr: {err}", o.status);
    out
}

#[track_caller]
fn fails(o: &Output, code: i32, needle: &str) {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(code), "stdout: {out}\nstderr: {err}");
    assert!(err.contains(needle), "stderr should contain {needle:?}: {err}");
    assert!(err.starts_with("husk-rootfs: "), "{err}");
}

#[track_caller]
fn sh(script: &str) -> String {
    let o = run(Command::new("sh").arg("-c").arg(script));
    let (out, err) = text(&o);
    assert!(o.status.success(), "sh -c {script}\nstdout: {out}\nstderr: {err}");
    out
}

fn sha256_hex(data: &[u8]) -> String {
    let mut c = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    let o = c.wait_with_output().unwrap();
    String::from_utf8(o.stdout).unwrap()[..64].to_string()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

// ---------------------------------------------------------------------------
// Fixtures: layers, OCI layouts, docker archives.

/// A layer as GNU tar and gzip made it.
struct Layer {
    tar: PathBuf,
    gz: Vec<u8>,
    diff_id: String,
}

/// tar the contents of `dir` (sorted, numeric owners) in `format`.
fn layer_from_dir(work: &Path, name: &str, dir: &Path, format: &str) -> Layer {
    let tar = work.join(format!("{name}.tar"));
    sh(&format!("tar --format={format} --xattrs --sort=name --numeric-owner -C '{}' -cf '{}' .", p(dir), p(&tar)));
    layer_from_tar(tar)
}

fn layer_from_tar(tar: PathBuf) -> Layer {
    sh(&format!("gzip -n -k -f '{}'", p(&tar)));
    let gz = fs::read(format!("{}.gz", p(&tar))).unwrap();
    let diff_id = sha256_hex(&fs::read(&tar).unwrap());
    Layer { tar, gz, diff_id }
}

fn layer_from_bytes(work: &Path, name: &str, bytes: &[u8]) -> Layer {
    let tar = work.join(format!("{name}.tar"));
    fs::write(&tar, bytes).unwrap();
    layer_from_tar(tar)
}

/// How a layer appears in a layout: its blob, media type, the digest the
/// manifest claims and the diff_id the config claims.
struct Desc {
    blob: Vec<u8>,
    media: &'static str,
    digest: Option<String>,
    diff_id: String,
}

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

fn desc(l: &Layer) -> Desc {
    Desc { blob: l.gz.clone(), media: GZIP, digest: None, diff_id: l.diff_id.clone() }
}

fn put_blob(layout: &Path, data: &[u8], digest: Option<&str>) -> (String, usize) {
    let d = digest.map(String::from).unwrap_or_else(|| sha256_hex(data));
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    fs::write(layout.join("blobs/sha256").join(&d), data).unwrap();
    (d, data.len())
}

const CONFIG: &str = r#"{"Env":["PATH=/usr/bin:/bin","GREETING=hi"],"Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],"WorkingDir":"/srv","User":"1000:1000"}"#;

fn config_json(diff_ids: &[String], config: &str) -> String {
    let ids: Vec<String> = diff_ids.iter().map(|d| format!("\"sha256:{d}\"")).collect();
    format!(
        r#"{{"architecture":"amd64","os":"linux","config":{config},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        ids.join(",")
    )
}

/// An OCI image layout in `dir` holding one image of `layers`, bottom first.
fn oci_layout(dir: &Path, layers: &[Desc], ref_name: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let (cd, cs) = put_blob(dir, config_json(&diff_ids, CONFIG).as_bytes(), None);
    let descs: Vec<String> = layers
        .iter()
        .map(|l| {
            let (d, s) = put_blob(dir, &l.blob, l.digest.as_deref());
            format!(r#"{{"mediaType":"{}","digest":"sha256:{d}","size":{s}}}"#, l.media)
        })
        .collect();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{cd}","size":{cs}}},"layers":[{}]}}"#,
        descs.join(",")
    );
    let (md, ms) = put_blob(dir, manifest.as_bytes(), None);
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{md}","size":{ms},"platform":{{"architecture":"amd64","os":"linux"}},"annotations":{{"org.opencontainers.image.ref.name":"{ref_name}"}}}}]}}"#
    );
    fs::write(dir.join("index.json"), index).unwrap();
}

/// A `docker save` archive: manifest.json, <config sha>.json and
/// <n>/layer.tar (uncompressed); a repeated layer is a symlink to the first
/// copy, as docker writes it.
fn docker_archive(work: &Path, out: &Path, layers: &[&Layer], tag: &str) {
    let dir = work.join("docker-save");
    fs::create_dir_all(&dir).unwrap();
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config = config_json(&diff_ids, CONFIG);
    let config_name = format!("{}.json", sha256_hex(config.as_bytes()));
    fs::write(dir.join(&config_name), &config).unwrap();
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("{i}/layer.tar");
        fs::create_dir_all(dir.join(i.to_string())).unwrap();
        match layers[..i].iter().position(|o| o.diff_id == l.diff_id) {
            Some(j) => symlink(format!("../{j}/layer.tar"), dir.join(&name)).unwrap(),
            None => {
                fs::copy(&l.tar, dir.join(&name)).unwrap();
            }
        }
        names.push(format!("\"{name}\""));
    }
    let manifest = format!(r#"[{{"Config":"{config_name}","RepoTags":["{tag}"],"Layers":[{}]}}]"#, names.join(","));
    fs::write(dir.join("manifest.json"), manifest).unwrap();
    sh(&format!("tar -C '{}' -cf '{}' .", p(&dir), p(out)));
}

/// A ustar archive written by hand, for the names GNU tar will not store.
/// Entries: (name, type flag, link target, data).
fn raw_tar(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, flag, link, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let mode: u32 = if *flag == b'5' { 0o755 } else { 0o644 };
        h[100..108].copy_from_slice(format!("{mode:07o}\0").as_bytes());
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"14000000000\0");
        h[156] = *flag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

// ---------------------------------------------------------------------------
// Comparing trees.

/// path -> what a user can observe of it: type, mode, owner, and contents,
/// symlink target or device numbers (plus mtime and link count for files).
fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let m = fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().to_str().unwrap().to_string();
        let ft = m.file_type();
        let own = format!("{:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid());
        let d = if ft.is_dir() {
            walk(root, &path, out);
            format!("dir {own}")
        } else if ft.is_symlink() {
            format!("symlink -> {}", fs::read_link(&path).unwrap().display())
        } else if ft.is_file() {
            format!("file {own} nlink={} mtime={} sha={}", m.nlink(), m.mtime(), sha256_hex(&fs::read(&path).unwrap()))
        } else if ft.is_char_device() || ft.is_block_device() {
            format!("dev {own} rdev={:x}", m.rdev())
        } else if ft.is_fifo() {
            format!("fifo {own}")
        } else {
            "other".into()
        };
        out.insert(rel, d);
    }
}

#[track_caller]
fn assert_same_tree(got: &Path, want: &Path) {
    let (g, w) = (describe(got), describe(want));
    for (k, v) in &w {
        assert_eq!(g.get(k), Some(v), "{k} differs ({} vs reference {})", p(got), p(want));
    }
    for k in g.keys() {
        assert!(w.contains_key(k), "{k} is extra in {}", p(got));
    }
}

/// What GNU tar makes of the layers, extracted in order, with the
/// whiteouts applied by hand the way the OCI image spec describes.
fn gnu_flatten(layers: &[&Layer], into: &Path) {
    fs::create_dir_all(into).unwrap();
    for l in layers {
        for name in sh(&format!("tar -tf '{}'", p(&l.tar))).lines() {
            let name = name.trim_start_matches("./").trim_end_matches('/');
            let (parent, base) = match name.rfind('/') {
                Some(i) => (&name[..i], &name[i + 1..]),
                None => ("", name),
            };
            let pdir = into.join(parent);
            if base == ".wh..wh..opq" {
                if pdir.is_dir() {
                    for e in fs::read_dir(&pdir).unwrap() {
                        sh(&format!("rm -rf '{}'", p(&e.unwrap().path())));
                    }
                }
            } else if let Some(target) = base.strip_prefix(".wh.") {
                sh(&format!("rm -rf '{}'", p(&pdir.join(target))));
            }
        }
        sh(&format!(
            "tar -xpf '{}' -C '{}' --numeric-owner --xattrs --xattrs-include='*' --exclude='.wh.*'",
            p(&l.tar),
            p(into)
        ));
    }
}

/// Every path of a store, for "left as it was" checks.
fn store_listing(store: &Path) -> Vec<String> {
    if !store.exists() {
        return Vec::new();
    }
    let mut v: Vec<String> = describe(store).into_iter().map(|(k, d)| format!("{k} {d}")).collect();
    v.retain(|l| !l.starts_with("lock "));
    v
}

fn layer_dirs(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(store.join("layers")) {
        Ok(r) => r.map(|e| e.unwrap().file_name().into_string().unwrap()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// The three-layer image of most scenarios.

const LONG_DIR: &str =
    "long-directory-name-that-is-more-than-one-hundred-bytes-long-so-ustar-cannot-hold-it-in-its-name-field";

struct Image {
    layers: Vec<Layer>,
    _work: Scratch,
}

/// Layer 1 (GNU format): files, a setuid binary, owners, a symlink, hard
/// links, a fifo, devices, long names. Layer 2 (pax): a whiteout, an
/// opaque directory, an xattr, a long symlink target. Layer 3: changes a
/// file and deletes a directory.
fn three_layers() -> Image {
    let work = Scratch::new("rootfs-img");
    let l1 = work.join("l1");
    sh(&format!(
        "set -e; mkdir -p '{0}'; cd '{0}'
         mkdir -p etc a keep bin dev {LONG_DIR}/sub gone-dir/x
         echo 'root:x:0:0::/root:/bin/sh' > etc/passwd
         echo one > a/a1; echo two > a/a2; echo keep > keep/k; echo bye > gone; echo bye > gone-dir/x/f
         printf '#!/bin/sh\\necho su\\n' > bin/su; chmod 4755 bin/su
         echo owned > bin/owned; chown 1000:2000 bin/owned; chmod 0640 bin/owned
         ln -s ../etc/passwd bin/passwd-link
         echo linked > bin/h1; ln bin/h1 bin/h2
         mkfifo dev/fifo; mknod dev/null c 1 3; mknod dev/loop0 b 7 0
         echo deep > {LONG_DIR}/sub/file-with-a-long-path
         touch -d @1600000000 etc/passwd a/a1",
        p(&l1)
    ));
    let l2 = work.join("l2");
    let target = format!("/{}/target", "t".repeat(110));
    sh(&format!(
        "set -e; mkdir -p '{0}'; cd '{0}'
         mkdir -p a keep
         touch .wh.gone a/.wh..wh..opq
         echo new > a/new; echo k2 > keep/k2
         setfattr -n user.note -v hello keep/k2
         ln -s '{target}' long-link",
        p(&l2)
    ));
    let l3 = work.join("l3");
    sh(&format!(
        "set -e; mkdir -p '{0}/etc'; cd '{0}'
         echo 'root:x:0:0:changed:/root:/bin/sh' > etc/passwd
         touch .wh.gone-dir",
        p(&l3)
    ));
    let layers = vec![
        layer_from_dir(work.path(), "l1", &l1, "gnu"),
        layer_from_dir(work.path(), "l2", &l2, "pax"),
        layer_from_dir(work.path(), "l3", &l3, "gnu"),
    ];
    Image { layers, _work: work }
}

// ---------------------------------------------------------------------------
// Scenarios.

#[test]
fn oci_layout_imports_verifies_and_flattens_like_gnu_tar() {
    let img = three_layers();
    let s = Scratch::new("rootfs-oci");
    let (store, layout) = (s.join("store"), s.join("layout"));
    oci_layout(&layout, &img.layers.iter().map(desc).collect::<Vec<_>>(), "example.com/three:1");
    let out = ok(&store_cmd(&store, &["import", p(&layout)]));
    assert_eq!(out, "imported example.com/three:1: 3 layers, 3 new\n");

    // One directory per diff_id, and the record lists them top first.
    let mut ids: Vec<String> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(layer_dirs(&store), sorted);
    let record = fs::read_to_string(store.join("images/example.com%2Fthree:1")).unwrap();
    ids.reverse();
    let want_layers: Vec<String> = ids.iter().map(|d| format!("layer sha256:{d}\n")).collect();
    assert!(record.starts_with("husk-image 1\nname example.com/three:1\n") && record.ends_with("\nend\n"), "{record}");
    assert!(record.contains(&want_layers.concat()), "{record}");
    assert!(record.contains("\nenv PATH=/usr/bin:/bin\nenv GREETING=hi\n"), "{record}");
    assert!(record.contains("\nworkdir /srv\n") && record.contains("\nuser 1000:1000\n"), "{record}");
    assert!(record.contains("\nentrypoint /bin/sh\nentrypoint -c\ncmd echo hi\n"), "{record}");
    assert!(fs::read_dir(store.join("tmp")).unwrap().next().is_none(), "tmp/ must be empty");

    // Whiteouts in overlayfs form inside layer 2.
    let l2 = store.join("layers").join(&img.layers[1].diff_id);
    let wh = fs::symlink_metadata(l2.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "whiteout must be a 0:0 char device");
    let opq = sh(&format!("getfattr --absolute-names -n trusted.overlay.opaque --only-values '{}'", p(&l2.join("a"))));
    assert_eq!(opq, "y");
    assert!(!l2.join("a/.wh..wh..opq").exists() && !l2.join(".wh.gone").exists());
    let note = sh(&format!("getfattr --absolute-names -n user.note --only-values '{}'", p(&l2.join("keep/k2"))));
    assert_eq!(note, "hello");

    // flatten == GNU tar extracting the layers in order, whiteouts applied.
    let flat = s.join("flat");
    ok(&store_cmd(&store, &["flatten", "example.com/three:1", p(&flat)]));
    let reference = s.join("reference");
    gnu_flatten(&img.layers.iter().collect::<Vec<_>>(), &reference);
    assert_same_tree(&flat, &reference);
    // The expected result, spelled out for the cases that matter.
    assert!(!flat.join("gone").exists() && !flat.join("gone-dir").exists());
    assert_eq!(fs::read_dir(flat.join("a")).unwrap().count(), 1, "opaque a/ keeps only a/new");
    assert_eq!(fs::read_to_string(flat.join("etc/passwd")).unwrap(), "root:x:0:0:changed:/root:/bin/sh\n");
    assert_eq!(fs::metadata(flat.join("bin/su")).unwrap().mode() & 0o7777, 0o4755);
    assert_eq!(fs::metadata(flat.join("bin/h1")).unwrap().ino(), fs::metadata(flat.join("bin/h2")).unwrap().ino());
    assert_eq!(fs::read_to_string(flat.join(LONG_DIR).join("sub/file-with-a-long-path")).unwrap(), "deep\n");
    assert_eq!(fs::read_link(flat.join("long-link")).unwrap().to_str().unwrap().len(), 118);
    assert!(!flat.join("a/.wh..wh..opq").exists());

    // flatten refuses a non-empty target, and an unknown image.
    fails(&store_cmd(&store, &["flatten", "example.com/three:1", p(&flat)]), 1, "not empty");
    fails(&store_cmd(&store, &["flatten", "nope", p(&s.join("f2"))]), 1, "nope:latest: no such image");
    assert!(!s.join("f2").exists());
}

#[test]
fn images_sharing_a_base_store_it_once_and_gc_keeps_it() {
    let work = Scratch::new("rootfs-share");
    let mk = |name: &str, file: &str| {
        let d = work.join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(file), name).unwrap();
        layer_from_dir(work.path(), name, &d, "gnu")
    };
    let (base, top_a, top_b) = (mk("base", "base-file"), mk("a", "a-file"), mk("b", "b-file"));
    let store = work.join("store");
    oci_layout(&work.join("oci-a"), &[desc(&base), desc(&top_a)], "a:1");
    oci_layout(&work.join("oci-b"), &[desc(&base), desc(&top_b), desc(&base)], "b:1");
    assert_eq!(ok(&store_cmd(&store, &["import", p(&work.join("oci-a"))])), "imported a:1: 2 layers, 2 new\n");
    // b repeats the base on top: still stored once.
    assert_eq!(ok(&store_cmd(&store, &["import", p(&work.join("oci-b"))])), "imported b:1: 3 layers, 1 new\n");
    assert_eq!(layer_dirs(&store).len(), 3);
    // A second import of the same image reads no layer at all.
    let again = ok(&store_cmd(&store, &["import", "--name", "b:2", p(&work.join("oci-b"))]));
    assert_eq!(again, "imported b:2: 3 layers, 0 new\n");

    let ls = ok(&store_cmd(&store, &["ls"]));
    let names: Vec<&str> = ls.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(names, ["a:1", "b:1", "b:2"]);
    assert!(ls.lines().all(|l| l.split('\t').count() == 3), "{ls}");

    ok(&store_cmd(&store, &["rm", "a:1"]));
    assert_eq!(ok(&store_cmd(&store, &["gc"])), "removed 1 unused layers\n");
    let mut want = vec![base.diff_id.clone(), top_b.diff_id.clone()];
    want.sort();
    assert_eq!(layer_dirs(&store), want);
    fails(&store_cmd(&store, &["rm", "a:1"]), 1, "a:1: no such image");
    // rm checks every name before removing any.
    fails(&store_cmd(&store, &["rm", "b:1", "zzz"]), 1, "zzz:latest: no such image");
    assert!(store.join("images/b:1").exists());
    ok(&store_cmd(&store, &["rm", "b:1", "b:2"]));
    assert_eq!(ok(&store_cmd(&store, &["gc"])), "removed 2 unused layers\n");
    assert!(layer_dirs(&store).is_empty());
    assert_eq!(ok(&store_cmd(&store, &["ls"])), "");
}

#[test]
fn docker_archives_and_oci_archives_import() {
    let img = three_layers();
    let s = Scratch::new("rootfs-docker");
    let store = s.join("store");
    let archive = s.join("image.tar");
    // The base twice: docker save stores the second as a symlink.
    let layers: Vec<&Layer> = vec![&img.layers[0], &img.layers[1], &img.layers[0], &img.layers[2]];
    docker_archive(s.path(), &archive, &layers, "docker.io/library/three:latest");
    assert_eq!(
        ok(&store_cmd(&store, &["import", p(&archive)])),
        "imported docker.io/library/three:latest: 4 layers, 3 new\n"
    );
    let flat = s.join("flat");
    ok(&store_cmd(&store, &["flatten", "docker.io/library/three", p(&flat)]));
    let reference = s.join("reference");
    gnu_flatten(&layers, &reference);
    assert_same_tree(&flat, &reference);

    // An OCI layout packed in a tar (what `skopeo copy oci-archive:` makes).
    let layout = s.join("layout");
    oci_layout(&layout, &img.layers.iter().map(desc).collect::<Vec<_>>(), "latest");
    let oci_tar = s.join("oci.tar");
    sh(&format!("tar -C '{}' -cf '{}' .", p(&layout), p(&oci_tar)));
    // ref.name is a bare tag: the name must come from --name.
    fails(&store_cmd(&store, &["import", p(&oci_tar)]), 1, "give --name");
    assert_eq!(
        ok(&store_cmd(&store, &["import", "--name", "oci:tar", p(&oci_tar)])),
        "imported oci:tar: 3 layers, 0 new\n"
    );
}

#[test]
fn tar_slip_attempts_never_write_outside_the_layer() {
    let s = Scratch::new("rootfs-slip");
    let outside = s.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("victim"), "original").unwrap();
    let out = p(&outside).to_string();
    let up = "../".repeat(20);
    let victim_abs = format!("{out}/victim");
    let victim_up = format!("{up}{}/victim", out.trim_start_matches('/'));
    let through_up = format!("b/{}", &victim_abs[1..]);
    let passwd_nlink = fs::metadata("/etc/passwd").unwrap().nlink();
    // (scenario, entries, Some(error text) if the import must fail)
    type Scenario<'a> = (&'a str, Vec<(&'a str, u8, &'a str, &'a [u8])>, Option<&'a str>);
    let scenarios: Vec<Scenario> = vec![
        ("dotdot name", vec![(&victim_up, b'0', "", b"pwned")], Some("'..' in archive path")),
        ("dotdot in the middle", vec![("a/../../x", b'0', "", b"pwned")], Some("'..' in archive path")),
        ("absolute name", vec![(&victim_abs, b'0', "", b"pwned")], Some("absolute path in archive")),
        ("symlink then write through", vec![("a", b'2', &out, b""), ("a/victim", b'0', "", b"pwned")], None),
        ("relative symlink up then write", vec![("b", b'2', &up, b""), (&through_up, b'0', "", b"pwned")], None),
        ("symlink dir then mkdir through", vec![("c", b'2', &out, b""), ("c/newdir/", b'5', "", b"")], None),
        ("hardlink absolute", vec![("h", b'1', "/etc/passwd", b"")], Some("absolute path in archive")),
        ("hardlink dotdot", vec![("h", b'1', "../../../../../../etc/passwd", b"")], Some("'..' in archive path")),
        ("hardlink through symlink", vec![("e", b'2', "/etc", b""), ("h", b'1', "e/passwd", b"")], Some("ENOENT")),
        ("whiteout dotdot", vec![("x/.wh...", b'0', "", b"")], Some("EINVAL")),
    ];
    for (what, entries, error) in scenarios {
        let store = s.join(&format!("store-{}", what.replace(' ', "-")));
        let layer = layer_from_bytes(s.path(), "slip", &raw_tar(&entries));
        let layout = s.join("layout");
        let _ = fs::remove_dir_all(&layout);
        oci_layout(&layout, &[desc(&layer)], "slip:1");
        let o = store_cmd(&store, &["import", p(&layout)]);
        match error {
            Some(e) => {
                fails(&o, 1, e);
                assert_eq!(
                    store_listing(&store),
                    ["images dir 755 0:0", "layers dir 755 0:0", "tmp dir 755 0:0"],
                    "{what}"
                );
            }
            None => {
                ok(&o);
            }
        }
        assert_eq!(fs::read_to_string(outside.join("victim")).unwrap(), "original", "{what}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1, "{what}: nothing new outside");
        assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), passwd_nlink, "{what}");
    }
}

#[test]
fn bad_images_fail_naming_the_blob_and_leave_the_store_as_it_was() {
    let img = three_layers();
    let s = Scratch::new("rootfs-bad");
    let store = s.join("store");
    let good = s.join("good");
    oci_layout(&good, &[desc(&img.layers[0])], "good:1");
    ok(&store_cmd(&store, &["import", p(&good)]));
    let before = store_listing(&store);

    let l2 = &img.layers[1];
    let truncated = l2.gz[..l2.gz.len() / 2].to_vec();
    let zstd = vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
    let wrong = sha256_hex(b"something else");
    let base = || desc(&img.layers[0]);
    // (scenario, the new layer on top of the good base, error text)
    let scenarios: Vec<(&str, Desc, &str)> = vec![
        ("digest mismatch", Desc { digest: Some(wrong.clone()), ..desc(l2) }, "sha256 does not match its digest"),
        ("diff_id mismatch", Desc { diff_id: wrong.clone(), ..desc(l2) }, "does not match the config's diff_id"),
        ("truncated gzip", Desc { blob: truncated, ..desc(l2) }, "truncated gzip stream"),
        (
            "zstd by magic",
            Desc { blob: zstd.clone(), media: "application/vnd.oci.image.layer.v1.tar", ..desc(l2) },
            "zstd-compressed layers are not supported",
        ),
        (
            "zstd by media type",
            Desc { blob: zstd, media: "application/vnd.oci.image.layer.v1.tar+zstd", ..desc(l2) },
            "zstd-compressed layers are not supported",
        ),
        (
            "corrupt gzip",
            Desc {
                blob: {
                    let mut b = l2.gz.clone();
                    let n = b.len();
                    b[n - 6] ^= 0xff;
                    b
                },
                ..desc(l2)
            },
            "gzip",
        ),
        (
            "truncated tar",
            Desc {
                blob: fs::read(&l2.tar).unwrap()[..1536].to_vec(),
                media: "application/vnd.oci.image.layer.v1.tar",
                diff_id: l2.diff_id.clone(),
                digest: None,
            },
            "truncated tar archive",
        ),
    ];
    for (what, bad, error) in scenarios {
        let layout = s.join("layout");
        let _ = fs::remove_dir_all(&layout);
        let digest_named = bad.digest.clone().unwrap_or_else(|| sha256_hex(&bad.blob));
        oci_layout(&layout, &[base(), bad], "bad:1");
        let o = store_cmd(&store, &["import", p(&layout)]);
        fails(&o, 1, error);
        let (_, err) = text(&o);
        assert!(
            err.contains(&digest_named) || what == "diff_id mismatch" || what.starts_with("zstd by media"),
            "{what}: names the blob: {err}"
        );
        assert_eq!(store_listing(&store), before, "{what}: store changed");
    }
    // A missing blob.
    let layout = s.join("layout");
    let _ = fs::remove_dir_all(&layout);
    oci_layout(&layout, &[base(), desc(l2)], "bad:1");
    let l2_digest = sha256_hex(&l2.gz);
    fs::remove_file(layout.join("blobs/sha256").join(&l2_digest)).unwrap();
    fails(&store_cmd(&store, &["import", p(&layout)]), 1, &format!("blobs/sha256/{l2_digest}: missing from the image"));
    assert_eq!(store_listing(&store), before);
    // Not an image at all.
    fails(&store_cmd(&store, &["import", p(s.path())]), 1, "not an OCI layout or docker archive");
}

#[test]
fn import_in_a_user_namespace_skips_devices_and_uses_user_xattrs() {
    let img = three_layers();
    let s = Scratch::new("rootfs-userns");
    let (store, layout) = (s.join("store"), s.join("layout"));
    oci_layout(&layout, &img.layers.iter().map(desc).collect::<Vec<_>>(), "u:1");
    // root of a new user namespace: no CAP_MKNOD, no trusted.* xattrs,
    // and only uid 0 mapped.
    let o = run(Command::new("unshare").args(["--user", "--map-root-user", "--"]).arg(bin("husk-rootfs")).args([
        "import",
        "--store",
        p(&store),
        p(&layout),
    ]));
    let out = ok(&o);
    assert_eq!(out, "imported u:1: 3 layers, 3 new\n");
    assert!(text(&o).1.contains("skipped 2 device nodes"), "{:?}", text(&o));
    let l1 = store.join("layers").join(&img.layers[0].diff_id);
    assert!(!l1.join("dev/null").exists() && l1.join("dev/fifo").exists());
    let l2 = store.join("layers").join(&img.layers[1].diff_id);
    let a = p(&l2.join("a")).to_string();
    assert_eq!(sh(&format!("getfattr --absolute-names -n user.overlay.opaque --only-values '{a}'")), "y");
    assert!(sh(&format!("getfattr --absolute-names -m - -d '{a}'")).find("trusted.").is_none());
    let wh = fs::symlink_metadata(l2.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "whiteouts need no privilege");
    // flatten honours the user.* opaque mark as well.
    let flat = s.join("flat");
    ok(&store_cmd(&store, &["flatten", "u:1", p(&flat)]));
    assert_eq!(fs::read_dir(flat.join("a")).unwrap().count(), 1);
}

#[test]
fn interrupted_import_leftovers_are_cleaned_by_the_next_writer() {
    let s = Scratch::new("rootfs-leftover");
    let store = s.join("store");
    fs::create_dir_all(store.join("tmp/import-999999/0/etc")).unwrap();
    fs::create_dir_all(store.join("images")).unwrap();
    fs::create_dir_all(store.join("layers")).unwrap();
    ok(&store_cmd(&store, &["gc"]));
    assert!(fs::read_dir(store.join("tmp")).unwrap().next().is_none());
}

#[test]
fn pack_cpio_is_read_by_cpio_and_round_trips() {
    let img = three_layers();
    let s = Scratch::new("rootfs-cpio");
    let tree = s.join("tree");
    gnu_flatten(&img.layers.iter().collect::<Vec<_>>(), &tree);
    let out = s.join("initrd.cpio");
    ok(&husk_rootfs(&["pack", "--format", "cpio", p(&tree), p(&out)]));
    let listed = sh(&format!("cpio -t --quiet < '{}'", p(&out)));
    let mut want: Vec<String> = describe(&tree).into_keys().collect();
    want.sort();
    let got: Vec<String> = listed.lines().map(String::from).collect();
    assert_eq!(got, want, "cpio -t lists every path, sorted");
    let back = s.join("back");
    fs::create_dir_all(&back).unwrap();
    sh(&format!("cd '{}' && cpio -idm --quiet --no-absolute-filenames < '{}'", p(&back), p(&out)));
    // cpio stores hard links as separate files (see pack.rs), so compare
    // without link counts.
    let strip = |m: BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.into_iter()
            .map(|(k, v)| (k, v.split(' ').filter(|w| !w.starts_with("nlink=")).collect::<Vec<_>>().join(" ")))
            .collect()
    };
    assert_eq!(strip(describe(&back)), strip(describe(&tree)));

    // Deterministic: same tree, same bytes; --mtime makes times irrelevant.
    let again = s.join("again.cpio");
    ok(&husk_rootfs(&["pack", "--format=cpio", p(&tree), p(&again)]));
    assert_eq!(fs::read(&out).unwrap(), fs::read(&again).unwrap());
    let (m1, m2) = (s.join("m1.cpio"), s.join("m2.cpio"));
    ok(&husk_rootfs(&["pack", "--format", "cpio", "--mtime", "0", p(&tree), p(&m1)]));
    sh(&format!("touch '{}/etc/passwd'", p(&tree)));
    ok(&husk_rootfs(&["pack", "--format", "cpio", "--mtime", "0", p(&tree), p(&m2)]));
    assert_eq!(fs::read(&m1).unwrap(), fs::read(&m2).unwrap());
    // Writing to stdout works too, and OUT inside DIR is not packed into itself.
    let o = husk_rootfs(&["pack", "--format", "cpio", "--mtime", "0", p(&tree), "-"]);
    assert_eq!(o.stdout, fs::read(&m1).unwrap());
    ok(&husk_rootfs(&["pack", "--format", "cpio", p(&tree), p(&tree.join("self.cpio"))]));
    assert!(!sh(&format!("cpio -t --quiet < '{}'", p(&tree.join("self.cpio")))).contains("self.cpio"));
}

#[test]
fn pack_tar_extracts_with_gnu_tar_to_the_same_tree() {
    let img = three_layers();
    let s = Scratch::new("rootfs-packtar");
    let tree = s.join("tree");
    gnu_flatten(&img.layers.iter().collect::<Vec<_>>(), &tree);
    let out = s.join("root.tar");
    ok(&husk_rootfs(&["pack", "--format", "tar", p(&tree), p(&out)]));
    let back = s.join("back");
    fs::create_dir_all(&back).unwrap();
    sh(&format!("tar -xpf '{}' -C '{}' --numeric-owner --xattrs --xattrs-include='*'", p(&out), p(&back)));
    assert_same_tree(&back, &tree);
    let note = sh(&format!("getfattr --absolute-names -n user.note --only-values '{}'", p(&back.join("keep/k2"))));
    assert_eq!(note, "hello", "xattrs travel as SCHILY.xattr pax records");
    // Sorted entries.
    let names: Vec<String> = sh(&format!("tar -tf '{}'", p(&out))).lines().map(String::from).collect();
    assert_eq!(names.first().map(String::as_str), Some("a/"));
    // Importing our own tar as a layer gives the same tree back.
    let layer = layer_from_tar(out.clone());
    let layout = s.join("layout");
    oci_layout(&layout, &[desc(&layer)], "packed:1");
    let store = s.join("store");
    ok(&store_cmd(&store, &["import", p(&layout)]));
    let flat = s.join("flat");
    ok(&store_cmd(&store, &["flatten", "packed:1", p(&flat)]));
    assert_same_tree(&flat, &tree);
}

#[test]
fn host_rootfs_runs_its_programs_under_chroot() {
    let s = Scratch::new("rootfs-host");
    // A dynamic shell: the loader, libc and the merged-/usr links come along.
    let dir = s.join("sh-root");
    let out = ok(&husk_rootfs(&["host", p(&dir), "sh"]));
    assert!(out.starts_with(&format!("rootfs {}: ", p(&dir))), "{out}");
    let o = run(Command::new("chroot").arg(&dir).args([
        "/bin/sh",
        "-c",
        "echo ok; test -d /tmp && test -k /tmp && echo sticky",
    ]));
    assert_eq!(ok(&o), "ok\nsticky\n");
    let passwd = fs::read_to_string(dir.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:") && passwd.contains("\nnobody:x:65534:65534:"), "{passwd}");
    assert!(fs::read_to_string(dir.join("etc/group")).unwrap().contains("nobody:x:65534:"));
    assert!(
        dir.join("etc/hosts").exists()
            && dir.join("proc").is_dir()
            && dir.join("sys").is_dir()
            && dir.join("dev").is_dir()
    );
    assert_eq!(fs::metadata(dir.join("tmp")).unwrap().permissions().mode() & 0o7777, 0o1777);
    let libc = sh("ldd /bin/sh | grep -o '/[^ ]*libc.so.6' | head -1");
    let libc = libc.trim();
    if !libc.is_empty() {
        assert!(dir.join("etc/nsswitch.conf").exists(), "glibc programs get nsswitch.conf");
        // The library symlink chain is kept as symlinks.
        let in_root = dir.join(libc.trim_start_matches('/'));
        assert!(fs::symlink_metadata(&in_root).is_ok(), "{libc} copied");
        let host_is_link = fs::symlink_metadata(libc).unwrap().file_type().is_symlink();
        assert_eq!(fs::symlink_metadata(&in_root).unwrap().file_type().is_symlink(), host_is_link);
    }

    // A static program copies alone: no library directories appear.
    let dir2 = s.join("static-root");
    let me = bin("husk-rootfs");
    ok(&husk_rootfs(&["host", p(&dir2), p(&me)]));
    let o = run(Command::new("chroot").arg(&dir2).arg(&me).arg("--version"));
    assert!(ok(&o).starts_with("husk-rootfs "));
    let libs = sh(&format!("find '{}' -name '*.so*' | wc -l", p(&dir2)));
    assert_eq!(libs.trim(), "0");
    assert!(!dir2.join("etc/nsswitch.conf").exists());

    // busybox --applets: links from its own applet table.
    if Path::new("/usr/bin/busybox").exists() || Path::new("/bin/busybox").exists() {
        let dir3 = s.join("busybox-root");
        ok(&husk_rootfs(&["host", "--applets", p(&dir3), "busybox"]));
        let o = run(Command::new("chroot").arg(&dir3).args([
            "/bin/sh",
            "-c",
            "ls / | sort | tr '\\n' ' '; cat /etc/hosts | head -1",
        ]));
        let out = ok(&o);
        assert!(out.contains("dev etc") && out.contains("127.0.0.1"), "{out}");
    }
    fails(&husk_rootfs(&["host", p(&s.join("x")), "no-such-program-anywhere"]), 1, "not found on PATH");
    assert!(!s.join("x").exists(), "nothing created when the plan fails");
    fails(&husk_rootfs(&["host", "--applets", p(&s.join("y")), "sh"]), 1, "no busybox");
}

#[test]
fn usage_errors_exit_2_and_help_and_version_exit_0() {
    for args in [
        &[][..],
        &["bogus"],
        &["import"],
        &["pack", "a", "b"],
        &["pack", "--format", "zip", "a", "b"],
        &["ls", "x"],
        &["import", "--frob", "x"],
        &["flatten", "x"],
    ] {
        let o = husk_rootfs(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {:?}", text(&o));
        assert!(text(&o).1.contains("Try 'husk-rootfs --help'"), "{args:?}");
    }
    let help = ok(&husk_rootfs(&["--help"]));
    for cmd in ["host", "import", "ls", "rm", "gc", "flatten", "pack", "--store"] {
        assert!(help.contains(cmd), "--help mentions {cmd}");
    }
    assert!(ok(&husk_rootfs(&["--version"])).starts_with("husk-rootfs 0."));
    let s = Scratch::new("rootfs-empty");
    assert_eq!(ok(&store_cmd(&s.join("none"), &["ls"])), "");
    fails(
        &husk_rootfs(&["pack", "--format", "tar", "/nonexistent-dir", p(&s.join("o.tar"))]),
        1,
        "open /nonexistent-dir: ENOENT",
    );
    assert!(!s.join("o.tar").exists());
}
