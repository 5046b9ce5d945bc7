"""Whole sentences from every offline synthesizer installed from Debian, each with its own prosody:
espeak-ng (its held-out variants), flite's built-in voices and festival's festvox voices.

Families are kept apart by use: HELD_OUT_FAMILIES are never rendered for training or tuning (a test
enumerates the recipe's sources to check), so they measure how the agent hears a synthesizer it
never heard."""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import soxr

from .speech import EVAL_VARIANTS, _trim, espeak_binary

TRAINING_FAMILIES = ("espeak",)
HELD_OUT_FAMILIES = ("flite", "festival")
PACKAGES = {"espeak": "espeak-ng", "flite": "flite", "festival": "festival festvox-kallpc16k festvox-us-slt-hts"}


@dataclasses.dataclass(frozen=True)
class SynthVoice:
    family: str
    name: str

    def key(self) -> str:
        return f"{self.family}:{self.name}"


VOICES = {
    # espeak-ng's evaluation variants (never trained on), whole sentences at its default speed
    "espeak": tuple(SynthVoice("espeak", f"{accent}+{v}") for accent, v in
                    zip(("en-us", "en-gb", "en-us", "en-gb-scotland", "en-029"), EVAL_VARIANTS)),
    "flite": tuple(SynthVoice("flite", v) for v in ("slt", "awb", "rms", "kal16", "kal")),
    "festival": (SynthVoice("festival", "kal_diphone"), SynthVoice("festival", "cmu_us_slt_arctic_hts")),
}


def _binary(name: str, family: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"{name} is not installed: the {family} voices need it (Debian: apt-get install "
                           f"{PACKAGES[family]}; `bash scripts/run.sh test` installs it)")
    return exe


def render_sentence(text: str, voice: SynthVoice, rate: int) -> np.ndarray:
    """`text` spoken whole by `voice`, float32 mono at `rate`, silence trimmed. Each synthesizer is
    deterministic: the same text and voice give the same samples."""
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "out.wav"
        if voice.family == "espeak":
            cmd = [espeak_binary(), "-v", voice.name, "-w", str(wav), text]
            subprocess.run(cmd, check=True, capture_output=True)
        elif voice.family == "flite":
            subprocess.run([_binary("flite", "flite"), "-voice", voice.name, "-t", text, "-o", str(wav)],
                           check=True, capture_output=True)
        elif voice.family == "festival":
            subprocess.run([_binary("text2wave", "festival"), "-eval", f"(voice_{voice.name})", "-o", str(wav)],
                           input=text.encode(), check=True, capture_output=True)
        else:
            raise ValueError(f"unknown synthesizer family {voice.family!r}; known: {sorted(VOICES)}")
        pcm, sr = soundfile.read(wav, dtype="float32")
    pcm = _trim(pcm if pcm.ndim == 1 else pcm.mean(1), sr)
    return soxr.resample(pcm, sr, rate).astype(np.float32) if sr != rate else pcm


def family_voices(families: list[str]) -> list[SynthVoice]:
    unknown = [f for f in families if f not in VOICES]
    if unknown:
        raise ValueError(f"unknown voice families {unknown}; known: {sorted(VOICES)}")
    return [v for f in families for v in VOICES[f]]
