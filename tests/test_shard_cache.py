"""The cached question shards: a shard is reused only for the voice it was encoded from.

Shards are named by family and index; these tests change what a family draws, as a change to its
ranges would, and check that the stale shard is encoded again rather than read. A real codec of the
tiny config (random weights) encodes; espeak-ng renders."""
import dataclasses

import numpy as np
import pytest
import torch

from antiphon.codec import load_codec
from antiphon.codec.architecture import CONFIGS as CODEC_CONFIGS, build_modules
from antiphon.codec.checkpoint import save_checkpoint
from antiphon.model.data import user_voices
from antiphon.model.train import lm_data
from antiphon.model.train.lm_recipe import silence_codes


@pytest.fixture
def codec_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    return save_checkpoint(build_modules(CODEC_CONFIGS["tiny"], seed=0), CODEC_CONFIGS["tiny"], tmp_path / "codec")


def _bank(codec_dir, root, backwards=0.0):
    codec = load_codec(codec_dir)
    return lm_data.build_bank(codec, codec_dir, silence_codes(codec).numpy(), 4, 0, 2, "train", root, show=False,
                              backwards=backwards)


def _shards(root):
    return {f.name: torch.load(f, weights_only=False) for f in sorted(root.glob("*/train-*.pt"))}


def _mark(root, forget_voice=False):
    """Shifts every cached code by one, so what is read from the cache can be told from what is
    encoded again (a fresh encoding is never its own shift by one); with `forget_voice`, the shards
    lose their voice as shards written before voices were recorded have none. Returns the voices."""
    voices = set()
    for file in sorted(root.glob("*/train-*.pt")):
        shard = torch.load(file, weights_only=False)
        shard["codes"] = [c + 1 for c in shard["codes"]]
        voices.add(shard.pop("voice") if forget_voice else shard["voice"])
        torch.save(shard, file)
    return voices


def test_a_shard_drawn_from_another_voice_is_encoded_again(codec_dir, tmp_path, monkeypatch):
    _bank(codec_dir, tmp_path / "data", backwards=0.5)
    drawn = user_voices("train", 2, 0)
    assert _mark(tmp_path / "data") == {v.key() for v in drawn}
    # Voice 1 now draws another pitch, as a change to the family's pitch range would make it.
    changed = [drawn[0], dataclasses.replace(drawn[1], pitch=drawn[1].pitch + 20)]
    monkeypatch.setattr(lm_data, "user_voices", lambda split, count, seed: changed[:count])
    bank = _bank(codec_dir, tmp_path / "data", backwards=0.5)
    assert {s["voice"] for s in _shards(tmp_path / "data").values()} == {v.key() for v in changed}
    # Voice 0's questions (its own 4, and 2 of the 4 played backwards) are read from the cache;
    # voice 1's are encoded again from its new pitch.
    fresh = _bank(codec_dir, tmp_path / "fresh", backwards=0.5)
    for i in range(12):
        cached = i in (0, 1, 2, 3, 8, 9)
        assert np.array_equal(bank.questions[i], fresh.questions[i] + (1 if cached else 0)), i


def test_a_shard_from_before_voices_were_recorded_takes_its_voice_and_is_kept(codec_dir, tmp_path):
    first = _bank(codec_dir, tmp_path / "data")
    _mark(tmp_path / "data", forget_voice=True)
    again = _bank(codec_dir, tmp_path / "data")
    assert all(np.array_equal(x + 1, y) for x, y in zip(first.questions, again.questions))
    assert {s["voice"] for s in _shards(tmp_path / "data").values()} == {v.key() for v in user_voices("train", 2, 0)}
