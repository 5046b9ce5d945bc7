"""Batched streaming inference: one slot per session, a ring KV cache of fixed size per slot."""
from __future__ import annotations

import numpy as np
import torch

from .sampling import SamplingSettings, SlotSettings, sample
from .word_head import new_words


class RingCache:
    """Per layer keys/values [B,Hkv,C,D]; `pos_of_entry` [B,C] holds each entry's absolute
    position (-1 empty) so masks stay right after wraparound; `pos` [B] is the next position."""

    def __init__(self, layers, batch, kv_heads, context, head_dim, device, dtype):
        shape = (layers, batch, kv_heads, context, head_dim)
        self.k_all = torch.zeros(shape, device=device, dtype=dtype)
        self.v_all = torch.zeros(shape, device=device, dtype=dtype)
        self.k, self.v = list(self.k_all.unbind(0)), list(self.v_all.unbind(0))  # per-layer views
        self.pos_of_entry = torch.full((batch, context), -1, dtype=torch.long, device=device)
        self.pos = torch.zeros(batch, dtype=torch.long, device=device)
        self.context = context
        self._rows = torch.arange(batch, device=device)
        self.active = torch.zeros(batch, dtype=torch.bool, device=device)

    def begin_step(self, active: torch.Tensor):
        self.active = active
        self.slot = self.pos % self.context
        current = self.pos_of_entry[self._rows, self.slot]
        self.pos_of_entry[self._rows, self.slot] = torch.where(active, self.pos, current)

    def write(self, layer, k, v):
        for cache, new in ((self.k[layer], k), (self.v[layer], v)):
            old = cache[self._rows, :, self.slot]
            cache[self._rows, :, self.slot] = torch.where(self.active[:, None, None], new.to(cache.dtype), old)

    def write_all(self, k, v):
        """k, v [B,L,Hkv,D]: this frame's keys and values for every layer in one write (CPU: the
        ONNX step's). Through numpy: torch's indexed write of the same rows costs 15x as much."""
        rows = np.flatnonzero(self.active.numpy())
        at = self.slot.numpy()[rows]
        for cache, new in ((self.k_all, k), (self.v_all, v)):
            cache.numpy()[:, rows, :, at] = new.to(cache.dtype).numpy()[rows]

    def end_step(self):
        self.pos += self.active.long()

    def reset(self, idx):
        for t in self.k + self.v:
            t[idx] = 0
        self.pos_of_entry[idx] = -1
        self.pos[idx] = 0

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.k_all, self.v_all, self.pos_of_entry, self.pos))

    def prefix(self, n: int) -> "RingCache":
        """The first n slots as a cache of their own, sharing this one's memory: a step on it
        updates these slots in place and leaves the others untouched."""
        view = object.__new__(RingCache)
        view.k_all, view.v_all = self.k_all[:, :n], self.v_all[:, :n]
        view.k, view.v = list(view.k_all.unbind(0)), list(view.v_all.unbind(0))
        view.pos_of_entry, view.pos, view.context = self.pos_of_entry[:n], self.pos[:n], self.context
        view._rows, view.active = self._rows[:n], self.active[:n]
        return view


def check_step(user_codes, active, batch: int, codebooks: int, cardinality: int, device) -> torch.Tensor:
    """A step's inputs as the seam takes them: int64 codes [B,K] in range, a bool mask [B] or None."""
    if not isinstance(user_codes, torch.Tensor) or user_codes.shape != (batch, codebooks):
        got = list(user_codes.shape) if isinstance(user_codes, torch.Tensor) else type(user_codes).__name__
        raise ValueError(f"user_codes must be a tensor of shape [{batch}, {codebooks}], got {got}")
    if user_codes.dtype != torch.long:
        raise ValueError(f"user_codes must be int64, got {user_codes.dtype}")
    if user_codes.numel() and (user_codes.min() < 0 or user_codes.max() >= cardinality):
        raise ValueError(f"user_codes must lie in [0, {cardinality}), got "
                         f"[{int(user_codes.min())}, {int(user_codes.max())}]")
    if active is None:
        return torch.ones(batch, dtype=torch.bool, device=device)
    if not isinstance(active, torch.Tensor) or active.shape != (batch,) or active.dtype != torch.bool:
        raise ValueError(f"active must be a bool tensor of shape [{batch}]")
    return active.to(device)


def padded(x: torch.Tensor, batch: int) -> torch.Tensor:
    """Rows of a computed prefix of the slots, as a [batch, ...] tensor (zeros beyond it)."""
    if x.shape[0] == batch:
        return x
    out = x.new_zeros((batch, *x.shape[1:]))
    out[: x.shape[0]] = x
    return out


def slot_index(slots, batch: int, device) -> torch.Tensor:
    idx = torch.arange(batch, device=device) if slots is None else \
        torch.as_tensor(slots, dtype=torch.long, device=device).reshape(-1)
    if idx.numel() and (idx.min() < 0 or idx.max() >= batch):
        raise ValueError(f"slots must lie in [0, {batch}), got {idx.tolist()}")
    return idx


class ModelStream:
    """`step(user_codes [B,K], active [B])` -> (agent codes [B,K], text tokens [B]) for the
    aligned frame `max_delay` steps back (silence and pad until then). Inactive slots neither
    advance nor change state; their outputs are silence and pad."""

    def __init__(self, model, batch_size: int, context: int | None = None, seed: int = 0):
        cfg = model.cfg
        context = cfg.context if context is None else int(context)
        if not 2 <= context:
            raise ValueError(f"context must be at least 2 frames, got {context}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model, self.cfg, self.batch_size, self.context = model, cfg, batch_size, context
        dev = next(model.parameters()).device
        self.device = dev
        dtype = next(model.parameters()).dtype
        self.cache = RingCache(cfg.layers, batch_size, cfg.kv_heads, context, cfg.head_dim, dev, dtype)
        K, D = cfg.num_codebooks, max(cfg.delays)
        self.max_delay = D
        self._delays = torch.tensor(cfg.delays, device=dev)
        self._prev_text = torch.full((batch_size,), model.tokenizer.BOS, dtype=torch.long, device=dev)
        self._prev_agent = torch.full((batch_size, K), cfg.cardinality, dtype=torch.long, device=dev)
        # history of delayed outputs A'[t-D..t] per slot, to undo the delay
        self._hist = torch.full((batch_size, D + 1, K), cfg.cardinality, dtype=torch.long, device=dev)
        self._text_hist = torch.full((batch_size, D + 1), model.tokenizer.PAD, dtype=torch.long, device=dev)
        self.generator = torch.Generator(device=dev).manual_seed(seed)
        self._settings = SlotSettings(model.default_sampling, batch_size, dev)
        self.last_tokens = None
        self.last_logits = None
        self.words = model.word_head.words if model.word_head is not None else None
        self._none = len(self.words) if self.words else 0
        self._word_ids = torch.full((batch_size,), self._none, dtype=torch.long, device=dev)  # named on the last frame
        self._heard = torch.full((batch_size,), self._none, dtype=torch.long, device=dev)  # newly named on it

    def configure(self, slot: int, settings: SamplingSettings) -> None:
        """A top-k beyond the vocabulary is no limit, as sampling clamps it; anything a slot's
        tensors cannot hold is refused (the server refuses it before, naming the vocabulary)."""
        self._settings.set(slot, settings)

    @torch.no_grad()
    def step(self, user_codes: torch.Tensor, active: torch.Tensor | None = None):
        """Only the slots up to the last active one are computed (the engine fills the lowest free
        slot first, so with few sessions this is a few rows, not batch_size)."""
        active = check_step(user_codes, active, self.batch_size, self.cfg.num_codebooks, self.cfg.cardinality,
                            self.device)
        user_codes = user_codes.to(self.device)
        live = torch.nonzero(active)
        n = int(live[-1]) + 1 if live.numel() else 1
        tokens = torch.cat([self._prev_text[:, None], self._prev_agent, user_codes], dim=1)
        self.last_tokens = tokens
        cache = self.cache if n == self.batch_size else self.cache.prefix(n)
        cache.begin_step(active[:n])
        text_logits, audio_logits, word_logits = (self.model.step_runner or self.model.step)(tokens[:n], cache)
        cache.end_step()
        if word_logits is not None:
            self._hear(word_logits.argmax(-1), active, n)
        self.last_logits = tuple(padded(x, self.batch_size) for x in (text_logits, audio_logits, word_logits)
                                 if x is not None)  # (text, audio[, words]) of this step
        s = self._settings.rows(n)
        text = self._prev_text.clone()
        agent = self._prev_agent.clone()
        text[:n] = sample(text_logits, s["text_temperature"], s["text_top_k"], s["text_top_p"], self.generator)
        agent[:n] = sample(audio_logits, s["audio_temperature"], s["audio_top_k"], s["audio_top_p"], self.generator)
        # Inside its delay a codebook has no token yet (the model was trained to expect NONE there).
        pos = self.cache.pos - 1  # position just computed (for active slots)
        agent = torch.where(pos[:, None] < self._delays[None], torch.full_like(agent, self.cfg.cardinality), agent)
        a = active[:, None]
        self._prev_text = torch.where(active, text, self._prev_text)
        self._prev_agent = torch.where(a, agent, self._prev_agent)
        self._hist = torch.where(a[:, :, None], torch.cat([self._hist[:, 1:], agent[:, None]], 1), self._hist)
        self._text_hist = torch.where(a, torch.cat([self._text_hist[:, 1:], text[:, None]], 1), self._text_hist)
        return self._aligned(active)

    def _hear(self, ids: torch.Tensor, active: torch.Tensor, n: int) -> None:
        named = torch.full_like(self._word_ids, self._none)
        named[:n] = ids
        named = torch.where(active, named, self._word_ids)
        self._heard = torch.where(active, new_words(named, self._word_ids, self._none), self._none)
        self._word_ids = named

    @property
    def last_text(self) -> torch.Tensor:
        """[B]: the text token each slot sampled on its last step (step returns it `max_delay`
        steps later, aligned with its audio); `last_logits` are what it was sampled from."""
        return self._prev_text

    def heard(self, slots: list[int]) -> list[str | None]:
        """Per slot, the word the user finished saying on the frame just stepped (the model's word
        head), or None: no word ended there, or the model has no word head."""
        if self.words is None:
            return [None] * len(slots)
        ids = self._heard.tolist()
        return [self.words[ids[i]] if ids[i] != self._none else None for i in slots]

    def _aligned(self, active):
        D = self.max_delay
        K = self.cfg.num_codebooks
        # A[k, t-D] = A'[k, t-D+d_k] = hist[:, D - (D - d_k)] = hist[:, d_k]
        codes = self._hist[:, self._delays, torch.arange(K, device=self.device)]
        text = self._text_hist[:, 0]
        silent = (codes == self.cfg.cardinality) | ~active[:, None]
        codes = torch.where(silent, self.model.silence_codes[None].expand_as(codes), codes)
        text = torch.where(active & (self.cache.pos > D), text, torch.full_like(text, self.model.tokenizer.PAD))
        return codes, text

    def reset(self, slots=None) -> None:
        """Restart slots: a reset slot behaves exactly like a fresh stream."""
        idx = slot_index(slots, self.batch_size, self.device)
        self.cache.reset(idx)
        self._prev_text[idx] = self.model.tokenizer.BOS
        self._prev_agent[idx] = self.cfg.cardinality
        self._hist[idx] = self.cfg.cardinality
        self._text_hist[idx] = self.model.tokenizer.PAD
        self._word_ids[idx] = self._none
        self._heard[idx] = self._none
        self._settings.reset(idx)

    def state_nbytes(self) -> int:
        return self.cache.nbytes() + sum(t.numel() * t.element_size() for t in
                                         (self._prev_text, self._prev_agent, self._hist, self._text_hist))
