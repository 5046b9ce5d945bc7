"""Whole sentences from every offline synthesizer we can install, each with its own prosody:
espeak-ng, flite and DECtalk (the voices of theirs that training never uses), festival's festvox
voices, and SAM, the 1982 Software Automatic Mouth (the `samtts` package, pure Python).

Families are kept apart by use: HELD_OUT_FAMILIES are never rendered for training or tuning (a test
enumerates the recipe's sources to check), so they measure how the agent hears a synthesizer it
never heard. The training families' voices here are theirs held out: espeak-ng's evaluation
variants, flite's rms speaker and DECtalk's frank, rita and kit."""
from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from . import dectalk, flite
from .speech import EVAL_VARIANTS, espeak_binary, require_binary, trimmed_at

TRAINING_FAMILIES = ("espeak", "flite", "dectalk")
HELD_OUT_FAMILIES = ("festival", "sam")
PACKAGES = {"espeak": "espeak-ng", "flite": "flite",
            "festival": "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"}
# SAM's presets from its manual: speed, pitch, mouth, throat
SAM_PRESETS = {"sam": (72, 64, 128, 128), "elf": (72, 64, 110, 160), "old_lady": (82, 32, 145, 145),
               "stuffy_guy": (82, 72, 110, 105)}
SAM_RATE = 22050


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
    "flite": tuple(SynthVoice("flite", v) for v in flite.EVAL_SPEAKERS),
    "festival": tuple(SynthVoice("festival", v) for v in ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")),
    "sam": tuple(SynthVoice("sam", v) for v in SAM_PRESETS),
    "dectalk": tuple(SynthVoice("dectalk", v) for v in dectalk.EVAL_SPEAKERS),
}


def _binary(name: str, family: str) -> str:
    return require_binary(name, f"the {family} voices", PACKAGES[family])


def _sam(text: str, preset: str) -> np.ndarray:
    """SAM's 8-bit unsigned samples at SAM_RATE, as float32 around zero."""
    try:
        from samtts import SamTTS
    except ImportError as e:  # its pyaudio dependency is for playback only, so it installs without it
        raise RuntimeError("samtts is not installed: the sam voices need it (pip install --no-deps "
                           "samtts==0.3.0; `bash scripts/run.sh test` installs it)") from e
    raw = np.frombuffer(bytes(SamTTS(*SAM_PRESETS[preset]).get_audio_data(text)), np.uint8)
    pcm = (raw.astype(np.float32) - 128) / 128
    pcm = pcm[np.argmax(raw != 0):]  # the buffer opens on a few zero bytes, full negative scale
    return pcm - pcm.mean()


def render_sentence(text: str, voice: SynthVoice, rate: int) -> np.ndarray:
    """`text` spoken whole by `voice`, float32 mono at `rate`, silence trimmed. Each synthesizer is
    deterministic: the same text and voice give the same samples."""
    if voice.family == "flite":
        return flite.speak(text, flite.FliteVoice(voice.name), rate)
    if voice.family == "dectalk":
        return dectalk.speak(text, dectalk.DectalkVoice(voice.name), rate)
    if voice.family == "sam":
        return trimmed_at(_sam(text, voice.name), SAM_RATE, rate)
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "out.wav"
        if voice.family == "espeak":
            cmd = [espeak_binary(), "-v", voice.name, "-w", str(wav), text]
            subprocess.run(cmd, check=True, capture_output=True)
        elif voice.family == "festival":
            subprocess.run([_binary("text2wave", "festival"), "-eval", f"(voice_{voice.name})", "-o", str(wav)],
                           input=text.encode(), check=True, capture_output=True)
        else:
            raise ValueError(f"unknown synthesizer family {voice.family!r}; known: {sorted(VOICES)}")
        pcm, sr = soundfile.read(wav, dtype="float32")
    return trimmed_at(pcm if pcm.ndim == 1 else pcm.mean(1), sr, rate)


def family_voices(families: list[str]) -> list[SynthVoice]:
    unknown = [f for f in families if f not in VOICES]
    if unknown:
        raise ValueError(f"unknown voice families {unknown}; known: {sorted(VOICES)}")
    return [v for f in families for v in VOICES[f]]
