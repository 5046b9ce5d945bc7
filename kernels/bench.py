"""GPU check for the attention kernels (`antiphon bench kernels --device cuda`): bf16 correctness
against the reference, then prefill and ring-cache decode timed against torch SDPA on the same
inputs, with TFLOP/s and GB/s of KV read beside the device's peak. Sized for under five minutes."""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from . import reference

# Peaks for the report (dense bf16 tensor-core FLOP/s, HBM bytes/s).
PEAKS = {"H200": (989e12, 4.8e12), "H100": (989e12, 3.35e12), "A100": (312e12, 2.0e12)}


def _peak(name: str):
    for key, val in PEAKS.items():
        if key in name:
            return val
    return (float("nan"), float("nan"))


def _time(fn, iters=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters / 1e3


def _ring(B, Hkv, C, D, dtype):
    k = torch.randn(B, Hkv, C, D, device="cuda", dtype=dtype)
    v = torch.randn_like(k)
    lengths = torch.randint(C // 2, 3 * C, (B,), device="cuda")
    idx = torch.arange(C, device="cuda")
    # entry i holds the latest position p < length with p % C == i
    last = lengths[:, None] - 1
    pos = last - ((last - idx[None]) % C)
    pos = torch.where(pos >= 0, pos, torch.full_like(pos, -1))
    return k, v, pos, last[:, 0]


def correctness():
    from . import triton_decode, triton_prefill

    for D in (64, 128):
        q = torch.randn(2, 8, 300, D, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(2, 2, 300, D, device="cuda", dtype=torch.bfloat16)
        v = torch.randn_like(k)
        for window in (None, 77):
            err = (triton_prefill.prefill(q, k, v, window).float()
                   - reference.prefill(q.float(), k.float(), v.float(), window)).abs().max().item()
            assert err < 3e-2, f"prefill bf16 D={D} window={window}: err {err}"
        kc, vc, pos, qpos = _ring(16, 2, 1000, D, torch.bfloat16)
        qd = torch.randn(16, 8, D, device="cuda", dtype=torch.bfloat16)
        err = (triton_decode.decode(qd, kc, vc, pos, qpos, 1000).float()
               - reference.decode(qd.float(), kc.float(), vc.float(), pos, qpos, 1000)).abs().max().item()
        assert err < 3e-2, f"decode bf16 D={D}: err {err}"
    print("bf16 correctness: ok (prefill, decode; head dims 64 and 128)")


def main(device: str = "cuda") -> int:
    if device != "cuda" or not torch.cuda.is_available():
        print("antiphon bench kernels needs a CUDA GPU (--device cuda); the CPU runs the kernels only "
              "under TRITON_INTERPRET=1, for correctness (tests/test_kernels.py)", file=sys.stderr)
        return 2
    from . import triton_decode, triton_prefill

    name = torch.cuda.get_device_name()
    peak_flops, peak_bw = _peak(name)
    print(f"device: {name}; peaks: {peak_flops / 1e12:.0f} TFLOP/s bf16, {peak_bw / 1e12:.2f} TB/s")
    correctness()
    dt = torch.bfloat16
    print("\n| prefill B,H,T,D | triton ms | SDPA ms | speedup | triton TFLOP/s | % peak |")
    print("|---|---|---|---|---|---|")
    for B, H, T, D in [(1, 16, 4096, 128), (4, 16, 4096, 64), (1, 16, 16384, 128)]:
        q = torch.randn(B, H, T, D, device="cuda", dtype=dt)
        k, v = torch.randn_like(q), torch.randn_like(q)
        t_tr = _time(lambda: triton_prefill.prefill(q, k, v))
        t_sd = _time(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
        flops = 4 * B * H * T * T * D / 2
        print(f"| {B},{H},{T},{D} | {t_tr * 1e3:.3f} | {t_sd * 1e3:.3f} | {t_sd / t_tr:.2f} | "
              f"{flops / t_tr / 1e12:.0f} | {100 * flops / t_tr / peak_flops:.0f}% |")
    print("\n| decode B,C (H=32,Hkv=8,D=128) | triton ms | SDPA+mask ms | speedup | triton GB/s KV | % peak |")
    print("|---|---|---|---|---|---|")
    H, Hkv, D = 32, 8, 128
    for B in (1, 8, 32, 128):
        for C in (1024, 4096, 16384):
            if B * C > 128 * 4096:
                continue
            kc, vc, pos, qpos = _ring(B, Hkv, C, D, dt)
            q = torch.randn(B, H, D, device="cuda", dtype=dt)
            mask = reference.window_mask(qpos[:, None], pos, C)[:, None]  # [B,1,1,C]
            kx, vx = kc.repeat_interleave(H // Hkv, 1), vc.repeat_interleave(H // Hkv, 1)
            t_tr = _time(lambda: triton_decode.decode(q, kc, vc, pos, qpos, C))
            t_sd = _time(lambda: F.scaled_dot_product_attention(q[:, :, None], kx, vx, attn_mask=mask))
            kv_bytes = 2 * B * Hkv * C * D * 2
            print(f"| {B},{C} | {t_tr * 1e3:.3f} | {t_sd * 1e3:.3f} | {t_sd / t_tr:.2f} | "
                  f"{kv_bytes / t_tr / 1e9:.0f} | {100 * kv_bytes / t_tr / peak_bw:.0f}% |")
    return 0
