#!/bin/sh
# make bench: every component's benchmark, each printing a Markdown table of
# ratios against a baseline measured in the same run.
set -eu
BIN=$(cd "${1:-build}" && pwd)
export BIN
here=$(dirname "$0")
for b in "$here"/bench/*.sh; do
    [ -e "$b" ] || continue
    echo "## $(basename "$b" .sh)"
    sh "$b"
    echo
done
