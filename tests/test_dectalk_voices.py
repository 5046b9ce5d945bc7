"""DECtalk's training voices: drawn deterministically from its training speakers, each drawn
pitch, head size and rate really heard in the audio."""
import numpy as np
import pytest

from antiphon.model.data.dectalk import (EVAL_SPEAKERS, SPEAKERS, TRAIN_SPEAKERS, DectalkVoice, dectalk_voices,
                                         speak)
from audio_measures import median_f0, spectral_centroid

RATE = 16000
TEXT = "what is seven plus five"


def test_voices_are_deterministic_and_drawn_from_the_split():
    a, b = dectalk_voices("train", 30, 3), dectalk_voices("train", 30, 3)
    assert a == b and a != dectalk_voices("train", 30, 4)
    assert {v.speaker for v in a} == set(TRAIN_SPEAKERS) and len(set(a)) == 30
    assert {v.speaker for v in dectalk_voices("eval", 6, 3)} == set(EVAL_SPEAKERS)
    assert set(TRAIN_SPEAKERS) | set(EVAL_SPEAKERS) == set(SPEAKERS) and not set(TRAIN_SPEAKERS) & set(EVAL_SPEAKERS)
    assert all(85 <= v.head <= 115 and 150 <= v.rate <= 230 and v.pitch > 0 for v in a)
    with pytest.raises(ValueError, match="split must be 'train' or 'eval'"):
        dectalk_voices("test", 3, 0)


def test_drawn_pitch_head_and_rate_are_heard():
    low, high = speak(TEXT, DectalkVoice("paul", 100), RATE), speak(TEXT, DectalkVoice("paul", 150), RATE)
    assert median_f0(high, RATE) > 1.2 * median_f0(low, RATE)
    small, large = speak(TEXT, DectalkVoice("dennis", head=85), RATE), speak(TEXT, DectalkVoice("dennis", head=115), RATE)
    assert spectral_centroid(small, RATE) > 1.15 * spectral_centroid(large, RATE)  # a shorter tract, higher formants
    slow, fast = speak(TEXT, DectalkVoice("harry", rate=150), RATE), speak(TEXT, DectalkVoice("harry", rate=230), RATE)
    assert len(slow) > 1.3 * len(fast)
    voice = DectalkVoice("ursula", 230, 95, 170)
    assert np.array_equal(speak(TEXT, voice, RATE), speak(TEXT, voice, RATE))



def test_dectalk_shards_join_a_bank_without_renaming_the_others(tiny_codec_dir, tmp_path):
    """Adding DECtalk voices to a bank keeps the espeak-ng and flite shards as they were (their cached
    files are read again, not encoded again), and each DECtalk question's heard words are its text's."""
    from antiphon.codec import load_codec
    from antiphon.model.train import lm_data
    from antiphon.model.train.lm_recipe import silence_codes

    codec = load_codec(tiny_codec_dir)
    silence = silence_codes(codec).numpy()
    build = lambda root, dectalk: lm_data.build_bank(codec, tiny_codec_dir, silence, 4, 0, 1, "train", root,  # noqa: E731
                                                     show=False, flite=1, dectalk=dectalk)
    before = build(tmp_path / "a", 0)
    after = build(tmp_path / "b", 2)
    assert len(before.questions) == 8 and len(after.questions) == 16
    assert all(np.array_equal(x, y) for x, y in zip(before.questions, after.questions[:8]))
    shards = sorted(p.name.split("-")[2] for p in (tmp_path / "b").glob("*/train-*.pt"))
    assert shards == ["dectalk0000", "dectalk0001", "flite0000", "voice0000"]
    assert not any(np.array_equal(x, y) for x in after.questions[8:] for y in before.questions)
    for heard, frames in zip(after.heard[8:], after.speech_frames[8:]):  # word ends from alignment, in order
        ends = [f for _, f in heard]
        assert heard and ends == sorted(ends) and 0 < ends[0] and ends[-1] <= frames
