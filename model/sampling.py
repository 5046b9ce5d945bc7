"""Per-slot sampling: temperature, top-k, top-p; greedy at temperature 0; one seeded generator."""
from __future__ import annotations

import dataclasses

import torch


MAX_TOP_K = 1 << 20  # beyond any vocabulary, well inside int64


@dataclasses.dataclass
class SamplingSettings:
    text_temperature: float = 0.7
    text_top_k: int = 25
    text_top_p: float = 1.0
    audio_temperature: float = 0.8
    audio_top_k: int = 250
    audio_top_p: float = 1.0

    def within(self, vocab: dict[str, int]) -> "SamplingSettings":
        """The same settings with top_k no larger than the vocabulary (where it means no limit)."""
        return dataclasses.replace(self, text_top_k=min(self.text_top_k, vocab["text"]),
                                   audio_top_k=min(self.audio_top_k, vocab["audio"]))

    def validate(self, vocab: dict[str, int] | None = None) -> "SamplingSettings":
        """Checks every field's type and range; `vocab` ({"text": n, "audio": n}, the model's
        vocabulary sizes) bounds top_k, which a slot's int64 tensor must also be able to hold."""
        for name in ("text", "audio"):
            t, k, p = (getattr(self, f"{name}_{x}") for x in ("temperature", "top_k", "top_p"))
            if not (isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 10):
                raise ValueError(f"{name}_temperature must be a number in [0, 10], got {t!r}")
            most = (vocab or {}).get(name, MAX_TOP_K)
            if not (isinstance(k, int) and not isinstance(k, bool) and 0 <= k <= most):
                raise ValueError(f"{name}_top_k must be an integer in [0, {most}] (0: no limit; at most the "
                                 f"vocabulary), got {k!r}")
            if not (isinstance(p, (int, float)) and not isinstance(p, bool) and 0 < p <= 1):
                raise ValueError(f"{name}_top_p must be a number in (0, 1], got {p!r}")
        return self


class SlotSettings:
    """Every slot's sampling settings as tensors [B] (top_k int64, the others float), as `sample`
    takes them; a slot is set, or reset to the model's defaults, row by row."""
    FIELDS = tuple(f.name for f in dataclasses.fields(SamplingSettings))

    def __init__(self, defaults: SamplingSettings, batch: int, device):
        self.defaults = defaults
        self.tensors = {f: torch.full((batch,), getattr(defaults, f), device=device,
                                      dtype=torch.long if f.endswith("top_k") else torch.float) for f in self.FIELDS}

    def set(self, slot: int, settings: SamplingSettings) -> None:
        settings.validate()
        for name, t in self.tensors.items():
            t[slot] = getattr(settings, name)

    def reset(self, idx) -> None:
        for name, t in self.tensors.items():
            t[idx] = getattr(self.defaults, name)

    def rows(self, n: int) -> dict[str, torch.Tensor]:
        """The first n slots' settings (the computed prefix of a step)."""
        return {k: v[:n] for k, v in self.tensors.items()}


def _race(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One draw from softmax(logits) per row, by the exponential race (argmax of p_i / E_i with
    E_i ~ Exp(1)): one batched op, where torch.multinomial costs about 20 us per row on a small CPU.
    E = -log U: on a CPU, torch's exponential_ costs 4x as much as uniform draws and their log."""
    noise = torch.rand(logits.shape, generator=generator, device=logits.device).log_().neg_()
    return (logits.softmax(-1) / noise).argmax(-1)


def sample(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
           generator: torch.Generator | None) -> torch.Tensor:
    """logits [B,...,V]; settings [B]. Returns indices [B,...]."""
    B, V = logits.shape[0], logits.shape[-1]
    flat = logits.float().reshape(B, -1, V)
    if not bool((temperature > 0).any()):  # every slot greedy (the bundled agent's text): no draw
        return flat.argmax(-1).view(logits.shape[:-1])
    scaled = flat / temperature.clamp_min(1e-5).view(B, 1, 1)
    k = torch.where(top_k > 0, top_k, torch.full_like(top_k, V)).clamp_max(V)
    if bool((top_p >= 1).all()) and bool((k == k[0]).all()):
        # The common case (no top-p, one top-k for every slot) needs no sort: cut below the k-th largest.
        if int(k[0]) < V:
            kth = scaled.kthvalue(V - int(k[0]) + 1, dim=-1, keepdim=True).values
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        picked = _race(scaled, generator)
    else:
        picked = _sorted_pick(scaled, k, top_p, generator)
    out = torch.where((temperature > 0).view(B, 1), picked, flat.argmax(-1))
    return out.view(logits.shape[:-1])


def sample_static(logits: torch.Tensor, temperature: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor,
                  generator: torch.Generator | None) -> torch.Tensor:
    """`sample` without a decision taken on the host, so that it can run inside a CUDA graph:
    always the sorted path (a little slower than `sample`'s shortcut, the same distribution)."""
    B, V = logits.shape[0], logits.shape[-1]
    flat = logits.float().reshape(B, -1, V)
    scaled = flat / temperature.clamp_min(1e-5).view(B, 1, 1)
    k = torch.where(top_k > 0, top_k, torch.full_like(top_k, V)).clamp_max(V)
    out = torch.where((temperature > 0).view(B, 1), _sorted_pick(scaled, k, top_p, generator), flat.argmax(-1))
    return out.view(logits.shape[:-1])


def _sorted_pick(scaled, k, top_p, generator):
    """Per-row top-k and top-p by sorting: scaled [B,N,V], k and top_p [B]."""
    B, V = scaled.shape[0], scaled.shape[-1]
    shape = (B, 1, 1)
    sorted_logits, order = scaled.sort(dim=-1, descending=True)
    rank = torch.arange(V, device=scaled.device).view(1, 1, V)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # mass strictly above this token
    keep = (rank < k.view(shape)) & (before < top_p.view(shape))
    choice = _race(sorted_logits.masked_fill(~keep, float("-inf")), generator)
    return order.gather(-1, choice[..., None])[..., 0]
