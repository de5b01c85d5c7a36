#!/usr/bin/env bash
# Builds the embedder's training pairs (xfmr embedder pairs; src/train/embed_pairs.ts) at the path
# given (default embed-pairs.jsonl), from what a Debian machine reaches through apt:
#   - every package's synopsis vs its long description: apt's Translation-en index, which Docker
#     images skip (Acquire::Languages "none"), so it is fetched here with
#     `apt-get update -o Acquire::Languages=en` and decompressed with apt-helper (lz4/xz/gz);
#   - WordNet synsets (package wordnet-base, installed if missing);
#   - headings vs sections of the Markdown files under /usr/share/doc (held-out paths skipped).
# Needs root for apt-get. Man pages, Python's documentation and /usr/share/common-licenses are
# held out by the builder itself (src/train/held_out.ts).
set -euo pipefail
out="${1:-embed-pairs.jsonl}"
here="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

apt-get update -o Acquire::Languages=en >&2
if ! dpkg -s wordnet-base >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y wordnet-base >&2
fi
args=()
n=0
for f in /var/lib/apt/lists/*_i18n_Translation-en*; do
  [ -e "$f" ] || continue
  n=$((n + 1))
  /usr/lib/apt/apt-helper cat-file "$f" > "$work/Translation-en.$n"
  args+=(--debian "$work/Translation-en.$n")
done
if [ "$n" -eq 0 ]; then
  echo "embed_pairs.sh: no Translation-en index under /var/lib/apt/lists after apt-get update" >&2
  exit 1
fi
node "$here/bin/xfmr.js" embedder pairs --out "$out" "${args[@]}" \
  --wordnet /usr/share/wordnet --docs /usr/share/doc
