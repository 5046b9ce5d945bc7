"""Whole sentences in an espeak-ng voice, with its own prosody (words run together, stress and
intonation over the sentence), and where each word ends found by forced alignment of the known
text (pocketsphinx): people do not pause between words, so word-by-word renderings alone teach the
agent one synthesizer's habit rather than spoken English."""
from __future__ import annotations

import io
import subprocess
from typing import Callable

import numpy as np
import soundfile
import soxr

from .speech import Voice, espeak_binary, join_words, trimmed_at

ALIGN_RATE = 16000  # pocketsphinx's acoustic model
ALIGN_HOP = 0.01  # seconds per alignment frame
PAD_S = 0.2


def align(pcm: np.ndarray, rate: int, text: str) -> list[tuple[str, int, int]]:
    """[(word, start, end)] in samples at `rate` for each word of `text` as spoken in `pcm`.
    Raises ValueError when the recognizer cannot fit the text to the audio."""
    from pocketsphinx import Decoder

    x = soxr.resample(pcm, rate, ALIGN_RATE) if rate != ALIGN_RATE else pcm
    pad = int(PAD_S * ALIGN_RATE)  # the recognizer expects silence around an utterance
    x = np.concatenate([np.zeros(pad, np.float32), x, np.zeros(pad, np.float32)])
    # wide beams: the text is known, so no path through it should be pruned
    decoder = Decoder(samprate=ALIGN_RATE, bestpath=False, loglevel="FATAL", beam=1e-100, wbeam=1e-80,
                      pbeam=1e-100)
    decoder.set_align_text(text)
    decoder.start_utt()
    decoder.process_raw((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
    decoder.end_utt()
    segments = decoder.seg() or ()  # None: no path through the text fits the audio
    words = [(s.word, s.start_frame, s.end_frame) for s in segments if s.word not in ("<s>", "</s>", "<sil>")]
    words = [(w.split("(")[0], a, b) for w, a, b in words]  # "the(2)": a second pronunciation
    if [w for w, _, _ in words] != text.split():
        raise ValueError(f"could not align {text!r}: got {[w for w, _, _ in words]}")
    scale, lead = ALIGN_HOP * rate, PAD_S * rate
    return [(w, max(int(a * scale - lead), 0), min(int((b + 1) * scale - lead), len(pcm))) for w, a, b in words]


def speak(text: str, voice: Voice, rate: int) -> np.ndarray:
    """`text` spoken whole in `voice`: float32 mono at `rate`, silence trimmed."""
    out = subprocess.run([espeak_binary(), "-v", voice.spec, "-s", str(voice.speed), "-p", str(voice.pitch),
                          "--stdout", "--", text], capture_output=True, check=True)
    pcm, sr = soundfile.read(io.BytesIO(out.stdout), dtype="float32")
    return trimmed_at(pcm, sr, rate)


def render_sentence(text: str, voice: Voice, rate: int) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """`text` spoken whole in `voice` and its word spans [(word, start, end)] in samples."""
    pcm = speak(text, voice, rate)
    return pcm, align(pcm, rate, text)


def spoken_whole(speak: Callable[[str], np.ndarray], text: str, rate: int,
                 gaps: list[int]) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """`text` spoken whole by `speak` and its word spans by forced alignment, or, where the aligner
    cannot fit the text to the audio, each word spoken alone and joined by `gaps` samples of silence."""
    pcm = speak(text)
    try:
        return pcm, align(pcm, rate, text)
    except ValueError:
        return join_words([(w, speak(w)) for w in text.split()], gaps)
