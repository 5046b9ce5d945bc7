"""Model checkpoint directories: config.json (format, config, codec, tokenizer) + model.safetensors,
in the same on-disk form as the codec's."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from antiphon.codec.checkpoint import load_state, read_meta, read_weights, write_checkpoint

from .config import ModelConfig
from .sampling import SamplingSettings
from .tokenizer import ByteTokenizer
from .transformer import SpeechTransformer
from .word_head import WordHead

FORMAT = "antiphon-model"
FORMAT_VERSION = 1


def save_checkpoint(model: SpeechTransformer, path, dtype=torch.float32, codec: str | None = None,
                    extra: dict | None = None) -> Path:
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": model.cfg.to_dict(),
            "codec": codec or model.cfg.codec, "tokenizer": model.tokenizer.to_dict(),
            "sampling": dataclasses.asdict(model.default_sampling), **(extra or {})}
    meta.pop("words", None)
    if model.word_head is not None:
        meta["words"] = model.word_head.to_dict()
    return write_checkpoint(path, model.state_dict(), meta, dtype)


def load_checkpoint(path) -> tuple[SpeechTransformer, dict]:
    path = Path(path)
    meta = read_meta(path, FORMAT, FORMAT_VERSION, "model")
    cfg = ModelConfig.from_dict(meta["config"])
    ByteTokenizer.from_dict(meta.get("tokenizer", {}))
    model = SpeechTransformer(cfg)
    if "words" in meta:
        model.word_head = WordHead.from_dict(cfg.dim, meta["words"])
        model.word_head.block(cfg.layers)  # a depth beyond the model is refused here, not mid-stream
    load_state(model, read_weights(path, "model"), str(path / "model.safetensors"))
    if "sampling" in meta:
        try:
            # older checkpoints kept a top-k beyond a small vocabulary
            model.default_sampling = SamplingSettings(**meta["sampling"]).validate().within(model.vocab_sizes())
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path / 'config.json'}: bad sampling defaults: {e}") from None
    return model, meta
