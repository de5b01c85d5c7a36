#!/usr/bin/env bash
# Writes the King James Bible (public domain) as plain text to the path given (default kjv.txt),
# from Debian's bible-kjv package (installed with apt-get when missing).
set -euo pipefail
out="${1:-kjv.txt}"
if ! command -v bible >/dev/null 2>&1; then
  apt-get install -y bible-kjv >/dev/null
fi
bible -p /usr/lib -m 8192 Gen1:1-Rev22:21 > "$out"
echo "wrote $(wc -c < "$out") bytes to $out" >&2
