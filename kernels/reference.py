"""Torch reference attention: the ground truth the Triton kernels are tested against, and the
CPU path. Layouts: q [B,H,T,D]; k, v [B,Hkv,T,D]; H a multiple of Hkv (grouped-query)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _expand_kv(x: torch.Tensor, heads: int) -> torch.Tensor:
    rep = heads // x.shape[1]
    return x if rep == 1 else x.repeat_interleave(rep, dim=1)


def window_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, window: int | None) -> torch.Tensor:
    """True where a query at q_pos may see a key at k_pos: causal, inside the window, and the key
    slot holds something (k_pos >= 0)."""
    q = q_pos[..., :, None]
    k = k_pos[..., None, :]
    ok = (k <= q) & (k >= 0)
    if window is not None:
        ok &= k > q - window
    return ok


def prefill(q, k, v, window: int | None = None, positions: torch.Tensor | None = None):
    """Causal attention over a whole sequence (optionally sliding-window)."""
    T = q.shape[2]
    pos = torch.arange(T, device=q.device) if positions is None else positions
    mask = window_mask(pos, pos, window)
    k, v = _expand_kv(k, q.shape[1]), _expand_kv(v, q.shape[1])
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def decode(q, k_cache, v_cache, cache_pos, q_pos, window: int):
    """One query per slot against its ring cache.

    q [B,H,D]; k_cache, v_cache [B,Hkv,C,D]; cache_pos [B,C] absolute position of each entry
    (-1 empty); q_pos [B]. A slot with no visible key gets zeros."""
    B, H, D = q.shape
    mask = window_mask(q_pos[:, None], cache_pos, window)  # [B,1,C]
    k, v = _expand_kv(k_cache, H), _expand_kv(v_cache, H)
    scores = torch.einsum("bhd,bhcd->bhc", q.float(), k.float()) / math.sqrt(D)
    scores = scores.masked_fill(~mask, float("-inf"))
    any_key = mask.any(-1, keepdim=True)  # [B,1,1]
    probs = torch.softmax(scores.masked_fill(~any_key, 0.0), dim=-1) * any_key
    return torch.einsum("bhc,bhcd->bhd", probs, v.float()).to(q.dtype)


def decode_before_write(q, k_new, v_new, k_cache, v_cache, cache_pos, q_pos, window: int):
    """`decode` as it would be after writing this frame's key and value into the ring, computed
    from the ring before the write: entries strictly before q_pos plus the frame's own key, with no
    copy of the cache and nothing data-dependent (it exports to ONNX). q [B,H,D]; k_new, v_new
    [B,Hkv,D]; caches [B,Hkv,C,D]; cache_pos may already hold q_pos at the slot being written."""
    B, H, D = q.shape
    Hkv, C = k_cache.shape[1], k_cache.shape[2]
    qg = q.reshape(B, Hkv, H // Hkv, D)
    scale = 1.0 / math.sqrt(D)
    scores = torch.matmul(qg, k_cache.transpose(-1, -2)) * scale  # [B,Hkv,rep,C]
    kp, qp = cache_pos[:, None, None, :], q_pos[:, None, None, None]
    visible = (kp < qp) & (kp > qp - window) & (kp >= 0)
    scores = scores.masked_fill(~visible, float("-inf"))
    own = (qg * k_new[:, :, None]).sum(-1, keepdim=True) * scale  # always visible: never all -inf
    probs = torch.softmax(torch.cat([scores, own], -1), -1)
    out = torch.matmul(probs[..., :C], v_cache) + probs[..., C:] * v_new[:, :, None]
    return out.reshape(B, H, D)
