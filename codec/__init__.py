"""Streaming neural codecs: EnCodec built from the `encodec` package's modules, and Kyutai's Mimi
built from transformers' modules."""
from __future__ import annotations

import os
from pathlib import Path

from .architecture import CONFIGS, PRETRAINED_FILES, CodecConfig, build_modules
from .codec import Codec, CodecStream

__all__ = ["load_codec", "Codec", "CodecStream", "CodecConfig", "CONFIGS"]


def load_codec(name: str | os.PathLike, *, num_codebooks: int | None = None, device: str = "cpu",
               backend: str = "torch", weights: str | os.PathLike | None = None, seed: int = 0) -> Codec:
    """`"encodec_24khz"` (pretrained weights required), `"random:<config>"` (seeded random
    weights; `random:mimi` and `random:mimi-tiny` are Mimi), `"mimi:<path>"` (Mimi weights in
    transformers' or Kyutai's layout), or a checkpoint directory of the project's own codec."""
    from . import checkpoint

    text = str(name)
    if text.startswith("random:mimi") or text.startswith("mimi:"):
        return _load_mimi(text, num_codebooks, device, backend, seed)
    if text.startswith("random:"):
        cfg_name = text.split(":", 1)[1]
        if cfg_name not in CONFIGS:
            raise ValueError(f"unknown codec config {cfg_name!r}; known: {sorted(CONFIGS)}")
        config = CONFIGS[cfg_name]
        return Codec(config, build_modules(config, seed=seed), num_codebooks, device, backend, name=text)
    if text in PRETRAINED_FILES:
        config, modules = checkpoint.load_pretrained(text, weights)
        return Codec(config, modules, num_codebooks, device, backend, name=text)
    path = Path(text)
    from .mimi_checkpoint import is_transformers_mimi

    if is_transformers_mimi(path):
        return _load_mimi(f"mimi:{path}", num_codebooks, device, backend, seed)
    if path.is_dir():
        config, modules = checkpoint.load_checkpoint(path)
        return Codec(config, modules, num_codebooks, device, backend, name=f"{path.parent.name}/{path.name}")
    raise ValueError(f"unknown codec {text!r}: expected one of {sorted(PRETRAINED_FILES)}, "
                     f"'random:<config>' with config in {sorted(CONFIGS)}, or a checkpoint directory")


def _load_mimi(text: str, num_codebooks, device, backend, seed):
    from .mimi import MIMI_CONFIGS, MimiCodec, random_mimi
    from .mimi_checkpoint import load_mimi

    if backend not in ("torch", "auto"):
        raise ValueError(f"the Mimi codec runs in torch only, got backend {backend!r}")
    if text.startswith("random:"):
        cfg_name = text.split(":", 1)[1]
        if cfg_name not in MIMI_CONFIGS:
            raise ValueError(f"unknown Mimi config {cfg_name!r}; known: {sorted(MIMI_CONFIGS)}")
        return MimiCodec(random_mimi(cfg_name, seed), num_codebooks, device, name=text)
    path = Path(text.split(":", 1)[1])
    return MimiCodec(load_mimi(path), num_codebooks, device, name=f"mimi:{path.name}")
