"""Questions spoken whole by other synthesizers: renderings are deterministic, the held-out families
never reach training, and `antiphon eval --voices` reports per family."""
import ast
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from antiphon.model.data.synthesizers import HELD_OUT_FAMILIES, TRAINING_FAMILIES, VOICES, render_sentence
from antiphon.common.command import antiphon_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("voice", [v for family in VOICES.values() for v in family], ids=lambda v: v.key())
def test_each_voice_renders_a_sentence_deterministically(voice):
    a = render_sentence("what is seven plus five", voice, 16000)
    b = render_sentence("what is seven plus five", voice, 16000)
    assert np.array_equal(a, b)
    assert 0.6 < len(a) / 16000 < 4.0 and float(np.abs(a).max()) > 0.05  # speech, not silence or noise


def test_families_sound_different():
    """A family that fell back to another synthesizer (a missing festival voice, say) would match it."""
    x = {f: render_sentence("hello there", VOICES[f][0], 16000) for f in VOICES}
    for f in x:
        for g in x:
            if f < g:
                n = min(len(x[f]), len(x[g]))
                assert abs(np.corrcoef(x[f][:n], x[g][:n])[0, 1]) < 0.5, (f, g)


def test_held_out_families_never_reach_training():
    """The training layer (model/train, and the data it renders) never imports the synthesizers
    module nor names a held-out synthesizer, and every user voice the recipe can draw is an espeak-ng
    voice of its training variants, or a flite or DECtalk voice of its family's training speakers."""
    from antiphon.model.data import dectalk, flite, user_voices
    from antiphon.model.data.speech import TRAIN_VARIANTS

    assert set(HELD_OUT_FAMILIES).isdisjoint(TRAINING_FAMILIES) and len(HELD_OUT_FAMILIES) >= 2
    assert set(VOICES) == set(HELD_OUT_FAMILIES) | set(TRAINING_FAMILIES)
    for family in (flite, dectalk):  # the voices eval asks in are the family's evaluation speakers
        names = {v.name for v in VOICES[family.__name__.rsplit(".", 1)[-1]]}
        assert names == set(family.EVAL_SPEAKERS) and not names & set(family.TRAIN_SPEAKERS)
    for path in list((ROOT / "model" / "train").glob("*.py")) + list((ROOT / "model" / "data").glob("*.py")):
        if path.name == "synthesizers.py":
            continue
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any("synthesizers" in m for m in names | modules), path
        text = path.read_text()
        assert not any(w in text.lower() for w in ("festival", "samtts", "sam_")), path
    for seed in range(5):
        assert all(v.variant in TRAIN_VARIANTS for v in user_voices("train", 200, seed))
        for family, draw in ((flite, flite.flite_voices), (dectalk, dectalk.dectalk_voices)):
            drawn = draw("train", 60, seed)
            assert {v.speaker for v in drawn} == set(family.TRAIN_SPEAKERS)
            assert len(set(drawn)) > 50  # pitches and rates drawn, not fixed


def test_eval_voices_reports_each_family(tmp_path):
    out = tmp_path / "eval"
    done = subprocess.run(antiphon_command("eval", "--model", "random:tiny", "--per-intent", "1",
                           "--voices", "festival,sam", "--parallel", "4", "--barge-in", "0", "--out", str(out)),
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    rep = json.loads((out / "eval.json").read_text())
    assert rep["questions"] == 26
    fam = rep["by_family"]
    assert list(fam) == ["festival", "sam"] and all(f["questions"] == 13 for f in fam.values())
    assert all(len(f["accuracy_by_intent"]) == 13 for f in fam.values())
    voices = {i["voice"] for i in rep["items"]}
    assert {v.split(":")[0] for v in voices} == {"festival", "sam"} and len(voices) >= 4
    md = (out / "eval.md").read_text()
    assert "| voice family | questions | accuracy |" in md and "| sam | 13 |" in md
