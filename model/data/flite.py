"""Questions spoken whole by flite, a second synthesizer family in training beside espeak-ng.

flite's voices are built from recordings of real speakers (CMU ARCTIC's slt, awb and rms, and the
kal diphones), so they sound nearer to people than espeak-ng's formant rules. Three speakers train;
rms is kept for evaluation, as espeak-ng keeps its evaluation variants. Each training voice also
draws its own mean pitch and speaking rate, so the same three speakers give many voices.
"""
from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from .speech import require_binary, split_speakers, trimmed_at

TRAIN_SPEAKERS = ("slt", "awb", "kal16")
EVAL_SPEAKERS = ("rms",)
MEAN_PITCH = {"slt": 170, "awb": 110, "kal16": 105, "rms": 100}  # Hz, about each speaker's own


@dataclasses.dataclass(frozen=True)
class FliteVoice:
    speaker: str
    pitch: int = 0  # mean F0 in Hz; 0: the speaker's own
    stretch: float = 1.0  # duration stretch: above 1 is slower

    def key(self) -> str:
        return f"flite_{self.speaker}_{self.pitch}_{self.stretch:g}"


def flite_binary() -> str:
    return require_binary("flite", "the flite voices", "flite")


def flite_voices(split: str, count: int, seed: int) -> list[FliteVoice]:
    """`count` flite voices of a split ('train' or 'eval'), deterministic under `seed`: the split's
    speakers in turn, each with a mean pitch within 20% of its own and a rate within 15%."""
    speakers, rng = split_speakers(split, count, seed, "flite", TRAIN_SPEAKERS, EVAL_SPEAKERS)
    return [FliteVoice(s, int(MEAN_PITCH[s] * rng.uniform(0.8, 1.2)), round(rng.uniform(0.85, 1.15), 2))
            for s in speakers]


def speak(text: str, voice: FliteVoice, rate: int) -> np.ndarray:
    """`text` spoken whole by `voice`: float32 mono at `rate`, silence trimmed. Deterministic."""
    cmd = [flite_binary(), "-voice", voice.speaker, "--setf", f"duration_stretch={voice.stretch}"]
    if voice.pitch:
        cmd += ["--setf", f"int_f0_target_mean={voice.pitch}"]
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "out.wav"
        subprocess.run(cmd + ["-t", text, "-o", str(wav)], check=True, capture_output=True)
        pcm, sr = soundfile.read(wav, dtype="float32")
    return trimmed_at(pcm, sr, rate)

