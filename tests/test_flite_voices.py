"""flite's training voices: drawn deterministically from its training speakers, each drawn pitch and
rate really heard in the audio."""
import numpy as np
import pytest

from antiphon.model.data.flite import EVAL_SPEAKERS, TRAIN_SPEAKERS, FliteVoice, flite_voices, speak
from audio_measures import median_f0

RATE = 16000


def test_voices_are_deterministic_and_drawn_from_the_split():
    a, b = flite_voices("train", 30, 3), flite_voices("train", 30, 3)
    assert a == b and a != flite_voices("train", 30, 4)
    assert {v.speaker for v in a} == set(TRAIN_SPEAKERS)
    assert {v.speaker for v in flite_voices("eval", 5, 3)} == set(EVAL_SPEAKERS)
    assert all(0.85 <= v.stretch <= 1.15 and v.pitch > 0 for v in a)
    with pytest.raises(ValueError, match="split must be 'train' or 'eval'"):
        flite_voices("test", 3, 0)


def test_drawn_pitch_and_rate_are_heard():
    text = "what is seven plus five"
    low, high = speak(text, FliteVoice("slt", 140), RATE), speak(text, FliteVoice("slt", 200), RATE)
    assert median_f0(high, RATE) > 1.2 * median_f0(low, RATE)
    slow, fast = speak(text, FliteVoice("awb", 0, 1.15), RATE), speak(text, FliteVoice("awb", 0, 0.85), RATE)
    assert len(slow) > 1.2 * len(fast)
    assert np.array_equal(speak(text, FliteVoice("kal16", 110, 0.9), RATE),
                          speak(text, FliteVoice("kal16", 110, 0.9), RATE))
