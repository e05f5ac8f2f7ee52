#!/usr/bin/env python3
"""PyTorch peer timings for bench/ops.c: the same ops at the same sizes.

    /usr/bin/python3 bench/peer_ops.py [--threads N] [--quick] [--runs N]

Forward: the op on float32 tensors (no autograd recording). Backward: one
forward with autograd, then y.backward(dy, retain_graph=True) timed alone
(gradients accumulate, as ours do). Attention is timm's explicit form
(torch 1.13 has no scaled_dot_product_attention). Median wall time over N
runs after warm-up; the same FLOP conventions as bench/ops.c.
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

NB, NT = 8, 197


def median_ms(fn, runs, warm):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def attention(x, w_qkv, b_qkv, w_o, b_o, heads):
    B, T, C = x.shape
    qkv = F.linear(x, w_qkv, b_qkv).reshape(B, T, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    p = torch.softmax(q @ k.transpose(-2, -1) * (C // heads) ** -0.5, dim=-1)
    return F.linear((p @ v).transpose(1, 2).reshape(B, T, C), w_o, b_o)


def cases():
    M = NB * NT
    r = lambda *s: torch.randn(*s) * 0.02
    out = []
    for name, shape, K, N in [("linear qkv (ViT-B)", "1576 x 768 -> 2304", 768, 2304),
                              ("linear mlp1 (ViT-B)", "1576 x 768 -> 3072", 768, 3072),
                              ("linear mlp2 (ViT-B)", "1576 x 3072 -> 768", 3072, 768),
                              ("linear proj (ViT-B)", "1576 x 768 -> 768", 768, 768),
                              ("linear qkv (student)", "1576 x 384 -> 1152", 384, 1152),
                              ("linear mlp1 (student)", "1576 x 384 -> 1536", 384, 1536),
                              ("linear proj (student)", "1576 x 384 -> 384", 384, 384)]:
        out.append((name, shape, [torch.rand(M, K) * 2 - 1, r(N, K), r(N)], [True, True, True],
                    lambda x, w, b: F.linear(x, w, b), 2 * M * K * N, 4 * M * K * N))
    for name, shape, C, h in [("attention (ViT-B)", "B8 T197 C768 h12", 768, 12),
                              ("attention (student)", "B8 T197 C384 h6", 384, 6)]:
        f = 8 * NB * NT * C * C + 4 * NB * NT * NT * C
        out.append((name, shape, [torch.rand(NB, NT, C) * 2 - 1, r(3 * C, C), r(3 * C), r(C, C), r(C)],
                    [True] * 5, lambda x, a, b, c, d, h=h: attention(x, a, b, c, d, h), f, 2 * f))
    for name, shape, C in [("layer_norm (ViT-B)", "1576 x 768", 768), ("layer_norm (student)", "1576 x 384", 384)]:
        out.append((name, shape, [torch.rand(M, C) * 2 - 1, torch.ones(C), r(C)], [True] * 3,
                    lambda x, w, b: F.layer_norm(x, x.shape[-1:], w, b, 1e-6), 8 * M * C, 16 * M * C))
    for name, shape, (B, C, H, OC, K, s, p, gr) in [
            ("conv patch-embed", "8x3x224^2 -> 768 k16 s16", (NB, 3, 224, 768, 16, 16, 0, 1)),
            ("conv dw16 (3 ch)", "8x3x224^2 k16 s16 g3", (NB, 3, 224, 3, 16, 16, 0, 3)),
            ("conv dw3x3", "8x96x56^2 k3 s1 p1 g96", (NB, 96, 56, 96, 3, 1, 1, 96)),
            ("conv 1x1", "8x96x28^2 -> 384", (NB, 96, 28, 384, 1, 1, 0, 1))]:
        oh = (H + 2 * p - K) // s + 1
        f = 2 * B * OC * oh * oh * (C // gr) * K * K
        out.append((name, shape, [torch.rand(B, C, H, H) * 2 - 1, r(OC, C // gr, K, K), r(OC)], [C != 3, True, True],
                    lambda x, w, b, s=s, p=p, gr=gr: F.conv2d(x, w, b, s, p, 1, gr), f, f if C == 3 else 2 * f))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    runs, warm = (3, 1) if a.quick else (a.runs, 3)
    print(f"torch {torch.__version__}: {torch.get_num_threads()} threads, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; median of {runs} runs")
    n = 1024
    A, Bm = torch.rand(n, n), torch.rand(n, n)
    ref_ms = median_ms(lambda: A @ Bm, runs, warm)
    ref = 2 * n ** 3 / (ref_ms * 1e6)
    row = "{:<22} {:<30} {:<4} {:>10} {:>9} {:>8}"
    print(row.format("op", "shape", "pass", "median ms", "GFLOP/s", "x sgemm"))
    print(row.format("torch mm (reference)", "1024 x 1024 x 1024", "", f"{ref_ms:.3f}", f"{ref:.1f}", "1.00"))
    for name, shape, ts, needs, fn, ff, fb in cases():
        with torch.no_grad():
            ms = median_ms(lambda: fn(*ts), runs, warm)
        print(row.format(name, shape, "fwd", f"{ms:.3f}", f"{ff / (ms * 1e6):.1f}", f"{ff / (ms * 1e6) / ref:.2f}"))
        leaves = [t.clone().requires_grad_(q) for t, q in zip(ts, needs)]
        y = fn(*leaves)
        dy = torch.randn_like(y)
        ms = median_ms(lambda: y.backward(dy, retain_graph=True), runs, warm)
        print(row.format(name, shape, "bwd", f"{ms:.3f}", f"{fb / (ms * 1e6):.1f}", f"{fb / (ms * 1e6) / ref:.2f}"),
              flush=True)


if __name__ == "__main__":
    main()
