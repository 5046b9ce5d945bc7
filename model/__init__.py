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
    moshi = _load_moshi(text, device)
    if moshi is not None:
        if codec is not None:
            check_codec(moshi, codec)
        return moshi.eval().to(device).use_step_backend(backend)
    if text.startswith("random:"):
        cfg_name = text.split(":", 1)[1]
        if cfg_name not in CONFIGS:
            raise ValueError(f"unknown model config {cfg_name!r}; known: {sorted(CONFIGS) + sorted(_moshi_names())}")
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
                             f"{sorted(CONFIGS) + sorted(_moshi_names())}, or a checkpoint directory (the "
                             "project's, or a Moshi checkpoint in Kyutai's or transformers' layout)")
        model, meta = load_checkpoint(path)
        codec_name = meta["codec"]
        beside = path / codec_name  # a codec stored with the model is named relative to it
        model.codec_name = str(beside.resolve()) if not codec_name.startswith("random:") and beside.is_dir() \
            else codec_name
        model.name = "bundled" if text == "bundled" else f"{path.parent.name}/{path.name}"
    if codec is not None:
        check_codec(model, codec)
    return model.eval().to(device).use_step_backend(backend)


def _load_moshi(text: str, device: str):
    """A Moshi model (`random:moshi-*`, or a directory in Kyutai's or transformers' layout), or
    None. On CUDA its weights are bf16, as Kyutai serves them; float32 on the CPU."""
    from .moshi_config import MOSHI_CONFIGS

    dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    if text.startswith("random:") and text.split(":", 1)[1] in MOSHI_CONFIGS:
        from .moshi import random_moshi

        return random_moshi(text.split(":", 1)[1], dtype=dtype, device=device)
    from .moshi_checkpoint import detect, load_moshi_dir

    if detect(Path(text)):
        return load_moshi_dir(Path(text), dtype)
    return None


def check_codec(model: SpeechTransformer, codec) -> None:
    cfg = model.cfg
    if codec.num_codebooks != cfg.num_codebooks or codec.cardinality != cfg.cardinality:
        raise ValueError(f"model {model.name} was trained for a codec with {cfg.num_codebooks} codebooks of "
                         f"{cfg.cardinality} ({model.codec_name}), but the codec {codec.name} has "
                         f"{codec.num_codebooks} of {codec.cardinality}")


def _moshi_names() -> list[str]:
    from .moshi_config import MOSHI_CONFIGS

    return list(MOSHI_CONFIGS)
