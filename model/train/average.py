"""`antiphon train average`: one model whose weights are the mean of several (a "model soup").

Runs fine-tuned from one checkpoint with other seeds and regularizers stay in one basin of the loss,
where their mean is a model too (what it gained is in docs/history.md); so do a fine-tune and the
checkpoint it started from. Runs from other starting
points do not average into a model, and the shape check here cannot tell: average only runs that
share an --init.
"""
from __future__ import annotations

from pathlib import Path

import torch

from antiphon.codec.checkpoint import weights_sha1

from ..checkpoint import load_checkpoint, save_checkpoint
from .bundle import codec_folder, codec_of, provenance


def average_models(dirs: list, out) -> Path:
    """Writes the mean of the models in `dirs` (float32) to `out`; their configs and codecs must
    match, and their integer buffers (the codec's silence codes) must be equal."""
    if len(dirs) < 2:
        raise ValueError(f"averaging needs at least two models, got {len(dirs)}")
    loaded = [load_checkpoint(d) for d in dirs]
    first, meta = loaded[0]
    codec = codec_of(dirs[0], meta)
    # the mean speaks through the first model's codec: its token source may be another decoder, or gone
    speaks = codec_folder(dirs[0], meta)
    for d, (model, m) in zip(dirs[1:], loaded[1:]):
        if model.cfg != first.cfg:
            raise ValueError(f"{d} is a {model.cfg.name} model of another shape than {dirs[0]}")
        if codec_of(d, m) != codec:
            raise ValueError(f"{d} reads the codec {codec_of(d, m)}, {dirs[0]} reads {codec}")
    if any(model.word_head is None for model, _ in loaded):
        # a fine-tune leaves its init's word head behind, and a head reads features the mean
        # changes: the mean has none until `antiphon train words` fits one
        for model, _ in loaded:
            model.word_head = None
    states = [model.state_dict() for model, _ in loaded]
    mean = {}
    for name, value in states[0].items():
        if value.is_floating_point():
            mean[name] = torch.stack([s[name].float() for s in states]).mean(0)
        elif all(torch.equal(s[name], value) for s in states):
            mean[name] = value
        else:
            raise ValueError(f"{name} differs between the models and cannot be averaged")
    first.load_state_dict(mean)
    extra = {**provenance(meta, "codec", "tokenizer", "sampling", "trained_steps"),
             # a path alone stops naming the part once it is overwritten (the bundle averaged and bundled again)
             "averaged": [{"path": str(Path(d).resolve()), "sha1": weights_sha1(d)} for d in dirs]}
    return save_checkpoint(first, out, codec=speaks, extra=extra)
