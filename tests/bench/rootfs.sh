#!/bin/sh
# husk-rootfs: image import against GNU tar extracting the same layer, and
# decompression against gzip. Prints a Markdown table of best-of-3 times
# and ratios (baseline time / husk time: above 1 means husk-rootfs is
# faster). The corpus is taken from the host's /usr, so absolute numbers
# vary between machines; the ratios are what to compare.
set -eu
: "${BIN:=$(cd "$(dirname "$0")/../../build" && pwd)}"
R="$BIN/husk-rootfs"
[ -x "$R" ] || { echo "$R is not built: run make" >&2; exit 1; }
# Extract to tmpfs by default: on ext4, deleting and recreating 15000
# inodes between runs makes the kernel's inode allocator (recently_deleted)
# vary by several seconds from one run to the next, for tar as for us.
base=${BENCH_DIR:-/dev/shm}
[ -d "$base" ] && [ -w "$base" ] || base=/var/tmp
work=$(mktemp -d "$base/husk-bench-rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
runs=${RUNS:-3}

now() { date +%s%N; }

# best_ms SETUP COMMAND: the fastest of $runs runs of COMMAND (a shell
# snippet), each after SETUP, in milliseconds.
best_ms() {
    best=
    i=0
    while [ $i -lt "$runs" ]; do
        sh -c "$1"
        t0=$(now)
        sh -c "$2" >/dev/null
        t1=$(now)
        ms=$(( (t1 - t0) / 1000000 ))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
        i=$((i + 1))
    done
    echo "$best"
}

sha() { sha256sum "$1" | cut -c1-64; }

# An OCI layout in $1 holding one gzip layer $2 (with uncompressed tar $3).
make_layout() {
    mkdir -p "$1/blobs/sha256"
    dig=$(sha "$2"); diff=$(sha "$3"); size=$(stat -c %s "$2")
    cp "$2" "$1/blobs/sha256/$dig"
    printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff" >"$work/config"
    cdig=$(sha "$work/config"); csize=$(stat -c %s "$work/config")
    cp "$work/config" "$1/blobs/sha256/$cdig"
    printf '{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "$cdig" "$csize" "$dig" "$size" >"$work/manifest"
    mdig=$(sha "$work/manifest"); msize=$(stat -c %s "$work/manifest")
    cp "$work/manifest" "$1/blobs/sha256/$mdig"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' \
        "$mdig" "$msize" >"$1/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
}

# Corpus 1: 15000 files of the host's /usr (a typical layer: many small
# files, some large). Corpus 2: one big file (decompression-bound).
(cd / && find usr/share usr/lib/x86_64-linux-gnu usr/lib/aarch64-linux-gnu -xdev -type f 2>/dev/null | head -n 15000) >"$work/list"
tar -C / --sort=name -cf "$work/files.tar" -T "$work/list" 2>/dev/null || true
gzip -n -6 -c "$work/files.tar" >"$work/files.tar.gz"
make_layout "$work/files-oci" "$work/files.tar.gz" "$work/files.tar"

mkdir -p "$work/big"
find /usr/lib /usr/bin -xdev -type f -size +100k 2>/dev/null | head -n 400 | xargs cat 2>/dev/null | head -c 200000000 >"$work/big/blob" || true
tar -C "$work/big" -cf "$work/big.tar" blob
gzip -n -6 -c "$work/big.tar" >"$work/big.tar.gz"
make_layout "$work/big-oci" "$work/big.tar.gz" "$work/big.tar"

mb() { echo $(( $(stat -c %s "$1") / 1048576 )); }

imp_files=$(best_ms "rm -rf '$work/s'" "'$R' import --store '$work/s' --name bench:1 '$work/files-oci'")
tar_files=$(best_ms "rm -rf '$work/x'; mkdir '$work/x'" "tar -xzf '$work/files.tar.gz' -C '$work/x'")
imp_big=$(best_ms "rm -rf '$work/s'" "'$R' import --store '$work/s' --name bench:1 '$work/big-oci'")
tar_big=$(best_ms "rm -rf '$work/x'; mkdir '$work/x'" "tar -xzf '$work/big.tar.gz' -C '$work/x'")
gz_big=$(best_ms "true" "gzip -dc '$work/big.tar.gz'")
gzsha_big=$(best_ms "true" "gzip -dc '$work/big.tar.gz' | sha256sum")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2fx", a / b }'; }

echo "Corpus (in $base): $(wc -l <"$work/list") files, $(mb "$work/files.tar") MiB tar, $(mb "$work/files.tar.gz") MiB gzip; one-file layer $(mb "$work/big.tar") MiB tar, $(mb "$work/big.tar.gz") MiB gzip. Best of $runs."
echo
echo "| what | husk-rootfs | baseline | baseline | ratio (baseline/husk) |"
echo "|---|---|---|---|---|"
echo "| import, 15000-file layer (gunzip + 2 sha256 + untar) | ${imp_files} ms | tar -xzf | ${tar_files} ms | $(ratio "$tar_files" "$imp_files") |"
echo "| import, one-file layer | ${imp_big} ms | tar -xzf | ${tar_big} ms | $(ratio "$tar_big" "$imp_big") |"
echo "| decompress + verify, one-file layer | ${imp_big} ms | gzip -dc | ${gz_big} ms | $(ratio "$gz_big" "$imp_big") |"
echo "| decompress + verify, one-file layer | ${imp_big} ms | gzip -dc \\| sha256sum | ${gzsha_big} ms | $(ratio "$gzsha_big" "$imp_big") |"
