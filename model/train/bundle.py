"""`antiphon train bundle`: the trained codec and model, in fp16, as the repository's default agent
(model/bundled/codec and model/bundled/lm, the model naming its codec relative to itself)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import torch

from antiphon.codec.checkpoint import load_checkpoint as load_codec_checkpoint, save_checkpoint as save_codec
from antiphon.codec.checkpoint import read_meta

from .. import BUNDLED
from ..sampling import SamplingSettings
from ..checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint, save_checkpoint


def provenance(meta: dict, *also: str) -> dict:
    """What a checkpoint records beyond what saving it writes anew (steps trained, where its tokens
    come from, ...)."""
    return {k: v for k, v in meta.items() if k not in ("format", "format_version", "config", *also)}


def tokens_from(codec_dir) -> str | None:
    """The codec whose tokens `codec_dir` reads and writes, where it is not itself: a codec whose
    decoder was tuned on the agent's voice keeps the tokens of the one it came from."""
    return read_meta(Path(codec_dir), "antiphon-codec", 1, "codec").get("tokens_from")


def token_source(codec_dir) -> str:
    """The codec whose tokens `codec_dir` reads and writes: its `tokens_from`, or itself. Two codecs
    with one token source are interchangeable for a model (only their decoders differ). The
    source's folder need not exist here: a tuned decoder records it, and outlives it."""
    return str(Path(tokens_from(codec_dir) or codec_dir).resolve())


def codec_folder(model_dir, meta: dict) -> str:
    """The codec a model checkpoint speaks through: the folder it names, resolved against the
    checkpoint's own (the bundle's is "../codec"); a `random:` codec as it is."""
    name = meta["codec"]
    return name if name.startswith("random:") else str((Path(model_dir) / name).resolve())


def codec_of(model_dir, meta: dict) -> str:
    """The token source of the codec a model checkpoint reads (`codec_folder`, or the codec its
    decoder was tuned from)."""
    folder = codec_folder(model_dir, meta)
    return folder if folder.startswith("random:") else token_source(folder)


def export_codec(codec_dir, out: Path, **meta) -> Path:
    """The codec checkpoint again in fp16, its records kept (`meta` replaces some)."""
    config, modules = load_codec_checkpoint(codec_dir)
    found = read_meta(Path(codec_dir), "antiphon-codec", 1, "codec")
    return save_codec(modules, config, out, dtype=torch.float16, extra={**provenance(found), **meta})


def export_model(model, meta: dict, out: Path, codec: str) -> Path:
    """A loaded model and its checkpoint's records, in fp16, naming `codec` as its codec."""
    return save_checkpoint(model, out, dtype=torch.float16, codec=codec,
                           extra=provenance(meta, "codec", "tokenizer", "sampling"))


def write_bundle(codec_dir, lm_dir, out: Path = BUNDLED, sampling: dict | None = None) -> dict:
    """`sampling`: the sampling defaults the bundle recommends (what the evaluation used)."""
    codec_dir, lm_dir, out = Path(codec_dir), Path(lm_dir), Path(out)
    model, meta = load_checkpoint(lm_dir)
    if sampling:
        model.default_sampling = SamplingSettings(**{**dataclasses.asdict(model.default_sampling),
                                                     **sampling}).validate()
    trained_on = codec_of(lm_dir, meta)
    if trained_on != token_source(codec_dir):
        raise ValueError(f"{lm_dir} was trained on the tokens of {trained_on}, not of {codec_dir}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    export_codec(codec_dir, tmp / "codec")
    export_model(model, meta, tmp / "lm", codec="../codec")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {"bundle": str(out), "bytes": size, "format": FORMAT, "format_version": FORMAT_VERSION}
