"""Streaming neural codec: EnCodec built from the `encodec` package's modules."""
from __future__ import annotations

import os
from pathlib import Path

from .architecture import CONFIGS, PRETRAINED_FILES, CodecConfig, build_modules
from .codec import Codec, CodecStream

__all__ = ["load_codec", "Codec", "CodecStream", "CodecConfig", "CONFIGS"]


def load_codec(name: str | os.PathLike, *, num_codebooks: int | None = None, device: str = "cpu",
               backend: str = "torch", weights: str | os.PathLike | None = None, seed: int = 0) -> Codec:
    """`"encodec_24khz"` (pretrained weights required), `"random:<config>"` (seeded random
    weights), or a checkpoint directory of the project's own codec."""
    from . import checkpoint

    text = str(name)
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
    if path.is_dir():
        config, modules = checkpoint.load_checkpoint(path)
        return Codec(config, modules, num_codebooks, device, backend, name=f"{path.parent.name}/{path.name}")
    raise ValueError(f"unknown codec {text!r}: expected one of {sorted(PRETRAINED_FILES)}, "
                     f"'random:<config>' with config in {sorted(CONFIGS)}, or a checkpoint directory")
