"""From aligned conversation tokens to the model's step inputs and targets (the delay pattern).

Aligned, per frame t: agent text text[t], agent codes A[k,t], user codes U[k,t].
Delayed agent stream: A'[k,t] = A[k, t - d_k]  (NONE before the delay has passed).
Step t reads  [text[t-1], A'[:, t-1], U[:, t]]  and predicts  text[t], A'[:, t].
"""
from __future__ import annotations

import torch

IGNORE = -100


def delayed(agent: torch.Tensor, delays: list[int], none: int) -> torch.Tensor:
    """agent [B,K,T] -> A' [B,K,T] with NONE (= cardinality) inside each codebook's delay."""
    out = torch.full_like(agent, none)
    for k, d in enumerate(delays):
        out[:, k, d:] = agent[:, k, : agent.shape[-1] - d]
    return out


def step_inputs(text: torch.Tensor, agent: torch.Tensor, user: torch.Tensor, delays: list[int],
                cardinality: int, bos: int) -> torch.Tensor:
    """text [B,T], agent/user [B,K,T] -> tokens [B,T,1+2K]."""
    B, K, T = agent.shape
    a_prev = torch.full_like(agent, cardinality)
    a_prev[..., 1:] = delayed(agent, delays, cardinality)[..., :-1]
    t_prev = torch.full_like(text, bos)
    t_prev[:, 1:] = text[:, :-1]
    return torch.cat([t_prev[:, None], a_prev, user], dim=1).transpose(1, 2)


def targets(text: torch.Tensor, agent: torch.Tensor, delays: list[int], cardinality: int):
    """(text targets [B,T], audio targets [B,T,K]) with IGNORE where a delay has no token."""
    a = delayed(agent, delays, cardinality)
    a = a.masked_fill(a == cardinality, IGNORE)
    return text, a.transpose(1, 2)
