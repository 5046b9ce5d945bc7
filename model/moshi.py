"""A Moshi model as the engine sees it: the language model, its tokenizer, its sampling defaults
and its streams, with the same attributes as the project's own SpeechTransformer."""
from __future__ import annotations

import torch
from torch import nn

from .moshi_config import MOSHI_CONFIGS, MoshiConfig
from .moshi_lm import MoshiLM
from .moshi_tokenizer import MoshiTokenizer
from .sampling import SamplingSettings


class MoshiModel(nn.Module):
    TORCH_ONLY = True  # its step and its codec (Mimi) run in torch; `auto` backends choose torch
    # Kyutai's defaults (moshi's LMGen): text 0.7 / top 25, audio 0.8 / top 250; they are also SamplingSettings'
    KYUTAI_SAMPLING = SamplingSettings(text_temperature=0.7, text_top_k=25, audio_temperature=0.8, audio_top_k=250)

    def __init__(self, cfg: MoshiConfig, tokenizer: MoshiTokenizer, lm: MoshiLM | None = None):
        super().__init__()
        if tokenizer.vocab_size > cfg.text_vocab:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} pieces but the model's text vocabulary "
                             f"only {cfg.text_vocab}")
        self.cfg, self.tokenizer = cfg, tokenizer
        self.lm = lm if lm is not None else MoshiLM(cfg)
        # what a slot outputs before its first frame (the decoder never sees it from a real answer)
        self.register_buffer("silence_codes", torch.zeros(cfg.num_codebooks, dtype=torch.long))
        self.default_sampling = self.KYUTAI_SAMPLING.within(self.vocab_sizes())
        self.step_runner = None  # the engine's banner reads it; Moshi steps in torch
        self.word_head = None  # no transcript of the user's words: Moshi's text stream is its own
        self.name, self.codec_name = cfg.name, cfg.codec

    def vocab_sizes(self) -> dict[str, int]:
        return {"text": self.cfg.text_vocab, "audio": self.cfg.cardinality}

    def stream(self, batch_size: int, context: int | None = None, seed: int = 0):
        from .moshi_stream import MoshiStream

        return MoshiStream(self, batch_size, context=context, seed=seed)

    def use_step_backend(self, backend: str) -> "MoshiModel":
        if backend not in ("torch", "auto"):
            raise ValueError(f"a Moshi model steps in torch only, got backend {backend!r}")
        return self


def random_moshi(cfg_name: str, seed: int = 0, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu") -> MoshiModel:
    """A Moshi model of a named configuration with seeded random weights, built directly in
    `dtype` on `device` (moshi-7b is 30 GB in float32, 15 GB in bf16)."""
    cfg = MOSHI_CONFIGS[cfg_name]
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            # random weights say nothing: a small tokenizer names the first pieces, the rest say nothing
            model = MoshiModel(cfg, MoshiTokenizer.tiny(min(cfg.text_vocab, 48)))
        finally:
            torch.set_default_dtype(previous)
    model.name = f"random:{cfg_name}"
    return model

