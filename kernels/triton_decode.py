"""Flash-decoding over a ring KV cache: the cache is split across programs, each writes a
partial output and its log-sum-exp, and a second kernel merges them.

One program serves all query heads of one key/value head (grouped-query attention reads each
key once). Validity comes from the absolute position stored with every cache entry."""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from .triton_prefill import dot_precision


@triton.jit
def _split_kernel(Q, K, V, CPOS, QPOS, PO, PL,
                  sqb, sqh, skb, skh, skc, svb, svh, svc, scb, spob, spoh, spos, splb, splh,
                  C, GROUP, WINDOW, SPLIT_LEN, scale,
                  G_PAD: tl.constexpr, BLOCK_N: tl.constexpr, D: tl.constexpr, PRECISION: tl.constexpr):
    b = tl.program_id(0)
    kvh = tl.program_id(1)
    split = tl.program_id(2)
    offs_g = tl.arange(0, G_PAD)
    offs_d = tl.arange(0, D)
    offs_n = tl.arange(0, BLOCK_N)
    heads = kvh * GROUP + offs_g
    gmask = offs_g < GROUP
    q = tl.load(Q + b * sqb + heads[:, None] * sqh + offs_d[None, :], mask=gmask[:, None], other=0.0)
    qpos = tl.load(QPOS + b)
    m_i = tl.full([G_PAD], -1.0e30, dtype=tl.float32)
    l_i = tl.zeros([G_PAD], dtype=tl.float32)
    acc = tl.zeros([G_PAD, D], dtype=tl.float32)
    lo = split * SPLIT_LEN
    for start in range(lo, lo + SPLIT_LEN, BLOCK_N):
        cn = start + offs_n
        inside = cn < C
        kpos = tl.load(CPOS + b * scb + cn, mask=inside, other=-1)
        ok = inside & (kpos >= 0) & (kpos <= qpos) & (kpos > qpos - WINDOW)
        k = tl.load(K + b * skb + kvh * skh + cn[:, None] * skc + offs_d[None, :], mask=ok[:, None], other=0.0)
        v = tl.load(V + b * svb + kvh * svh + cn[:, None] * svc + offs_d[None, :], mask=ok[:, None], other=0.0)
        qk = tl.dot(q, tl.trans(k), input_precision=PRECISION).to(tl.float32) * scale
        qk = tl.where(ok[None, :], qk, -1.0e30)
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.where(ok[None, :], tl.exp(qk - m_new[:, None]), 0.0)
        alpha = tl.exp(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION).to(tl.float32)
        m_i = m_new
    out = acc / tl.where(l_i > 0, l_i, 1.0)[:, None]
    lse = tl.where(l_i > 0, m_i + tl.log(tl.where(l_i > 0, l_i, 1.0)), float("-inf"))
    tl.store(PO + b * spob + heads[:, None] * spoh + split * spos + offs_d[None, :], out, mask=gmask[:, None])
    tl.store(PL + b * splb + heads * splh + split, lse, mask=gmask)


@triton.jit
def _merge_kernel(PO, PL, O, spob, spoh, spos, splb, splh, sob, soh, SPLITS,
                  S_PAD: tl.constexpr, D: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    offs_s = tl.arange(0, S_PAD)
    offs_d = tl.arange(0, D)
    smask = offs_s < SPLITS
    lse = tl.load(PL + b * splb + h * splh + offs_s, mask=smask, other=float("-inf"))
    m = tl.max(lse, 0)
    has = m > float("-inf")
    w = tl.where(lse > float("-inf"), tl.exp(lse - tl.where(has, m, 0.0)), 0.0)
    parts = tl.load(PO + b * spob + h * spoh + offs_s[:, None] * spos + offs_d[None, :], mask=smask[:, None], other=0.0)
    total = tl.sum(w, 0)
    out = tl.sum(parts * w[:, None], 0) / tl.where(total > 0, total, 1.0)
    tl.store(O + b * sob + h * soh + offs_d, out.to(O.dtype.element_ty))


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def num_splits(batch: int, kv_heads: int, context: int, block_n: int) -> int:
    """Enough programs to fill the GPU (about two per multiprocessor), never more splits than blocks."""
    blocks = triton.cdiv(context, block_n)
    if _interpreting() or not torch.cuda.is_available():
        return min(blocks, 4)
    sms = torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    want = triton.cdiv(2 * sms, batch * kv_heads)
    return max(1, min(blocks, want))


def decode(q, k_cache, v_cache, cache_pos, q_pos, window: int, splits: int | None = None):
    B, H, D = q.shape
    Hkv, C = k_cache.shape[1], k_cache.shape[2]
    if D not in (16, 32, 64, 128, 256):
        raise ValueError(f"head_dim must be a power of two in [16, 256], got {D}")
    group = H // Hkv
    block_n = 16 if _interpreting() else 64
    splits = splits or num_splits(B, Hkv, C, block_n)
    split_len = triton.cdiv(triton.cdiv(C, splits), block_n) * block_n
    splits = triton.cdiv(C, split_len)
    q = q.contiguous()
    k_cache, v_cache = k_cache.contiguous(), v_cache.contiguous()
    cache_pos, q_pos = cache_pos.contiguous(), q_pos.contiguous()
    po = torch.empty((B, H, splits, D), device=q.device, dtype=torch.float32)
    pl = torch.empty((B, H, splits), device=q.device, dtype=torch.float32)
    o = torch.empty_like(q)
    g_pad = max(16, triton.next_power_of_2(group))
    _split_kernel[(B, Hkv, splits)](
        q, k_cache, v_cache, cache_pos, q_pos, po, pl,
        q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        v_cache.stride(0), v_cache.stride(1), v_cache.stride(2), cache_pos.stride(0),
        po.stride(0), po.stride(1), po.stride(2), pl.stride(0), pl.stride(1),
        C, group, window, split_len, D ** -0.5, G_PAD=g_pad, BLOCK_N=block_n, D=D,
        PRECISION=dot_precision(q.dtype))
    _merge_kernel[(B, H)](po, pl, o, po.stride(0), po.stride(1), po.stride(2), pl.stride(0), pl.stride(1),
                          o.stride(0), o.stride(1), splits, S_PAD=max(2, triton.next_power_of_2(splits)), D=D)
    return o
