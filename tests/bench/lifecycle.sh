#!/bin/sh
# Issue 5: `husk exec NAME true` against `nsenter -t PID -a true` (median of
# N runs each, side by side in one run), and the VmRSS of the monitor that
# `husk run -d` leaves behind per detached container (budget: 256 KiB).
set -eu
H="${BIN:-build}/husk"
N=${N:-50}
tmp=$(mktemp -d)
state="$tmp/state"
names="bench-exec bench-rss1 bench-rss2 bench-rss3"
cleanup() {
    for n in $names; do "$H" rm -f --root "$state" "$n" >/dev/null 2>&1 || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# A busybox rootfs: the same `true` for both sides.
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/proc" "$tmp/rootfs/sys" "$tmp/rootfs/dev" "$tmp/rootfs/tmp" "$tmp/rootfs/etc"
cp "$(command -v busybox)" "$tmp/rootfs/bin/busybox"
for a in sh true sleep; do ln -s busybox "$tmp/rootfs/bin/$a"; done

# The state file is in husk's line format: `key value` lines.
field() { sed -n "s/^$2 \([0-9]*\)$/\1/p" "$state/$1/state"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Microseconds per run of "$@", median of N.
per_run() {
    i=0
    while [ "$i" -lt "$N" ]; do
        s=$(date +%s%N)
        "$@" >/dev/null
        e=$(date +%s%N)
        echo $(((e - s) / 1000))
        i=$((i + 1))
    done | median
}

"$H" run --root "$state" -d --name bench-exec "$tmp/rootfs" sleep 100000 >/dev/null
pid=$(field bench-exec pid)
exec_us=$(per_run "$H" exec --root "$state" bench-exec true)
nsenter_us=$(per_run nsenter -t "$pid" -a true)

rss=""
for n in bench-rss1 bench-rss2 bench-rss3; do
    "$H" run --root "$state" -d --name "$n" "$tmp/rootfs" sleep 100000 >/dev/null
    m=$(field "$n" monitor_pid)
    rss="$rss $(awk '/^VmRSS:/ { print $2 }' "/proc/$m/status")"
done
rss_median=$(echo "$rss" | tr ' ' '\n' | grep . | median)

echo "| measure | value |"
echo "|---|---|"
echo "| \`husk exec NAME true\`, median of $N | ${exec_us} µs |"
echo "| \`nsenter -t PID -a true\`, median of $N | ${nsenter_us} µs |"
awk -v a="$exec_us" -v b="$nsenter_us" 'BEGIN { printf "| ratio husk exec / nsenter | %.2f |\n", a / b }'
echo "| monitor VmRSS per detached container (3 containers:$rss kB) | ${rss_median} kB (budget 256 kB) |"
