"""Whole-sentence training speech: deterministic renderings, word ends by forced alignment that
agree with the known ends of word-by-word renderings, in every family that speaks whole."""
import random

import numpy as np

import pytest

from antiphon.model.data import UtteranceMaker, dectalk, flite, sample_exchange, user_voices
from antiphon.model.data.sentences import align, render_sentence, spoken_whole


def test_a_sentence_renders_the_same_twice_with_the_same_word_spans():
    voice = user_voices("train", 1, 3)[0]
    a, spans_a = render_sentence("what is seven plus five", voice, 16000)
    b, spans_b = render_sentence("what is seven plus five", voice, 16000)
    assert np.array_equal(a, b) and spans_a == spans_b
    assert [w for w, _, _ in spans_a] == ["what", "is", "seven", "plus", "five"]
    starts, ends = [s for _, s, _ in spans_a], [e for _, _, e in spans_a]
    assert starts == sorted(starts) and ends == sorted(ends) and all(s < e for s, e in zip(starts, ends))
    assert 0 <= starts[0] and ends[-1] <= len(a) and ends[-1] > 0.8 * len(a)  # the words cover the speech


def test_alignment_finds_the_known_word_ends_of_word_by_word_speech():
    """Word-by-word renderings know where each word ends; the aligner must find the same ends."""
    maker = UtteranceMaker(16000, 640)
    rng = random.Random(1)
    errors = []
    for voice in user_voices("train", 6, 1):
        ex = sample_exchange(rng, "train")
        pcm, known = maker.user_utterance(ex.user, voice, rng)
        found = align(pcm, 16000, ex.user)
        assert [w for w, _, _ in found] == ex.user.split()
        errors += [abs(k[2] - f[2]) / 16000 for k, f in zip(known, found)]
    # within a frame or two for most words; a word's trailing consonant or a gap may move an end
    assert np.median(errors) < 0.08 and np.mean(np.array(errors) < 0.2) >= 0.8, sorted(errors)


def test_whole_utterances_fall_back_to_word_by_word_only_when_alignment_fails():
    maker = UtteranceMaker(16000, 640)
    voice = user_voices("train", 1, 0)[0]
    pcm, spans = maker.user_utterance("hello there", voice, random.Random(0), whole=True)
    whole, _ = render_sentence("hello there", voice, 16000)
    assert np.array_equal(pcm, whole) and [w for w, _, _ in spans] == ["hello", "there"]


@pytest.mark.parametrize("family, voice", [(flite, flite.FliteVoice("slt", 170, 1.0)),
                                           (dectalk, dectalk.DectalkVoice("dennis", 110, 100, 180))],
                         ids=["flite", "dectalk"])
def test_flite_and_dectalk_voices_speak_whole_with_aligned_word_ends(family, voice):
    """The utterance maker speaks these voices whole (one rendering, not word by word), and each
    word's span, found by alignment, lies in order inside the audio."""
    text = "please count to four"
    pcm, spans = UtteranceMaker(16000, 640).user_utterance(text, voice, random.Random(0))
    assert np.array_equal(pcm, family.speak(text, voice, 16000))
    assert [w for w, _, _ in spans] == text.split()
    ends = [e for _, _, e in spans]
    assert ends == sorted(ends) and 0 < ends[0] and ends[-1] <= len(pcm) and all(s < e for _, s, e in spans)


def test_speech_the_aligner_cannot_fit_is_spoken_word_by_word():
    """A rendering that is not the text (here noise for the whole sentence) cannot be aligned; each
    word is then spoken alone and joined by the given gaps."""
    voice = flite.FliteVoice("awb", 120, 1.0)
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    speak = lambda t: noise if " " in t else flite.speak(t, voice, 16000)  # noqa: E731
    pcm, spans = spoken_whole(speak, "hello there", 16000, [800, 800])
    hello, there = flite.speak("hello", voice, 16000), flite.speak("there", voice, 16000)
    assert spans == [("hello", 0, len(hello)), ("there", len(hello) + 800, len(hello) + 800 + len(there))]
    assert np.array_equal(pcm, np.concatenate([hello, np.zeros(800, np.float32), there]))
