#!/usr/bin/env bash
# Rebuilds the shipped embedder models/xfmr-embed-mini end to end: the training pairs
# (scripts/corpus/embed_pairs.sh: Debian descriptions, WordNet, /usr/share/doc Markdown; needs root
# for apt-get), then `xfmr embedder train` with the shipped settings, then `xfmr embedder tune`
# (hybrid retrieval's fusion constants on the pairs' dev split). OUT defaults to a new folder so
# the shipped model is not overwritten; copy what you want into models/ yourself.
# XFMR_THREADS=1: on a shared 2-core machine one thread trained ~6x faster in wall time than two
# (measured: 2.1 s vs 13.8 s per step; the pool's threads wait on each other when descheduled).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-embed-run}"
pairs="${PAIRS:-embed-pairs.jsonl}"
[ -f "$pairs" ] || "$here/scripts/corpus/embed_pairs.sh" "$pairs"
export XFMR_THREADS="${XFMR_THREADS:-1}"
node "$here/bin/xfmr.js" embedder train --pairs "$pairs" --out "$out" --vocab-texts 25000 --steps 1200 \
  --layers 1 --dim 192 --heads 3 --ffn 384 --vocab 16000 --max-len 64 --batch-size 128 --lr 1e-3 \
  --checkpoint-every 100 "${@:2}"
node "$here/bin/xfmr.js" embedder tune --model "$out" --pairs "$pairs"
