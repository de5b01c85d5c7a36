#!/usr/bin/env bash
# Writes Debian's package records (every package apt knows: name, version, maintainer, homepage,
# synopsis) to the path given (default debian.txt), with `apt-cache dumpavail`. The recipe reads
# the long descriptions of installed packages from /var/lib/dpkg/status itself.
set -euo pipefail
out="${1:-debian.txt}"
apt-cache dumpavail > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $(grep -c '^Package:' "$out") package records ($(wc -c < "$out") bytes) to $out" >&2
