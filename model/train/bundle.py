"""`antiphon train bundle`: the trained codec and model, in fp16, as the repository's default agent
(model/bundled/codec and model/bundled/lm, the model naming its codec relative to itself)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import torch

from codec.checkpoint import load_checkpoint as load_codec_checkpoint, save_checkpoint as save_codec
from codec.checkpoint import read_meta

from .. import BUNDLED
from ..sampling import SamplingSettings
from ..checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint, save_checkpoint


def write_bundle(codec_dir, lm_dir, out: Path = BUNDLED, sampling: dict | None = None) -> dict:
    """`sampling`: the sampling defaults the bundle recommends (what the evaluation used)."""
    codec_dir, lm_dir, out = Path(codec_dir), Path(lm_dir), Path(out)
    config, modules = load_codec_checkpoint(codec_dir)
    model, meta = load_checkpoint(lm_dir)
    if sampling:
        model.default_sampling = SamplingSettings(**{**dataclasses.asdict(model.default_sampling),
                                                     **sampling}).validate()
    codec_meta = read_meta(codec_dir, "antiphon-codec", 1, "codec")
    # a codec whose decoder was tuned on the agent's voice keeps the tokens of the one it came from
    tokens = {codec_dir.resolve()} | ({Path(codec_meta["tokens_from"]).resolve()} if "tokens_from" in codec_meta else set())
    if Path(meta["codec"]).resolve() not in tokens:
        raise ValueError(f"{lm_dir} was trained on the codec {meta['codec']}, not {codec_dir}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_codec(modules, config, tmp / "codec", dtype=torch.float16,
               extra={k: v for k, v in codec_meta.items() if k not in ("format", "format_version", "config")})
    extra = {k: v for k, v in meta.items()
             if k not in ("format", "format_version", "config", "codec", "tokenizer", "sampling")}
    save_checkpoint(model, tmp / "lm", dtype=torch.float16, codec="../codec", extra=extra)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {"bundle": str(out), "bytes": size, "format": FORMAT, "format_version": FORMAT_VERSION}
