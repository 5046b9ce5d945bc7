"""The microphone paths training questions pass through: each stage does what it says on real
espeak-ng speech, the chain is deterministic under a seed, and with no channel share the
augmentation draws nothing new (banks rendered before it stay the same)."""
import numpy as np
from scipy.signal import welch

from antiphon.model.data import user_voices
from antiphon.model.data.augment import augment
from antiphon.model.data.channel import auto_gain, band_limit, clip, microphone, noise_gate
from antiphon.model.data.sentences import speak

RATE = 16000


def _speech() -> np.ndarray:
    return speak("what is seven plus five", user_voices("train", 1, 0)[0], RATE)


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    f, p = welch(x, fs=RATE, nperseg=1024)
    return float(p[(f >= lo) & (f < hi)].sum())


def test_band_limit_removes_what_is_outside_the_band():
    x = _speech()
    y = band_limit(x, RATE, 300, 3400)
    assert _band_energy(y, 5000, 8000) < 0.01 * _band_energy(x, 5000, 8000)
    assert _band_energy(y, 0, 100) < 0.01 * _band_energy(x, 0, 100)
    assert _band_energy(y, 800, 2500) > 0.5 * _band_energy(x, 800, 2500)


def test_auto_gain_lifts_quiet_speech_and_rides_up_in_the_pause_after_loud_speech():
    x = _speech()
    quiet = 0.01 * x
    lifted = auto_gain(quiet, RATE, max_gain_db=30, release_s=0.5)
    assert np.sqrt(np.mean(lifted ** 2)) > 5 * np.sqrt(np.mean(quiet ** 2))
    assert float(np.abs(lifted).max()) <= 31.7 * float(np.abs(quiet).max())  # bounded by the maximum gain
    loud = np.concatenate([x, 1e-3 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32)])
    y = auto_gain(loud, RATE, max_gain_db=30, release_s=0.5)
    pause = y[len(x):]
    assert np.sqrt(np.mean(pause[-RATE // 4:] ** 2)) > 3 * np.sqrt(np.mean(pause[: RATE // 8] ** 2))


def test_noise_gate_pulls_down_the_noise_floor_and_keeps_the_speech():
    x = _speech()
    noise = 0.01 * np.random.default_rng(1).standard_normal(len(x) + RATE).astype(np.float32)
    noisy = np.concatenate([x, np.zeros(RATE, np.float32)]) + noise
    y = noise_gate(noisy, RATE, depth_db=20)
    pause = slice(len(x) + RATE // 4, len(x) + RATE)
    assert np.sqrt(np.mean(y[pause] ** 2)) < 0.5 * np.sqrt(np.mean(noisy[pause] ** 2))
    assert np.corrcoef(y[: len(x)], x)[0, 1] > 0.9


def test_clipping_flattens_the_peaks():
    y = clip(_speech(), over_db=6)
    assert float(np.abs(y).max()) == 1.0 and np.mean(np.abs(y) >= 1.0) > 0.001


def test_a_microphone_path_is_deterministic_under_a_seed_and_varies_with_it():
    x = _speech()
    a, b = (microphone(x, RATE, np.random.default_rng(7)) for _ in range(2))
    assert np.array_equal(a, b) and len(a) == len(x) and a.dtype == np.float32
    others = [microphone(x, RATE, np.random.default_rng(s)) for s in range(8)]
    assert len({o.tobytes() for o in others}) > 4


def test_no_channel_share_leaves_the_augmentation_as_before():
    x = _speech()
    plain = augment(x, RATE, np.random.default_rng(3))
    assert np.array_equal(plain, augment(x, RATE, np.random.default_rng(3), channel=0.0))
    with_channel = [augment(x, RATE, np.random.default_rng(s), channel=1.0) for s in range(4)]
    assert any(not np.array_equal(w, augment(x, RATE, np.random.default_rng(s))) for s, w in enumerate(with_channel))
