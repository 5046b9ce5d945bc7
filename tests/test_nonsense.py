"""Sentences of words no question uses, answered "sorry": they hold no word the agent must know,
they follow the bank's own questions, and they render the same under a seed.

A real codec of the tiny config (random weights) encodes; espeak-ng and flite render."""
import numpy as np
import pytest

from antiphon.codec import load_codec
from antiphon.codec.architecture import CONFIGS as CODEC_CONFIGS, build_modules
from antiphon.codec.checkpoint import save_checkpoint
from antiphon.model.data import INTENTS, all_answers, vocabulary
from antiphon.model.data.nonsense import WORDS
from antiphon.model.train import lm_data
from antiphon.model.train.lm_recipe import silence_codes


@pytest.fixture
def codec_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    return save_checkpoint(build_modules(CODEC_CONFIGS["tiny"], seed=0), CODEC_CONFIGS["tiny"], tmp_path / "codec")


def _bank(codec_dir, root, **kw):
    codec = load_codec(codec_dir)
    # one espeak-ng voice and one flite voice, 4 questions each
    return lm_data.build_bank(codec, codec_dir, silence_codes(codec).numpy(), 4, 0, 1, "train", root, show=False,
                              flite=1, **kw)


def test_nonsense_words_are_in_no_question_or_answer():
    asked = {w for spec in INTENTS for t in spec.train + spec.held_out for w in t.split()}
    assert len(WORDS) >= 200
    assert not set(WORDS) & (set(vocabulary()) | asked)


def test_nonsense_sentences_follow_the_bank_and_are_answered_sorry(codec_dir, tmp_path):
    plain = _bank(codec_dir, tmp_path / "a")
    both = _bank(codec_dir, tmp_path / "b", backwards=0.5, nonsense=0.5)
    again = _bank(codec_dir, tmp_path / "c", backwards=0.5, nonsense=0.5)
    assert len(plain.questions) == 8 and len(both.questions) == 16
    assert all(np.array_equal(x, y) for x, y in zip(plain.questions, both.questions[:8]))
    assert both.answer_of[:8] == plain.answer_of and both.heard[:8] == plain.heard
    sorry = all_answers().index("sorry i did not understand")
    assert both.answer_of[8:] == [sorry] * 8 and both.heard[8:] == [[]] * 8
    # each voice: its 2 backwards questions, then its 2 nonsense sentences
    nonsense = both.questions[10:12] + both.questions[14:16]
    backwards = both.questions[8:10] + both.questions[12:14]
    assert not any(np.array_equal(x, y) for x in nonsense for y in plain.questions + backwards)
    # rendered and encoded afresh in another cache, the same codes
    assert all(np.array_equal(x, y) for x, y in zip(both.questions, again.questions))
