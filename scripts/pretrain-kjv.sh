#!/usr/bin/env bash
# Reproduces the README's pretraining result: a small Llama-style model on the King James Bible.
#   bash scripts/pretrain-kjv.sh [WORKDIR] [STEPS]
set -euo pipefail
work="${1:-runs/kjv}"
steps="${2:-1000}"
xfmr="node $(dirname "$0")/../bin/xfmr.js"
mkdir -p "$work"
bash "$(dirname "$0")/corpus/kjv.sh" "$work/kjv.txt"
$xfmr tokenizer train --type bpe --vocab-size 1024 --out "$work/tokenizer.json" "$work/kjv.txt"
$xfmr data prepare --tokenizer "$work/tokenizer.json" --out "$work/data" "$work/kjv.txt"
$xfmr pretrain --config "$(dirname "$0")/../examples/kjv-llama.json" --data "$work/data" --out "$work/model" \
  --steps "$steps" --batch-size 16 --block-size 128 --lr 3e-3 --warmup 100 --eval-every 100 --eval-batches 16 \
  --checkpoint-every 250 --seed 1337
$xfmr generate --model "$work/model" --prompt "And God said" --max-tokens 120 --temperature 0.8 --top-k 40 --seed 1
