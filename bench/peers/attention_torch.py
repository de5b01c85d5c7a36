"""PyTorch peer of `npm run bench -- attention`: causal attention written out, as torch 1.13 has no
scaled_dot_product_attention: softmax(scale * q @ k^T, causal mask) @ v, on [B, H, T, D] tensors.

Forward is timed under no_grad (torch's fastest forward); forward + backward with autograd, the
gradients of q, k and v from a given dout. Best time of repeated runs within a budget, after a
warm-up. Prints blas_info (bench/peers/python.ts) and the figures as one JSON line.
Usage: python3 attention_torch.py THREADS B H T D BUDGET_S   (BLAS_INFO_PY is prepended by the bench)
"""
import json
import sys
import time

import torch

threads, B, H, T, D = (int(x) for x in sys.argv[1:6])
budget = float(sys.argv[6])
torch.set_num_threads(threads)
torch.manual_seed(0)
scale = 1.0 / D**0.5
q, k, v = (torch.randn(B, H, T, D, requires_grad=True) for _ in range(3))  # (B, nh, T, hs)
dout = torch.randn(B, H, T, D)
mask = torch.ones(T, T, dtype=torch.bool).triu(1)  # True above the diagonal: masked


def attention():
    s = (q @ k.transpose(-2, -1)) * scale  # (B, nh, T, T)
    return torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1) @ v


def forward():
    with torch.no_grad():
        attention()


def forward_backward():
    q.grad = k.grad = v.grad = None
    attention().backward(dout)


def best(fn):
    fn()
    t_best, n, end = float("inf"), 0, time.perf_counter() + budget
    while n < 3 or time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        t_best = min(t_best, time.perf_counter() - t)
        n += 1
    return t_best * 1000


print(json.dumps({"blas": blas_info("torch"), "threads": threads,  # noqa: F821 (prepended)
                  "fwd_ms": best(forward), "fwdbwd_ms": best(forward_backward)}))
