"""Model checkpoint directories: config.json (format, config, codec, tokenizer) + model.safetensors."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import ModelConfig
from .tokenizer import ByteTokenizer
from .transformer import SpeechTransformer

FORMAT = "antiphon-model"
FORMAT_VERSION = 1


def save_checkpoint(model: SpeechTransformer, path, dtype=torch.float32, codec: str | None = None,
                    extra: dict | None = None) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in model.state_dict().items()}
    tmp = path / "model.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, path / "model.safetensors")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": model.cfg.to_dict(),
            "codec": codec or model.cfg.codec, "tokenizer": model.tokenizer.to_dict(), **(extra or {})}
    tmp = path / "config.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path / "config.json")
    return path


def read_meta(path: Path) -> dict:
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ValueError(f"{path} is not a model checkpoint: config.json is missing "
                         "(expected config.json and model.safetensors)")
    try:
        meta = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_file} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{cfg_file} has format {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{cfg_file} has format_version {meta.get('format_version')!r}; "
                         f"this version reads {FORMAT_VERSION}")
    return meta


def load_checkpoint(path) -> tuple[SpeechTransformer, dict]:
    path = Path(path)
    meta = read_meta(path)
    cfg = ModelConfig.from_dict(meta["config"])
    ByteTokenizer.from_dict(meta.get("tokenizer", {}))
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ValueError(f"{path} is not a complete model checkpoint: model.safetensors is missing")
    model = SpeechTransformer(cfg)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{weights} does not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise ValueError(f"{weights}: tensor {k} has shape {list(v.shape)}, the config expects "
                             f"{list(expected[k].shape)}")
    model.load_state_dict(state)
    return model, meta
