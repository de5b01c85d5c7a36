"""PyTorch peer of `npm run bench -- train`: the same GPT-2-style model, batch and optimizer.

DTYPE f32 (default) trains in float32; bf16 runs the forward under
torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's mixed precision (matmuls on bf16 operands,
float32 weights, AdamW and loss), with the backward outside the autocast region as its docs say.
Prints one JSON line: {"tok_s": N, "peak_rss_mb": N, "threads": N, "dtype": D, "torch": "version"}.
Usage: python3 bench/peers/train_torch.py THREADS STEPS [f32|bf16]
"""
import contextlib
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

threads, steps = int(sys.argv[1]), int(sys.argv[2])
dtype = sys.argv[3] if len(sys.argv) > 3 else "f32"
if dtype not in ("f32", "bf16"):
    sys.exit(f"DTYPE must be f32 or bf16, got {dtype!r}")
torch.set_num_threads(threads)
torch.manual_seed(0)
V, T, C, L, H, B = 65, 256, 384, 6, 6, 16


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(C)
        self.c_attn = torch.nn.Linear(C, 3 * C)
        self.c_proj = torch.nn.Linear(C, C)
        self.ln_2 = torch.nn.LayerNorm(C)
        self.fc = torch.nn.Linear(C, 4 * C)
        self.proj = torch.nn.Linear(4 * C, C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T))

    def forward(self, x):
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, H, C // H).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        att = F.softmax(att.masked_fill(self.mask == 0, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.c_proj(y)
        return x + self.proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(V, C)
        self.wpe = torch.nn.Embedding(T, C)
        self.h = torch.nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = torch.nn.LayerNorm(C)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.T  # tied head
        return F.cross_entropy(logits.view(-1, V), targets.view(-1))


model = GPT()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
idx = torch.randint(0, V, (B, T))
tgt = torch.randint(0, V, (B, T))


def step():
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16" else contextlib.nullcontext()
    with autocast:
        loss = model(idx, tgt)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


step()  # warm-up
best = float("inf")
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    best = min(best, time.perf_counter() - t0)
print(json.dumps({
    "tok_s": B * T / best,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "threads": threads,
    "dtype": dtype,
    "torch": torch.__version__,
}))
