"""The early-fusion speech transformer, its ring KV cache, sampling and checkpoints."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .config import CONFIGS, ModelConfig
from .sampling import SamplingSettings
from .tokenizer import ByteTokenizer
from .transformer import SpeechTransformer

__all__ = ["load_model", "SpeechTransformer", "ModelConfig", "SamplingSettings", "ByteTokenizer",
           "CONFIGS", "BUNDLED", "check_codec"]

# The trained bundle shipped in the repository (codec/ and lm/ inside), once it exists.
BUNDLED = Path(__file__).resolve().parent / "bundled"


def load_model(name: str | os.PathLike = "bundled", *, device: str = "cpu", seed: int = 0,
               codec=None, backend: str = "torch") -> SpeechTransformer:
    """`"random:<config>"` (seeded random weights), a checkpoint directory, or `"bundled"`.
    With `codec`, checks that the model reads and writes that codec's tokens. `backend` runs the
    streaming step in torch or, on the CPU, in ONNX Runtime."""
    from .checkpoint import load_checkpoint

    text = str(name)
    if text.startswith("random:"):
        cfg_name = text.split(":", 1)[1]
        if cfg_name not in CONFIGS:
            raise ValueError(f"unknown model config {cfg_name!r}; known: {sorted(CONFIGS)}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = SpeechTransformer(CONFIGS[cfg_name])
        model.codec_name = CONFIGS[cfg_name].codec
        model.name = text
    else:
        path = BUNDLED / "lm" if text == "bundled" else Path(text)
        if text == "bundled" and not path.is_dir():
            raise ValueError(f"the bundled model is not in this checkout ({path}); "
                             "use --model random:<config> or a checkpoint directory")
        if not path.is_dir():
            raise ValueError(f"unknown model {text!r}: expected 'bundled', 'random:<config>' with config in "
                             f"{sorted(CONFIGS)}, or a checkpoint directory")
        model, meta = load_checkpoint(path)
        codec_name = meta["codec"]
        beside = path / codec_name  # a codec stored with the model is named relative to it
        model.codec_name = str(beside.resolve()) if not codec_name.startswith("random:") and beside.is_dir() \
            else codec_name
        model.name = "bundled" if text == "bundled" else f"{path.parent.name}/{path.name}"
    if codec is not None:
        check_codec(model, codec)
    return model.eval().to(device).use_step_backend(backend)


def check_codec(model: SpeechTransformer, codec) -> None:
    cfg = model.cfg
    if codec.num_codebooks != cfg.num_codebooks or codec.cardinality != cfg.cardinality:
        raise ValueError(f"model {model.name} was trained for a codec with {cfg.num_codebooks} codebooks of "
                         f"{cfg.cardinality} ({model.codec_name}), but the codec {codec.name} has "
                         f"{codec.num_codebooks} of {codec.cardinality}")
