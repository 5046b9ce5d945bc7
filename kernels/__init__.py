"""Attention for the model: Triton kernels on CUDA, the torch reference on the CPU.

`ANTIPHON_ATTENTION=torch|triton` forces one (tests run Triton on the CPU with TRITON_INTERPRET=1).
The kernels have no backward pass: where autograd needs gradients (training), attention takes the
torch path whatever the backend, or the attention weights would silently get no gradient.
"""
from __future__ import annotations

import os

import torch

from . import reference

__all__ = ["prefill", "decode", "backend_for"]


def backend_for(tensor) -> str:
    forced = os.environ.get("ANTIPHON_ATTENTION", "").strip().lower()
    if forced in ("torch", "triton"):
        return forced
    if forced:
        raise ValueError(f"ANTIPHON_ATTENTION must be 'torch' or 'triton', got {forced!r}")
    return "triton" if tensor.is_cuda else "torch"


def _needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def prefill(q, k, v, window: int | None = None):
    """Causal (sliding-window) attention: q [B,H,T,D], k/v [B,Hkv,T,D] -> [B,H,T,D]."""
    if backend_for(q) == "triton" and not _needs_grad(q, k, v):
        from . import triton_prefill

        return triton_prefill.prefill(q, k, v, window)
    return reference.prefill(q, k, v, window)


def decode(q, k_cache, v_cache, cache_pos, q_pos, window: int):
    """One query per slot against a ring KV cache: q [B,H,D] -> [B,H,D]."""
    if backend_for(q) == "triton" and not _needs_grad(q, k_cache, v_cache):
        from . import triton_decode

        return triton_decode.decode(q, k_cache, v_cache, cache_pos, q_pos, window)
    return reference.decode(q, k_cache, v_cache, cache_pos, q_pos, window)
