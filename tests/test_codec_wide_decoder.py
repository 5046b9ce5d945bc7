"""A decoder wider than the encoder (the agent's decoder, `decoder_filters`): streaming and ONNX
Runtime decode it exactly as the offline torch path does, and narrow checkpoints read as before."""
import dataclasses
import json

import torch

from antiphon.codec import load_codec
from antiphon.codec.architecture import CONFIGS, build_modules
from antiphon.codec.checkpoint import save_checkpoint

WIDE = dataclasses.replace(CONFIGS["tiny"], decoder_filters=2 * CONFIGS["tiny"].n_filters)


def test_wide_decoder_streams_and_runs_in_onnx_like_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    path = save_checkpoint(build_modules(WIDE, seed=2), WIDE, tmp_path / "wide")
    assert json.loads((path / "config.json").read_text())["config"]["decoder_filters"] == WIDE.decoder_filters
    ref, ort = load_codec(path), load_codec(path, backend="onnx")
    f = ref.frame_size
    wav = torch.randn(2, 1, 6 * f) * 0.2
    codes = ref.encode(wav)
    offline = ref.decode(codes)
    s_ref, s_ort = ref.stream(2), ort.stream(2)
    for a, b in [(0, 1), (1, 4), (4, 6)]:
        assert torch.equal(s_ort.encode(wav[..., a * f:b * f]), codes[..., a:b])
        y_ref, y_ort = s_ref.decode(codes[..., a:b]), s_ort.decode(codes[..., a:b])
        assert (y_ref - offline[..., a * f:b * f]).abs().max() < 1e-5
        assert (y_ort - y_ref).abs().max() < 1e-4


def test_narrow_checkpoints_do_not_name_a_decoder_width(tmp_path):
    path = save_checkpoint(build_modules(CONFIGS["tiny"], seed=0), CONFIGS["tiny"], tmp_path / "narrow")
    assert "decoder_filters" not in json.loads((path / "config.json").read_text())["config"]
    assert load_codec(path).config == CONFIGS["tiny"]
