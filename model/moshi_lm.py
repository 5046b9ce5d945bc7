"""Kyutai's Moshi language model: our own implementation of its temporal and depth transformers.

Per frame, the temporal transformer reads the sum of the embeddings of the agent's text token,
the agent's K codebooks and the user's K codebooks (one position per frame, a ring KV cache
through `kernels`), and predicts the next text token. The depth transformer then writes the
agent's K codebooks for that frame one after another: position 0 reads the text token just
chosen, position k the codebook chosen at k-1, each with its own weights, all slots at once.

Rotary embeddings pair adjacent channels (Kyutai's layout); transformers' checkpoints pair
channel i with i + D/2, and the loader permutes their q and k rows (moshi_checkpoint.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from antiphon import kernels

from .moshi_config import MoshiConfig
from .transformer import apply_rotary, rotary


class RMSNorm(nn.Module):
    """Computed in at least float32, as Kyutai's `rms_norm_f32`, whatever the weights' dtype."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x):
        wide = x.to(torch.promote_types(x.dtype, torch.float32))
        y = wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.to(wide.dtype)
        return y.to(x.dtype)


def gated(x, fc1, fc2):
    """Moshi's MLP: the first half of fc1's output, through SiLU, gates the second half."""
    a, b = fc1(x).chunk(2, dim=-1)
    return fc2(F.silu(a) * b)


class TemporalLayer(nn.Module):
    def __init__(self, cfg: MoshiConfig):
        super().__init__()
        hd = cfg.head_dim
        self.cfg = cfg
        self.norm1, self.norm2 = RMSNorm(cfg.dim, cfg.norm_eps), RMSNorm(cfg.dim, cfg.norm_eps)
        self.wq = nn.Linear(cfg.dim, cfg.heads * hd, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.kv_heads * hd, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.kv_heads * hd, bias=False)
        self.wo = nn.Linear(cfg.heads * hd, cfg.dim, bias=False)
        self.fc1 = nn.Linear(cfg.dim, cfg.ffn, bias=False)
        self.fc2 = nn.Linear(cfg.ffn // 2, cfg.dim, bias=False)

    def step(self, x, cos, sin, cache, layer: int):
        cfg, B = self.cfg, x.shape[0]
        h = self.norm1(x)
        q = apply_rotary(self.wq(h).view(B, cfg.heads, cfg.head_dim), cos, sin)
        k = apply_rotary(self.wk(h).view(B, cfg.kv_heads, cfg.head_dim), cos, sin)
        cache.write(layer, k, self.wv(h).view(B, cfg.kv_heads, cfg.head_dim))
        y = kernels.decode(q, cache.k[layer], cache.v[layer], cache.pos_of_entry, cache.pos, cache.context)
        x = x + self.wo(y.flatten(1))
        return x + gated(self.norm2(x), self.fc1, self.fc2)


def per_step(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One of K linear maps: weight [out, in] chosen for this depth position, x [B, in]."""
    return x @ weight.t()


class DepthLayer(nn.Module):
    """A depth transformer layer: every linear map has one weight per position (codebook)."""

    def __init__(self, cfg: MoshiConfig):
        super().__init__()
        K, d = cfg.num_codebooks, cfg.depth_dim
        self.cfg = cfg
        self.norm1, self.norm2 = RMSNorm(d, cfg.norm_eps), RMSNorm(d, cfg.norm_eps)
        self.wq, self.wk, self.wv, self.wo = (nn.Parameter(torch.empty(K, d, d)) for _ in range(4))
        self.fc1 = nn.Parameter(torch.empty(K, cfg.depth_ffn, d))
        self.fc2 = nn.Parameter(torch.empty(K, d, cfg.depth_ffn // 2))

    def step(self, x, j: int, keys: list, values: list):
        """Position j for every slot; keys/values hold this layer's earlier positions [B,H,D] each."""
        cfg, B = self.cfg, x.shape[0]
        H, D = cfg.depth_heads, cfg.depth_head_dim
        h = self.norm1(x)
        q = per_step(self.wq[j], h).view(B, H, 1, D)
        keys.append(per_step(self.wk[j], h).view(B, H, D))
        values.append(per_step(self.wv[j], h).view(B, H, D))
        y = F.scaled_dot_product_attention(q, torch.stack(keys, 2), torch.stack(values, 2))
        x = x + per_step(self.wo[j], y.reshape(B, H * D))
        return x + gated(self.norm2(x), lambda t: per_step(self.fc1[j], t), lambda t: per_step(self.fc2[j], t))


class DepthTransformer(nn.Module):
    def __init__(self, cfg: MoshiConfig):
        super().__init__()
        K, d = cfg.num_codebooks, cfg.depth_dim
        self.cfg = cfg
        self.text_emb = nn.Embedding(cfg.text_vocab + 1, d)
        self.audio_emb = nn.ModuleList(nn.Embedding(cfg.cardinality + 1, d) for _ in range(K - 1))
        self.input_proj = nn.Parameter(torch.empty(K, d, cfg.dim))
        self.layers = nn.ModuleList(DepthLayer(cfg) for _ in range(cfg.depth_layers))
        self.heads = nn.Parameter(torch.empty(K, cfg.cardinality, d))

    def generate(self, text: torch.Tensor, hidden: torch.Tensor, pick):
        """text [B], hidden [B,dim] -> (codes [B,K], logits [B,K,card]); `pick(j, logits [B,card])`
        chooses codebook j's tokens (sampling, per slot), which position j+1 then reads."""
        caches = [([], []) for _ in self.layers]
        prev, codes, logits = text, [], []
        for j in range(self.cfg.num_codebooks):
            emb = self.text_emb(prev) if j == 0 else self.audio_emb[j - 1](prev)
            x = emb + per_step(self.input_proj[j], hidden)
            for layer, (keys, values) in zip(self.layers, caches):
                x = layer.step(x, j, keys, values)
            logits.append(per_step(self.heads[j], x))
            prev = pick(j, logits[-1])
            codes.append(prev)
        return torch.stack(codes, 1), torch.stack(logits, 1)


class MoshiLM(nn.Module):
    """Token layout per frame: [text, agent_0..agent_{K-1}, user_0..user_{K-1}]. Index
    `text_vocab` (text) and `cardinality` (audio) are the initial tokens a stream reads before
    its first real one."""

    def __init__(self, cfg: MoshiConfig):
        super().__init__()
        self.cfg = cfg.validate()
        self.text_emb = nn.Embedding(cfg.text_vocab + 1, cfg.dim)
        self.audio_emb = nn.ModuleList(nn.Embedding(cfg.cardinality + 1, cfg.dim) for _ in range(2 * cfg.num_codebooks))
        self.layers = nn.ModuleList(TemporalLayer(cfg) for _ in range(cfg.layers))
        self.out_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.text_head = nn.Linear(cfg.dim, cfg.text_vocab, bias=False)
        self.depth = DepthTransformer(cfg)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.text_emb(tokens[:, 0])
        for k, emb in enumerate(self.audio_emb):
            x = x + emb(tokens[:, 1 + k])
        return x

    def temporal_step(self, tokens: torch.Tensor, cache):
        """tokens [B,1+2K] at each slot's position -> (text logits [B,V], hidden [B,dim])."""
        cos, sin = rotary(cache.pos, self.cfg.head_dim, self.cfg.rope_base)
        cos, sin = cos[:, None], sin[:, None]  # float32 angles: apply_rotary rounds to the weights' dtype after
        x = self.embed(tokens)
        for i, layer in enumerate(self.layers):
            x = layer.step(x, cos, sin, cache, i)
        hidden = self.out_norm(x)
        return self.text_head(hidden), hidden
