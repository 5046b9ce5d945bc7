"""User-side augmentation: tape speed, level, a small room, background noise, and optionally the
microphone path (channel.py)."""
from __future__ import annotations

import numpy as np
import soxr
from scipy.signal import fftconvolve

from .channel import microphone


def tape_speed(pcm: np.ndarray, spans: list[tuple[str, int, int]], rate: int,
               factor: float) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """The utterance played `factor` times faster, as a tape: pitch, formants and tempo move
    together, so one rendered voice becomes a speaker with a longer or shorter vocal tract (the
    held-out voices are new timbres, which espeak-ng's variants alone cover thinly). Word spans
    move with the audio."""
    out = soxr.resample(pcm, rate * factor, rate).astype(np.float32)
    at = lambda sample: min(int(round(sample / factor)), len(out))  # noqa: E731
    return out, [(word, at(start), at(end)) for word, start, end in spans]


def room(pcm: np.ndarray, rate: int, rng: np.random.Generator, rt60: float) -> np.ndarray:
    """Convolve with a synthetic impulse response: direct path plus exponentially decaying noise."""
    n = max(int(rt60 * rate), 1)
    t = np.arange(n) / rate
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * 0.3
    ir[0] = 1.0
    wet = fftconvolve(pcm, ir)[: len(pcm)]
    return (wet / max(np.abs(wet).max(), 1e-6) * max(np.abs(pcm).max(), 1e-6)).astype(np.float32)


def augment(pcm: np.ndarray, rate: int, rng: np.random.Generator, channel: float = 0.0) -> np.ndarray:
    """A room, a level and noise; then, with probability `channel`, a microphone path. With
    `channel` 0 no draw is added, so banks rendered before it stay the same."""
    if rng.random() < 0.5:
        pcm = room(pcm, rate, rng, rt60=float(rng.uniform(0.1, 0.5)))
    peak = max(float(np.abs(pcm).max()), 1e-6)
    pcm = pcm / peak * float(10 ** (rng.uniform(-20, -1) / 20))
    if rng.random() < 0.7:
        speech_rms = float(np.sqrt(np.mean(pcm ** 2) + 1e-12))
        noise = rng.standard_normal(len(pcm)).astype(np.float32)
        if rng.random() < 0.5:  # brown-ish noise: most energy low, like a room or a fan
            noise = np.cumsum(noise)
            noise -= np.convolve(noise, np.ones(64) / 64, mode="same")
        noise *= speech_rms / max(float(np.sqrt(np.mean(noise ** 2))), 1e-9) * float(10 ** (-rng.uniform(15, 40) / 20))
        pcm = pcm + noise
    if channel and rng.random() < channel:
        pcm = microphone(pcm, rate, rng)
    return np.clip(pcm, -1, 1).astype(np.float32)
