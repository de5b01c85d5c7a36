#!/usr/bin/env bash
# Rebuilds the shipped default embedder models/xfmr-embed-words end to end (issue 18), about 3
# minutes on 2 cores: apt's Translation-en index (package descriptions; needs root for apt-get),
# the training pairs (scripts/corpus/embed_pairs.sh), PPMI + SVD word vectors of the descriptions
# and /usr/share/doc prose, then `xfmr embedder words` with the shipped settings (2 epochs of
# InfoNCE on the pairs; the hash embedder's share 0.35; the vector list's fusion weight times the
# square of the share of a question's words that have vectors; RRF k 5, BM25 weight 2 where BM25's
# first hit holds half the question's content words, else 0). OUT defaults
# to a new folder so the shipped model is not overwritten; WORK keeps the corpus, its token cache and
# the starting vectors. /usr/share/doc holds what this machine's packages ship, so the vectors of
# another machine differ a little.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-word-embed-run}"
work="${WORK:-word-embed-work}"
mkdir -p "$work/apt"
pairs="$work/embed-pairs.jsonl"
[ -f "$pairs" ] || "$here/scripts/corpus/embed_pairs.sh" "$pairs"
n=0
for f in /var/lib/apt/lists/*_i18n_Translation-en*; do
  [ -e "$f" ] || continue
  n=$((n + 1))
  [ -f "$work/apt/Translation-en.$n" ] || /usr/lib/apt/apt-helper cat-file "$f" > "$work/apt/Translation-en.$n"
done
if [ "$n" -eq 0 ]; then
  echo "train_word_embedder.sh: no Translation-en index under /var/lib/apt/lists (embed_pairs.sh fetches it)" >&2
  exit 1
fi
node "$here/bin/xfmr.js" embedder words --pairs "$pairs" --apt "$work/apt" --vectors "$work/start-vectors.bin" \
  --out "$out" --epochs 2 --hash-weight 0.35 --trust-power 2 --rrf-k 5 --vector-weight 1 --bm25-weight 2 --bm25-min-coverage 0.5 "${@:2}"
