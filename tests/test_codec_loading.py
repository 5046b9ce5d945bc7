"""Checkpoints and published weights load through the paths a user hits, with clear errors."""
import json

import pytest
import torch

from antiphon.codec import load_codec
from antiphon.codec.architecture import CONFIGS, PRETRAINED_FILES, build_modules
from antiphon.codec.checkpoint import save_checkpoint


def test_checkpoint_round_trip(tmp_path):
    config = CONFIGS["tiny"]
    modules = build_modules(config, seed=3)
    save_checkpoint(modules, config, tmp_path / "ck")
    loaded = load_codec(tmp_path / "ck")
    direct = load_codec("random:tiny", seed=3)
    wav = torch.randn(1, 1, 5 * config.frame_size) * 0.2
    assert torch.equal(loaded.encode(wav), direct.encode(wav))
    assert loaded.name == f"{tmp_path.name}/ck"  # the folder and its parent: says which run


def test_fp16_checkpoint_loads(tmp_path):
    config = CONFIGS["tiny"]
    save_checkpoint(build_modules(config, seed=1), config, tmp_path / "ck", dtype=torch.float16)
    c = load_codec(tmp_path / "ck")
    assert next(c.modules.decoder.parameters()).dtype == torch.float32
    wav = torch.randn(1, 1, 3 * config.frame_size) * 0.2
    assert c.decode(c.encode(wav)).dtype == torch.float32


def test_bad_checkpoints_say_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="config.json is missing"):
        (tmp_path / "empty").mkdir()
        load_codec(tmp_path / "empty")
    config = CONFIGS["tiny"]
    ck = save_checkpoint(build_modules(config), config, tmp_path / "ck")
    meta = json.loads((ck / "config.json").read_text())
    (ck / "config.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version"):
        load_codec(ck)
    (ck / "config.json").write_text(json.dumps({**meta, "config": {**meta["config"], "n_filters": 8}}))
    with pytest.raises(ValueError, match="shape"):
        load_codec(ck)
    (ck / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_codec(ck)
    with pytest.raises(ValueError, match="unknown codec"):
        load_codec("no_such_codec")
    with pytest.raises(ValueError, match="unknown codec config"):
        load_codec("random:nope")


def test_pretrained_weights_load_from_torch_hub_cache(tmp_path, monkeypatch):
    """The official file name in the hub cache goes through encodec's own loader."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # torch.hub.get_dir() is $TORCH_HOME/hub
    with pytest.raises(FileNotFoundError, match=PRETRAINED_FILES["encodec_24khz"]):
        load_codec("encodec_24khz")
    source = build_modules(CONFIGS["encodec_24khz"], seed=7)
    ckdir = tmp_path / "hub" / "checkpoints"
    ckdir.mkdir(parents=True)
    torch.save(source.state_dict(), ckdir / PRETRAINED_FILES["encodec_24khz"])
    c = load_codec("encodec_24khz")
    ref = load_codec("random:encodec_24khz", seed=7)
    wav = torch.randn(1, 1, 4 * 320) * 0.1
    assert torch.equal(c.encode(wav), ref.encode(wav))
    # and from a path the user names
    c2 = load_codec("encodec_24khz", weights=ckdir / PRETRAINED_FILES["encodec_24khz"])
    assert torch.equal(c2.encode(wav), ref.encode(wav))
