"""Checkpoint directories for the project's own codec (config.json + model.safetensors) and the
published EnCodec weights file."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .architecture import CONFIGS, PRETRAINED_FILES, CodecConfig, CodecModules, build_modules
from antiphon.common.atomic import write_atomically

FORMAT = "antiphon-codec"
FORMAT_VERSION = 1


def write_checkpoint(path, state_dict: dict, meta: dict, dtype: torch.dtype = torch.float32) -> Path:
    """model.safetensors + config.json, each written to a temporary name and renamed, so a kill
    never leaves half a checkpoint. Shared by the codec and the model."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in state_dict.items()}
    write_atomically(path / "model.safetensors", lambda tmp: save_file(tensors, str(tmp)))
    write_atomically(path / "config.json", lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
    return path


def weights_sha1(path) -> str:
    """The sha1 of a checkpoint directory's weights: names a checkpoint wherever it is copied."""
    return hashlib.sha1((Path(path) / "model.safetensors").read_bytes()).hexdigest()


def read_meta(path: Path, fmt: str, version: int, what: str) -> dict:
    """config.json of a `what` checkpoint, with its format and version checked."""
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ValueError(f"{path} is not a {what} checkpoint: config.json is missing "
                         "(expected a directory with config.json and model.safetensors)")
    try:
        meta = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_file} is not valid JSON: {e}") from None
    if meta.get("format") != fmt:
        raise ValueError(f"{cfg_file} has format {meta.get('format')!r}, expected {fmt!r}")
    if meta.get("format_version") != version:
        raise ValueError(f"{cfg_file} has format_version {meta.get('format_version')!r}; "
                         f"this version of antiphon reads version {version}")
    return meta


def read_weights(path: Path, what: str) -> dict:
    """model.safetensors as float32 (bundles are stored in fp16)."""
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ValueError(f"{path} is not a complete {what} checkpoint: model.safetensors is missing")
    return {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}


def save_checkpoint(modules: CodecModules, config: CodecConfig, path: str | os.PathLike,
                    dtype: torch.dtype = torch.float32, extra: dict | None = None) -> Path:
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": config.to_dict(), **(extra or {})}
    return write_checkpoint(path, modules.state_dict(), meta, dtype)


def load_checkpoint(path: str | os.PathLike) -> tuple[CodecConfig, CodecModules]:
    path = Path(path)
    config = CodecConfig.from_dict(read_meta(path, FORMAT, FORMAT_VERSION, "codec")["config"])
    modules = build_modules(config, seed=None)
    load_state(modules, read_weights(path, "codec"), str(path / "model.safetensors"))
    return config, modules


def load_state(modules: torch.nn.Module, state: dict, source: str) -> None:
    """Load a state dict whose keys and shapes must match exactly; say which do not."""
    expected = modules.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{source} does not match the architecture: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise ValueError(f"{source}: tensor {k} has shape {list(v.shape)}, "
                             f"the architecture expects {list(expected[k].shape)}")
    modules.load_state_dict(state)


def pretrained_path(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / PRETRAINED_FILES[name]


def load_pretrained(name: str, weights: str | os.PathLike | None = None) -> tuple[CodecConfig, CodecModules]:
    """Published weights through encodec's own loader (the torch hub cache), or a file the user
    names. Never falls back to random weights."""
    from encodec.model import EncodecModel

    config = CONFIGS[name]
    modules = build_modules(config, seed=None)
    if weights is not None:
        file = Path(weights)
        if not file.is_file():
            raise FileNotFoundError(f"EnCodec weights file {file} does not exist")
        state = torch.load(file, map_location="cpu", weights_only=True)
        source = str(file)
    else:
        file = pretrained_path(name)
        if not file.is_file():
            raise FileNotFoundError(
                f"the pretrained {name} weights are not on this machine: put {PRETRAINED_FILES[name]} at "
                f"{file} (the torch hub cache; set TORCH_HOME to move it), or pass its path, or use "
                f"'random:{name}' for seeded random weights")
        state = EncodecModel._get_pretrained(PRETRAINED_FILES[name], None)
        source = str(file)
    load_state(modules, state, source)
    return config, modules
