#!/bin/sh
# husk-init next to the inits people use today (tini-static, catatonit,
# dumb-init; `make bench-packages` installs them), as one Markdown table:
# - size of the binary and VmRSS of an idle init whose child sleeps;
# - start overhead: median of `INIT -- true` over the median of plain `true`
#   (one hyperfine run for all, no shell, RUNS runs each);
# - reaping: ORPHANS orphans blocked on a FIFO are released at once inside a
#   pid namespace where the init is PID 1; orphans per second from the
#   release until /proc shows only the init and the main child.
# Needs root (pid namespaces). Usage: BIN=build sh tests/bench/init.sh
set -eu
BIN=${BIN:-build}
ORPHANS=${ORPHANS:-10000}
RUNS=${RUNS:-300}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name:path:the words before PROGRAM
cat > "$work/inits" <<EOF
husk-init:$BIN/husk-init:--
tini-static:/usr/bin/tini-static:--
catatonit:/usr/bin/catatonit:--
dumb-init:/usr/bin/dumb-init:
EOF

idle_rss() { # INIT... : VmRSS in kB of the init while its child sleeps
    "$@" sleep 30 </dev/null 2>/dev/null &
    pid=$!
    sleep 0.3
    rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$rss"
}

# One hyperfine run for every command, so that they share the conditions
# (other work on the machine shows up in all of them alike).
start_overhead() {
    set -- true
    while IFS=: read -r name path dashdash; do
        if [ -x "$path" ]; then set -- "$@" "$path $dashdash true"; fi
    done < "$work/inits"
    hyperfine -N --runs "$RUNS" --warmup 20 --export-csv "$work/h.csv" "$@" >/dev/null 2>&1
}

median_ms() { # COMMAND : its median in ms (the CSV is in seconds)
    awk -F, -v c="$1" '$1 == c { printf "%.3f", $4 * 1000 }' "$work/h.csv"
}

# The main child makes the orphans (each a subshell's background `read`,
# blocked opening the FIFO), releases them all by opening and closing the
# writing end, then spins on a fork-free glob until only PID 1 and itself
# are left in /proc. It prints the nanoseconds that took.
reap_script='mkfifo f; i=0
while [ $i -lt '"$ORPHANS"' ]; do (read x < f &); i=$((i + 1)); done
t0=$(date +%s%N); exec 3> f; exec 3>&-
while :; do set -- /proc/[0-9]*; [ $# -le 2 ] && break; done
echo $(( $(date +%s%N) - t0 ))'

reap_rate() { # INIT... : orphans reaped per second
    ns=$(cd "$work" && rm -f f && unshare --fork --pid --mount-proc "$@" sh -c "$reap_script" </dev/null)
    echo $((ORPHANS * 1000000000 / ns))
}

start_overhead
true_ms=$(median_ms true)
echo "$(nproc) CPUs, Linux $(uname -r); plain \`true\`: median $true_ms ms over $RUNS runs."
echo
echo "| init | size | idle VmRSS | \`INIT -- true\` / \`true\` (median) | orphans reaped per second ($ORPHANS at once) |"
echo "|---|---|---|---|---|"
while IFS=: read -r name path dashdash; do
    if [ ! -x "$path" ]; then
        echo "| $name | not installed | | | |"
        continue
    fi
    size=$(stat -c %s "$path")
    kind=$(file -b "$path" | grep -q 'statically linked' && echo static || echo dynamic)
    # shellcheck disable=SC2086
    rss=$(idle_rss "$path" $dashdash)
    ms=$(median_ms "$path $dashdash true")
    ratio=$(awk -v a="$ms" -v b="$true_ms" 'BEGIN { printf "%.2f", a / b }')
    # shellcheck disable=SC2086
    rate=$(reap_rate "$path" $dashdash)
    printf '| %s | %s B (%s) | %s kB | %s (%s ms) | %s |\n' "$name" "$size" "$kind" "$rss" "$ratio" "$ms" "$rate"
done < "$work/inits"
