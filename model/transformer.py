"""The early-fusion speech transformer.

Each frame's input is the sum of the embeddings of the agent's previous text token, the agent's
previous K codebook tokens (in the delayed layout) and the user's K codebook tokens of this frame:
one sequence, one set of weights, no cross-attention.

The K agent codebooks come from parallel heads made causal by the acoustic delay (text and the
first codebook undelayed, the others one frame later, so each fine codebook is predicted with
the same frame's first codebook already in the input). We chose this over a depth transformer
because one pass per frame keeps the step cheap and batchable on a CPU; a depth transformer would
add K sequential passes per frame to the latency of every tick.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from antiphon import kernels

from .config import ModelConfig
from .sampling import SamplingSettings
from .tokenizer import ByteTokenizer


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def rotary(positions: torch.Tensor, head_dim: int, base: float):
    """cos, sin for absolute positions [...]. Angles in float64, so hours of frames keep full
    precision (a float32 angle at position 1e6 is off by a few hundredths of a radian)."""
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim)
    ang = positions.to(torch.float64)[..., None] * inv
    ang = torch.remainder(ang, 2 * math.pi)
    return ang.cos().float(), ang.sin().float()


def apply_rotary(x, cos, sin):
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.wqkv = nn.Linear(cfg.dim, (cfg.heads + 2 * cfg.kv_heads) * hd, bias=False)
        self.wo = nn.Linear(cfg.heads * hd, cfg.dim, bias=False)

    def _qkv(self, x, cos, sin):
        cfg, hd = self.cfg, self.cfg.head_dim
        q, k, v = self.wqkv(x).split([cfg.heads * hd, cfg.kv_heads * hd, cfg.kv_heads * hd], dim=-1)
        shape = x.shape[:-1]
        q = apply_rotary(q.view(*shape, cfg.heads, hd), cos[..., None, :], sin[..., None, :])
        k = apply_rotary(k.view(*shape, cfg.kv_heads, hd), cos[..., None, :], sin[..., None, :])
        return q, k, v.view(*shape, cfg.kv_heads, hd)

    def forward(self, x, cos, sin):
        """Teacher-forced: x [B,T,dim], sliding-window causal over the context."""
        q, k, v = self._qkv(x, cos, sin)
        y = kernels.prefill(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), window=self.cfg.context)
        return self.wo(y.transpose(1, 2).flatten(2))

    def step(self, x, cos, sin, cache, layer: int):
        """One frame per slot: x [B,dim]; writes this frame's key/value into the ring cache."""
        q, k, v = self._qkv(x, cos, sin)
        cache.write(layer, k, v)
        y = kernels.decode(q, cache.k[layer], cache.v[layer], cache.pos_of_entry, cache.pos, self.cfg.context)
        return self.wo(y.flatten(1))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        hidden = int(cfg.dim * cfg.mlp_ratio / 8 + 0.5) * 8
        self.w13 = nn.Linear(cfg.dim, 2 * hidden, bias=False)
        self.w2 = nn.Linear(hidden, cfg.dim, bias=False)

    def forward(self, x):
        a, b = self.w13(x).chunk(2, dim=-1)
        return self.w2(F.silu(a) * b)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm, self.attn = RMSNorm(cfg.dim), Attention(cfg)
        self.mlp_norm, self.mlp = RMSNorm(cfg.dim), MLP(cfg)

    def forward(self, x, cos, sin, dropout: float = 0.0):
        x = x + F.dropout(self.attn(self.attn_norm(x), cos, sin), dropout, self.training)
        return x + F.dropout(self.mlp(self.mlp_norm(x)), dropout, self.training)

    def step(self, x, cos, sin, cache, layer):
        x = x + self.attn.step(self.attn_norm(x), cos, sin, cache, layer)
        return x + self.mlp(self.mlp_norm(x))


class SpeechTransformer(nn.Module):
    """Token layout per frame (one index per stream): [text, agent_0..agent_{K-1}, user_0..user_{K-1}].
    Audio embeddings have one extra index (`cardinality`) meaning "no token yet" (before the
    first frame and inside the delay)."""
    TORCH_ONLY = False  # its step and its codec also export to ONNX Runtime

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg.validate()
        K, card = cfg.num_codebooks, cfg.cardinality
        sizes = [cfg.text_vocab] + [card + 1] * (2 * K)
        self.register_buffer("offsets", torch.tensor([sum(sizes[:i]) for i in range(len(sizes))]),
                             persistent=False)
        self.embed = nn.Embedding(sum(sizes), cfg.dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.dim)
        self.text_head = nn.Linear(cfg.dim, cfg.text_vocab, bias=False)
        self.audio_head = nn.Linear(cfg.dim, K * card, bias=False)
        self.register_buffer("silence_codes", torch.zeros(K, dtype=torch.long))
        self.tokenizer = ByteTokenizer()
        # a checkpoint may recommend its own; top-k never beyond the vocabulary, as a client's is checked
        self.default_sampling = SamplingSettings().within(self.vocab_sizes())
        self.step_runner = None  # another implementation of `step` (the ONNX Runtime one), when chosen
        self.dropout = 0.0  # on the residual branches, teacher-forced training only (a recipe setting)
        self.apply(self._init)
        self.word_head = None  # a WordHead (model/word_head.py) when the checkpoint has one

    def vocab_sizes(self) -> dict[str, int]:
        """What each sampled stream chooses among: the bound of its top-k."""
        return {"text": self.cfg.text_vocab, "audio": self.cfg.cardinality}

    def stream(self, batch_size: int, context: int | None = None, seed: int = 0):
        """A batched stream with a preallocated ring KV cache of `context` frames per slot."""
        from .stream import ModelStream

        return ModelStream(self, batch_size, context=context, seed=seed)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def embed_tokens(self, tokens):
        """tokens [..., 1+2K] -> [..., dim]."""
        return self.embed(tokens + self.offsets).sum(-2)

    def heads(self, h):
        h = self.norm(h)
        audio = self.audio_head(h)
        return self.text_head(h), audio.view(*audio.shape[:-1], self.cfg.num_codebooks, self.cfg.cardinality)

    def forward(self, tokens: torch.Tensor):
        """Teacher-forced pass. tokens [B,T,1+2K] are the step inputs (see data layout in
        model/layout.py); returns text logits [B,T,V] and audio logits [B,T,K,card]."""
        return self.heads(self.hidden_states(tokens)[-1])

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Every block's output [B,T,dim] of a teacher-forced pass; the heads read the last."""
        B, T, _ = tokens.shape
        cos, sin = rotary(torch.arange(T, device=tokens.device), self.cfg.head_dim, self.cfg.rope_base)
        x = self.embed_tokens(tokens)
        states = []
        for block in self.blocks:
            x = block(x, cos, sin, self.dropout)
            states.append(x)
        return states

    def use_step_backend(self, backend: str) -> "SpeechTransformer":
        """'torch' (this module's `step`), 'onnx' (the same step exported to ONNX Runtime, CPU) or
        'onnx-int8' (that graph with int8 weights)."""
        if backend in ("onnx", "onnx-int8"):
            from .onnx_step import OnnxStep

            self.step_runner = OnnxStep(self, int8=backend == "onnx-int8")
        elif backend == "torch":
            self.step_runner = None
        else:
            raise ValueError(f"backend must be 'torch', 'onnx' or 'onnx-int8', got {backend!r}")
        return self

    def step(self, tokens: torch.Tensor, cache):
        """tokens [B,1+2K] for each slot's current position -> (text logits [B,V], audio [B,K,card],
        word logits [B,words+1] or None without a word head)."""
        cos, sin = rotary(cache.pos, self.cfg.head_dim, self.cfg.rope_base)
        x = self.embed_tokens(tokens)
        words = None
        read = self.word_head.block(self.cfg.layers) if self.word_head is not None else -1
        for i, block in enumerate(self.blocks):
            x = block.step(x, cos, sin, cache, i)
            if i == read:
                words = self.word_head(x)
        return (*self.heads(x), words)
