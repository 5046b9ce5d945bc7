"""Exact chunked streaming over transformers' Mimi modules, with per-slot state.

The same contract as streaming.py (a flat list of batch-first state tensors, zeros = a fresh
stream), with the rules Mimi needs on top of SEANet's convolutions:
- a causal conv padded by replicating its first input sample (Mimi's downsampling) keeps a flag
  saying whether the slot has seen input yet;
- the codec's transformers keep, per layer, the keys and values of the last `window - 1`
  positions and the slot's position count, so a slot attends over exactly the sliding window
  the offline model sees, for as long as it runs.
"""
from __future__ import annotations

import torch
from torch import nn

from transformers.models.mimi.modeling_mimi import (MimiConv1d, MimiConvTranspose1d, MimiResnetBlock,
                                                    MimiTransformerModel, apply_rotary_pos_emb)

from .streaming import StateSpec, StreamProgram, _CausalConvTranspose, _Residual, _Sequence, _Stateless, _Step


class _Conv(_Step):
    def __init__(self, module: MimiConv1d):
        if not module.causal:
            raise ValueError("streaming needs causal convolutions")
        self.module, self.context = module, int(module.padding_total)
        self.replicate = module.pad_mode == "replicate"
        if module.pad_mode not in ("constant", "replicate"):
            raise ValueError(f"no streaming rule for {module.pad_mode!r} padding")
        channels = module.conv.in_channels
        self.specs = [StateSpec((channels, self.context))] if self.context else []
        if self.context and self.replicate:
            self.specs.append(StateSpec((1,)))  # 1 once the slot has seen its first sample

    def __call__(self, x, states):
        if not self.context:
            return self.module.conv(x), []
        past = states[0]
        if self.replicate:
            started = states[1][:, :, None] > 0
            past = torch.where(started, past, x[..., :1].expand_as(past))
        xx = torch.cat([past, x], dim=-1)
        new = [xx[..., xx.shape[-1] - self.context:]]
        if self.replicate:
            new.append(torch.ones_like(states[1]))
        return self.module.conv(xx), new


class _Transformer(_Step):
    """Channels-first in and out, as the convolutions around it."""

    def __init__(self, module: MimiTransformerModel):
        cfg = module.config
        self.module, self.window = module, int(cfg.sliding_window)
        self.keep = self.window - 1  # the keys a new position can see besides its own
        self.heads, self.kv_heads, self.head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        kv = StateSpec((self.kv_heads, self.keep, self.head_dim))
        self.specs = [StateSpec((1,), torch.long)] + [kv, kv] * len(module.layers)

    def __call__(self, x, states):
        x = x.transpose(1, 2)  # [B, T, C]
        B, T, _ = x.shape
        pos = states[0]  # [B, 1]: positions seen so far
        q_pos = pos + torch.arange(T, device=x.device)  # [B, T]
        k_pos = pos + torch.arange(-self.keep, T, device=x.device)  # [B, keep + T]
        visible = (k_pos[:, None] >= 0) & (k_pos[:, None] <= q_pos[..., None]) & \
            (k_pos[:, None] > q_pos[..., None] - self.window)
        cos, sin = self.module.rotary_emb(x, q_pos)
        new = [pos + T]
        for i, layer in enumerate(self.module.layers):
            attn = layer.self_attn
            h = layer.input_layernorm(x)
            q = attn.q_proj(h).view(B, T, self.heads, self.head_dim).transpose(1, 2)
            k = attn.k_proj(h).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
            v = attn.v_proj(h).view(B, T, self.kv_heads, self.head_dim).transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            k = torch.cat([states[1 + 2 * i], k], dim=2)
            v = torch.cat([states[2 + 2 * i], v], dim=2)
            new += [k[:, :, k.shape[2] - self.keep:], v[:, :, v.shape[2] - self.keep:]]
            groups = self.heads // self.kv_heads
            kk, vv = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
            scores = (q @ kk.transpose(2, 3)) * attn.scaling
            weights = scores.masked_fill(~visible[:, None], float("-inf")).softmax(-1)
            out = attn.o_proj((weights @ vv).transpose(1, 2).reshape(B, T, -1))
            x = x + layer.self_attn_layer_scale(out)
            x = x + layer.mlp_layer_scale(layer.mlp(layer.post_attention_layernorm(x)))
        return x.transpose(1, 2), new


def compile_mimi(module: nn.Module) -> _Step:
    if isinstance(module, nn.ModuleList):
        return _Sequence([compile_mimi(m) for m in module])
    if isinstance(module, MimiConv1d):
        return _Conv(module)
    if isinstance(module, MimiConvTranspose1d):
        k, s = module.conv.kernel_size[0], module.conv.stride[0]
        if not module.causal or module.padding_right != k - s:
            raise ValueError("streaming needs causal transposed convolutions trimmed on the right")
        return _CausalConvTranspose(module.conv, module.conv)
    if isinstance(module, MimiResnetBlock):
        return _Residual(compile_mimi(module.shortcut), compile_mimi(module.block))
    if isinstance(module, MimiTransformerModel):
        return _Transformer(module)
    if len(list(module.parameters())) == 0:  # activations, Identity
        return _Stateless(module)
    raise TypeError(f"no streaming rule for {type(module).__name__}")



def mimi_program(modules: list[nn.Module | None]) -> StreamProgram:
    """A chain of Mimi modules (None: a stage this configuration leaves out) as one stream program."""
    return StreamProgram(nn.ModuleList([m for m in modules if m is not None]), compile=compile_mimi)
