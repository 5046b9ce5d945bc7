import json

import pytest
import torch

from antiphon.codec import load_codec
from antiphon.model import load_model
from antiphon.model.checkpoint import save_checkpoint


def test_round_trip(tmp_path):
    m = load_model("random:tiny", seed=4)
    save_checkpoint(m, tmp_path / "ck")
    m2 = load_model(tmp_path / "ck")
    tokens = torch.randint(0, 64, (1, 5, 5))
    tokens[..., 0] = 3
    with torch.no_grad():
        assert torch.equal(m(tokens)[1], m2(tokens)[1])
    assert m2.codec_name == "random:tiny"


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="config.json is missing"):
        (tmp_path / "e").mkdir()
        load_model(tmp_path / "e")
    m = load_model("random:tiny")
    ck = save_checkpoint(m, tmp_path / "ck")
    (ck / "model.safetensors").rename(ck / "gone")
    with pytest.raises(ValueError, match="model.safetensors is missing"):
        load_model(ck)
    (ck / "gone").rename(ck / "model.safetensors")
    meta = json.loads((ck / "config.json").read_text())
    (ck / "config.json").write_text(json.dumps({**meta, "config": {**meta["config"], "dim": 32}}))
    with pytest.raises(ValueError, match="shape"):
        load_model(ck)
    config = dict(meta["config"])
    del config["dim"]
    (ck / "config.json").write_text(json.dumps({**meta, "config": config}))
    with pytest.raises(ValueError, match=r"missing fields \['dim'\]"):
        load_model(ck)
    with pytest.raises(ValueError, match="unknown model config"):
        load_model("random:nope")
    with pytest.raises(ValueError, match="trained for a codec with 2 codebooks"):
        load_model("random:tiny", codec=load_codec("random:small"))
