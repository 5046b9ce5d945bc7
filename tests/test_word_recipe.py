"""`antiphon train words` on tiny configs: only the head learns (the model's own weights are exported
unchanged), a resumed run equals an uninterrupted one, and the export carries the head."""
import json

import pytest
import torch

from antiphon.codec.architecture import CONFIGS as CODEC_CONFIGS, build_modules
from antiphon.codec.checkpoint import save_checkpoint as save_codec
from antiphon.model import load_model
from antiphon.model.checkpoint import save_checkpoint
from antiphon.model.sampling import SamplingSettings
from training_runs import same, weights


@pytest.fixture()
def lm_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path / "cache"))
    codec_dir = save_codec(build_modules(CODEC_CONFIGS["tiny"], seed=0), CODEC_CONFIGS["tiny"], tmp_path / "codec")
    return save_checkpoint(load_model("random:tiny", seed=1), tmp_path / "lm", codec=str(codec_dir))


def test_word_head_run_resumes_exactly_and_leaves_the_model_as_it_was(lm_dir, tmp_path):
    from antiphon.model.train.word_recipe import train

    common = dict(lm=str(lm_dir), batch=2, questions=6, frames=120, voices=2, held_out=4, eval_every=2,
                  hidden=16, depth=1, warmup=1)
    whole = train(out=tmp_path / "whole", steps=4, **common)
    train(out=tmp_path / "split", steps=2, **common)
    split = train(out=tmp_path / "split", steps=4, **common)
    a, b = (weights(r["checkpoint"]) for r in (whole, split))
    assert same(a, b)
    before = weights(lm_dir)
    head = {k for k in a if k.startswith("word_head.")}
    assert head and set(a) - head == set(before)
    assert all(torch.equal(a[k], before[k]) for k in before), "the model's own weights must not move"
    assert not torch.equal(a["word_head.mlp.2.weight"], torch.zeros_like(a["word_head.mlp.2.weight"]))
    meta = json.loads((tmp_path / "whole" / "lm" / "config.json").read_text())
    assert meta["words"]["depth"] == 1 and meta["words"]["hidden"] == 16 and len(meta["words"]["vocabulary"]) > 100
    losses = [json.loads(ln) for ln in (tmp_path / "split" / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses if "heldout_word_acc" in r] == [2, 4]
    served = load_model(whole["checkpoint"])
    assert served.word_head is not None and served.word_head.block(served.cfg.layers) == 0


def test_a_model_run_starts_from_a_model_with_a_word_head_and_leaves_the_head_behind(lm_dir, tmp_path):
    """`train lm --init model/bundled/lm`: the bundle carries a served word head, which reads features
    the new run changes, so the run takes the model's weights and `train words` fits a new head."""
    from antiphon.model.train.lm_recipe import train as train_lm
    from antiphon.model.train.word_recipe import train as train_words

    headed = train_words(out=tmp_path / "words", steps=1, lm=str(lm_dir), batch=2, questions=6, frames=120,
                         voices=2, held_out=4, eval_every=2, hidden=16, depth=1, warmup=1)
    recommended = load_model(headed["checkpoint"])
    recommended.default_sampling = SamplingSettings(text_temperature=0.0, audio_temperature=0.3)
    init = save_checkpoint(recommended, tmp_path / "recommended", codec=str(tmp_path / "codec"))
    run = train_lm(out=tmp_path / "tuned", steps=1, init=str(init), config="tiny",
                   codec=str(tmp_path / "codec"), batch=2, questions=6, frames=120, voices=2, warmup=1,
                   held_out=0, lr=1e-12)
    start, tuned = weights(lm_dir), weights(run["checkpoint"])
    assert not any(k.startswith("word_head.") for k in tuned) and set(tuned) == set(start)
    assert all(torch.allclose(start[k].float(), tuned[k].float(), atol=1e-6) for k in start if k != "silence_codes")
    tuned_model = load_model(run["checkpoint"])
    assert tuned_model.word_head is None
    assert tuned_model.default_sampling == load_model(init).default_sampling  # the bundle's sampling goes on


def test_a_word_head_reads_the_questions_its_model_run_encoded(lm_dir, tmp_path, monkeypatch):
    """With the model run's --tape-speed and --sentences, `train words` takes the run's cached bank
    instead of rendering and encoding every question again; other settings encode their own."""
    from antiphon.model.train import lm_recipe, word_recipe

    # the recipes read their cache root once, at import: point both at this test's own cache
    for recipe in (lm_recipe, word_recipe):
        monkeypatch.setattr(recipe, "RUNS", tmp_path / "cache" / "runs")
    train_lm, train_words = lm_recipe.train, word_recipe.train

    def banks():
        return sorted(p.name for p in (tmp_path / "cache" / "data").rglob("train-*-5q*.pt"))
    mix = dict(questions=5, frames=120, voices=2, tape_speed=0.1, sentences=0.5)
    run = train_lm(out=tmp_path / "tuned", steps=1, config="tiny", codec=str(tmp_path / "codec"), batch=2, warmup=1,
                   held_out=0, **mix)
    encoded = banks()
    assert encoded and all(b.endswith("-tape0.1-sent0.5.pt") for b in encoded)
    words = dict(steps=1, lm=run["checkpoint"], batch=2, held_out=4, eval_every=2, hidden=16, depth=1, warmup=1)
    train_words(out=tmp_path / "words", **words, **mix)
    assert banks() == encoded
    train_words(out=tmp_path / "words-plain", **words, **{**mix, "tape_speed": 0.0})
    assert len(banks()) == 2 * len(encoded)
