"""What a microphone path does to speech before the agent hears it: a band limit (small
microphones, headsets, telephone-like links), a browser's automatic gain (a level that rides up in
silence and comes down on speech), a noise suppressor's gating (quiet time-frequency cells pulled
down, with the musical residue that leaves) and clipping (a level set too hot). Training questions
pass through a random chain of these, so the agent meets the channels people really use."""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, istft, sosfilt, stft

AGC_WINDOW_S = 0.02  # the level is measured over 20 ms
AGC_TARGET = 0.1  # the level a gain control steers speech towards (-20 dBFS rms)


def band_limit(pcm: np.ndarray, rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Fourth-order band-pass: nothing much below `low_hz` or above `high_hz`."""
    high_hz = min(high_hz, 0.45 * rate)
    sos = butter(4, [low_hz, high_hz], btype="bandpass", fs=rate, output="sos")
    return sosfilt(sos, pcm).astype(np.float32)


def auto_gain(pcm: np.ndarray, rate: int, max_gain_db: float, release_s: float) -> np.ndarray:
    """A gain that steers the 20 ms level towards AGC_TARGET: it drops fast when speech is loud
    and rises slowly (`release_s`) up to `max_gain_db` in quiet, lifting the noise floor between
    words as browsers' gain controls do."""
    hop = max(int(AGC_WINDOW_S * rate), 1)
    n = -(-len(pcm) // hop)
    frames = np.pad(pcm, (0, n * hop - len(pcm))).reshape(n, hop)
    level = np.sqrt(np.mean(frames ** 2, axis=1) + 1e-10)
    want = np.minimum(AGC_TARGET / level, 10 ** (max_gain_db / 20))
    rise = 1 - np.exp(-AGC_WINDOW_S / release_s)
    gain, g = np.empty(n), 1.0
    for i, w in enumerate(want):
        g = w if w < g else g + (w - g) * rise  # attack at once, release slowly
        gain[i] = g
    smooth = np.interp(np.arange(n * hop), np.arange(n) * hop + hop / 2, gain)[: len(pcm)]
    return (pcm * smooth).astype(np.float32)


def noise_gate(pcm: np.ndarray, rate: int, depth_db: float) -> np.ndarray:
    """Spectral gating as a noise suppressor does it: cells below twice the band's median level
    (its noise floor, where speech fills less than half the time) are attenuated by `depth_db`."""
    _, _, spec = stft(pcm, fs=rate, nperseg=512, noverlap=384)
    mag = np.abs(spec)
    floor = np.median(mag, axis=1, keepdims=True)
    mask = np.where(mag < 2 * floor, 10 ** (-depth_db / 20), 1.0)
    _, out = istft(spec * mask, fs=rate, nperseg=512, noverlap=384)
    return out[: len(pcm)].astype(np.float32)


def clip(pcm: np.ndarray, over_db: float) -> np.ndarray:
    """The peak driven `over_db` above full scale, then clipped."""
    peak = max(float(np.abs(pcm).max()), 1e-6)
    return np.clip(pcm / peak * 10 ** (over_db / 20), -1, 1).astype(np.float32)


def microphone(pcm: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A random microphone path: each stage on its own odds, in the order a capture applies them."""
    if rng.random() < 0.5:
        pcm = band_limit(pcm, rate, float(rng.uniform(80, 300)), float(rng.uniform(3400, 7600)))
    if rng.random() < 0.3:
        pcm = noise_gate(pcm, rate, float(rng.uniform(6, 20)))
    if rng.random() < 0.4:
        pcm = auto_gain(pcm, rate, float(rng.uniform(10, 30)), float(rng.uniform(0.2, 1.5)))
    if rng.random() < 0.15:
        pcm = clip(pcm, float(rng.uniform(1, 8)))
    return np.clip(pcm, -1, 1).astype(np.float32)
