#!/bin/sh
# Issue 4: `husk run` of /bin/true on a busybox rootfs against the floor
# (`unshare -fpiun` plus chroot of the same rootfs), bwrap, crun and runc,
# as ratios of medians measured side by side in one run; the memory floor
# (--memory 1m --pids 2); and the VmRSS of a waiting foreground husk.
#
# crun 1.8 refuses hybrid cgroup hosts, so it runs inside
# `unshare -m sh -c 'umount /sys/fs/cgroup/unified; exec crun ...'`; that
# wrapper is measured on its own and subtracted from crun's figure.
set -eu
H="${BIN:-build}/husk"
N=${N:-30}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One busybox rootfs for everybody; the OCI bundle points at it.
root=$tmp/bundle/rootfs
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc"
cp "$(command -v busybox)" "$root/bin/busybox"
for a in sh true sleep; do ln -s busybox "$root/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Microseconds per run of "$@", median of N; empty if it fails.
per_run() {
    "$@" >/dev/null 2>&1 || return 0
    i=0
    while [ "$i" -lt "$N" ]; do
        s=$(date +%s%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s%N)
        echo $(((e - s) / 1000))
        i=$((i + 1))
    done | median
}
ratio() { [ -n "$2" ] && [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "n/a"; }

floor=$(per_run unshare -fpiun chroot "$root" /bin/true)
husk=$(per_run "$H" run "$root" /bin/true)
husk_noinit=$(per_run "$H" run --no-init "$root" /bin/true)
bwrap_us=""
if command -v bwrap >/dev/null; then
    bwrap_us=$(per_run bwrap --unshare-pid --unshare-ipc --unshare-uts --unshare-net --bind "$root" / --proc /proc --dev /dev /bin/true)
fi
runc_us=""
crun_us=""
wrap_us=""
if command -v runc >/dev/null; then
    (cd "$tmp/bundle" && runc spec)
    sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' "$tmp/bundle/config.json"
    n=0
    runc_us=$(per_run sh -c "n=\$\$; runc run --bundle '$tmp/bundle' bench-runc-\$n")
fi
if command -v crun >/dev/null && [ -f "$tmp/bundle/config.json" ]; then
    unwrap='umount /sys/fs/cgroup/unified 2>/dev/null || true'
    wrap_us=$(per_run unshare -m sh -c "$unwrap; exec true")
    crun_raw=$(per_run unshare -m sh -c "$unwrap; exec crun run --bundle '$tmp/bundle' bench-crun-\$\$")
    [ -n "$crun_raw" ] && crun_us=$((crun_raw - wrap_us))
fi

echo "start latency of /bin/true in a busybox rootfs, median of $N runs (pid, net, ipc, uts, mnt namespaces)"
echo
echo "| command | median µs | ratio to floor | ratio to husk |"
echo "|---|---|---|---|"
row() { echo "| $1 | ${2:-n/a} | $(ratio "$2" "$floor") | $(ratio "$2" "$husk") |"; }
row "unshare -fpiun chroot (floor)" "$floor"
row "husk run" "$husk"
row "husk run --no-init" "$husk_noinit"
row "bwrap" "$bwrap_us"
row "crun (wrapper of ${wrap_us:-?} µs subtracted)" "$crun_us"
row "runc" "$runc_us"
echo
echo "target: husk within 1.5x of the floor, and faster than crun"

# The memory floor: 1 MiB and two pids (husk-init and true) are enough.
if "$H" run --memory 1m --pids 2 "$root" /bin/true; then mem="runs"; else mem="FAILS (exit $?)"; fi
echo
echo "| memory floor | result |"
echo "|---|---|"
echo "| husk run --memory 1m --pids 2 /bin/true | $mem |"

# VmRSS of the host stage while it waits for its container.
"$H" run "$root" sleep 2 &
pid=$!
sleep 0.5
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
wait $pid
echo
echo "| waiting foreground husk | VmRSS | budget |"
echo "|---|---|---|"
echo "| husk run ROOTFS sleep 2 | ${rss} KiB | 256 KiB |"
