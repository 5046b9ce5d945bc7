"""The energy VAD behind server_vad: threshold, prefix padding and silence duration as documented."""
import numpy as np

from antiphon.server.vad import EnergyVad, VadSettings

FRAME_MS, N = 40.0, 640


def level(db: float) -> np.ndarray:
    """A frame of noise at `db` dBFS RMS."""
    x = np.random.default_rng(0).standard_normal(N)
    return (x / np.sqrt(np.mean(x ** 2)) * 10 ** (db / 20)).astype(np.float32)


def run(settings, frames):
    vad = EnergyVad(settings, FRAME_MS)
    return [(i, e.kind, e.ms) for i, f in enumerate(frames) if (e := vad.push(f))]


def test_threshold_maps_onto_dbfs():
    quiet, loud = level(-45), level(-35)
    assert run(VadSettings(threshold=0.5), [quiet] * 20) == []
    assert run(VadSettings(threshold=0.5), [loud])[0][1] == "started"
    assert run(VadSettings(threshold=0.2), [quiet])[0][1] == "started"  # 0.2 -> -52 dBFS
    assert run(VadSettings(threshold=0.9), [loud] * 5) == []  # 0.9 -> -24 dBFS


def test_start_is_reported_with_prefix_padding_and_stop_after_the_silence_duration():
    frames = [level(-70)] * 10 + [level(-30)] * 15 + [level(-70)] * 20
    events = run(VadSettings(prefix_padding_ms=200, silence_duration_ms=400), frames)
    assert events == [(10, "started", 400 - 200), (34, "stopped", 1000)]
    # a pause shorter than silence_duration_ms does not end the speech
    frames = [level(-30)] * 5 + [level(-70)] * 5 + [level(-30)] * 5 + [level(-70)] * 20
    events = run(VadSettings(prefix_padding_ms=0, silence_duration_ms=400), frames)
    assert [e[1] for e in events] == ["started", "stopped"] and events[1][2] == 600
