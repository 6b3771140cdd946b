#!/bin/sh
# make demo: build a small rootfs from the host's programs and run a
# container in it, showing what husk sets up. Usage: sh tests/demo.sh BINDIR
# (needs root: namespaces, cgroups and mounts).
set -eu
BIN=$(cd "${1:-build}" && pwd)
HUSK=$BIN/husk
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo make demo)"; exit 1; }

work=$(mktemp -d /tmp/husk-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

# The rootfs is made by husk-rootfs from the host's own programs: busybox
# with its applet links when busybox-static is installed, else the host's
# sh and coreutils with the shared libraries they load.
if [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
    show_cmd="husk-rootfs host --applets ROOTFS /bin/busybox"
    "$BIN/husk-rootfs" host --applets "$root" /bin/busybox
else
    show_cmd="husk-rootfs host ROOTFS sh cat grep ls sleep tr readlink hostname id"
    "$BIN/husk-rootfs" host "$root" sh cat grep ls sleep tr readlink hostname id
fi
printf '$ %s\n' "$show_cmd"
find "$root" -type f | sed "s|^$root||" | sort | head -20 | sed 's/^/  /'

show() { printf '\n$ %s\n' "$*"; }

# What runs inside: a script in the rootfs, so ps shows a short command.
cat >"$root/demo" <<'INSIDE'
echo "PID 1:    $(tr '\0' ' ' </proc/1/cmdline 2>/dev/null || cat /proc/1/cmdline)"
echo "exe:      $(readlink /proc/1/exe 2>/dev/null || echo '(no readlink in this rootfs)')"
echo "hostname: $(cat /proc/sys/kernel/hostname)"
echo "processes:"
if command -v ps >/dev/null; then ps; else echo /proc/[0-9]*; fi
echo "capabilities:"
grep -E "^(Cap|NoNewPrivs)" /proc/self/status
sleep 1
INSIDE

show husk run --name husk-demo --hostname demo --memory 64m --pids 32 ROOTFS sh /demo
# The container sleeps a moment so the host can look at its cgroup.
"$HUSK" run --name husk-demo --hostname demo --memory 64m --pids 32 "$root" sh /demo &
pid=$!
sleep 0.5
echo "memory limit (host view of the container's cgroup):"
for f in /sys/fs/cgroup/memory/husk/husk-demo/memory.limit_in_bytes /sys/fs/cgroup/husk/husk-demo/memory.max; do
    [ -r "$f" ] && echo "  $f = $(cat "$f")"
done
for f in /sys/fs/cgroup/pids/husk/husk-demo/pids.max /sys/fs/cgroup/husk/husk-demo/pids.max; do
    [ -r "$f" ] && echo "  $f = $(cat "$f")"
done
status=0
wait $pid || status=$?
echo
echo "exit status: $status; cgroup and state removed: $(ls -d /sys/fs/cgroup/*/husk/husk-demo /run/husk/husk-demo 2>/dev/null | wc -l) left"
