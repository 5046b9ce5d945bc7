"""Batched streaming of a Moshi model behind the engine's seam: `step(user_codes, active)`.

Kyutai's delays: the text stream and each speaker's semantic codebook are undelayed, the acoustic
codebooks one frame later. At step t a stream reads its initial token while t <= its delay, and
otherwise the agent's tokens chosen at step t-1 and the user's codes of frame t - delay. The
output of step t is frame t - max_delay, undelayed (silence and pad before that), as Kyutai's
LMGen returns it.
"""
from __future__ import annotations

import torch

from .sampling import SamplingSettings, SlotSettings, sample
from .stream import RingCache, check_step, padded, slot_index



class MoshiStream:
    def __init__(self, model, batch_size: int, context: int | None = None, seed: int = 0):
        cfg = model.cfg
        context = cfg.context if context is None else int(context)
        if context < 2:
            raise ValueError(f"context must be at least 2 frames, got {context}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model, self.cfg, self.batch_size, self.context = model, cfg, batch_size, context
        weight = model.lm.text_head.weight
        dev = self.device = weight.device
        self.cache = RingCache(cfg.layers, batch_size, cfg.kv_heads, context, cfg.head_dim, dev, weight.dtype)
        K, D = cfg.num_codebooks, max(cfg.delays)
        self.max_delay = D
        self._delays = torch.tensor(cfg.delays, device=dev)
        self._k = torch.arange(K, device=dev)
        self._prev_text = torch.full((batch_size,), cfg.text_vocab, dtype=torch.long, device=dev)
        self._agent_hist = torch.full((batch_size, D + 1, K), cfg.cardinality, dtype=torch.long, device=dev)
        self._user_hist = torch.full((batch_size, D + 1, K), cfg.cardinality, dtype=torch.long, device=dev)
        self._text_hist = torch.full((batch_size, D + 1), cfg.text_pad, dtype=torch.long, device=dev)
        self.generator = torch.Generator(device=dev).manual_seed(seed)
        self._settings = SlotSettings(model.default_sampling, batch_size, dev)
        self.last_tokens = self.last_logits = None
        self.depth_runner = None  # CUDA graphs of the depth transformer, once use_cuda_graphs() is called

    def use_cuda_graphs(self) -> "MoshiStream":
        """Replay the depth transformer's K passes from CUDA graphs (captured per batch bucket)."""
        from .moshi_graphs import DepthGraphs

        self.depth_runner = DepthGraphs(self)
        return self

    def configure(self, slot: int, settings: SamplingSettings) -> None:
        self._settings.set(slot, settings)

    def _inputs(self, user_hist, pos):
        """The tokens each slot reads at its position `pos` [B]."""
        cfg, D = self.cfg, self.max_delay
        fresh = pos[:, None] <= self._delays[None]  # [B,K]: still inside this codebook's delay
        agent = torch.where(fresh, cfg.cardinality, self._agent_hist[:, D])
        user = user_hist[:, D - self._delays, self._k]  # the user's frame t - delay_k
        user = torch.where(fresh, cfg.cardinality, user)
        text = torch.where(pos == 0, cfg.text_vocab, self._prev_text)
        return torch.cat([text[:, None], agent, user], 1)

    @torch.no_grad()
    def step(self, user_codes: torch.Tensor, active: torch.Tensor | None = None):
        """Only slots up to the last active one are computed (the engine fills low slots first)."""
        active = check_step(user_codes, active, self.batch_size, self.cfg.num_codebooks, self.cfg.cardinality,
                            self.device)
        user_codes = user_codes.to(self.device)
        live = torch.nonzero(active)
        n = int(live[-1]) + 1 if live.numel() else 1
        a = active[:, None]
        user_hist = torch.where(a[:, :, None], torch.cat([self._user_hist[:, 1:], user_codes[:, None]], 1),
                                self._user_hist)
        pos = self.cache.pos.clone()
        tokens = self._inputs(user_hist, pos)
        self.last_tokens = tokens
        cache = self.cache if n == self.batch_size else self.cache.prefix(n)
        cache.begin_step(active[:n])
        text_logits, hidden = self.model.lm.temporal_step(tokens[:n], cache)
        cache.end_step()
        s = self._settings.rows(n)
        text_now = sample(text_logits, s["text_temperature"], s["text_top_k"], s["text_top_p"], self.generator)

        def pick(j, logits):
            return sample(logits, s["audio_temperature"], s["audio_top_k"], s["audio_top_p"], self.generator)

        if self.depth_runner is not None:
            codes_now, audio_logits = self.depth_runner(text_now, hidden, s)
        else:
            codes_now, audio_logits = self.model.lm.depth.generate(text_now, hidden, pick)
        self.last_logits = (padded(text_logits, self.batch_size), padded(audio_logits, self.batch_size))
        text, agent = self._prev_text.clone(), self._agent_hist[:, -1].clone()
        text[:n], agent[:n] = text_now, codes_now
        self._user_hist = user_hist
        self._prev_text = torch.where(active, text, self._prev_text)
        self._agent_hist = torch.where(a[:, :, None], torch.cat([self._agent_hist[:, 1:], agent[:, None]], 1),
                                       self._agent_hist)
        self._text_hist = torch.where(a, torch.cat([self._text_hist[:, 1:], text[:, None]], 1), self._text_hist)
        return self._aligned(active, pos)

    def _aligned(self, active, pos):
        """Frame pos - D: codebook k was chosen at step pos - D + delay_k, the text at pos - D."""
        D = self.max_delay
        codes = self._agent_hist[:, self._delays, self._k]
        ready = active & (pos >= D)
        codes = torch.where(ready[:, None], codes, self.model.silence_codes[None].expand_as(codes))
        text = torch.where(ready, self._text_hist[:, 0], torch.full_like(self._text_hist[:, 0], self.cfg.text_pad))
        return codes, text

    def heard(self, slots: list[int]) -> list[None]:
        """Moshi has no word head: its stream names none of the user's words (its text is its own)."""
        return [None] * len(slots)

    def reset(self, slots=None) -> None:
        """A reset slot behaves exactly like a fresh stream."""
        idx = slot_index(slots, self.batch_size, self.device)
        cfg = self.cfg
        self.cache.reset(idx)
        self._prev_text[idx] = cfg.text_vocab
        self._agent_hist[idx] = cfg.cardinality
        self._user_hist[idx] = cfg.cardinality
        self._text_hist[idx] = cfg.text_pad
        self._settings.reset(idx)

    def state_nbytes(self) -> int:
        return self.cache.nbytes() + sum(t.numel() * t.element_size() for t in
                                         (self._prev_text, self._agent_hist, self._user_hist, self._text_hist))
