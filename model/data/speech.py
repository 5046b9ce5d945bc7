"""Speech rendered by espeak-ng, one word at a time, so where every word falls is known exactly.

A voice is an espeak-ng accent with a variant, a speed and a pitch. User voices are drawn from two
disjoint pools of variants (training and evaluation); the agent has one fixed voice that neither
pool uses. Rendered words are cached on disk per voice.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import random
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
import soxr
from antiphon.common.atomic import write_atomically
from antiphon.common.paths import cache_root

ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
           "en-us-nyc")
# Every espeak-ng variant whose sound differs from the rest (`espeak-ng --voices=variant`; caleb and
# klatt6 render the same as klatt, Mr as no variant) except whispers, robots and effects; the more
# voices training hears, the better it names words in voices it never heard.
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m8", "f1", "f3", "f4", "klatt", "klatt2", "klatt4", "klatt5",
                  "adam", "anika", "max", "paul", "Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy",
                  "aunty", "belinda", "benjamin", "boris", "david", "Denis", "Diogo", "ed", "edward", "edward2",
                  "Gene", "Gene2", "grandma", "grandpa", "Henrique", "Hugo", "iven", "iven2", "iven3", "iven4",
                  "Jacky", "Lee", "marcelo", "Marco", "Mario", "Michael", "michel", "Mike", "miguel", "norbert",
                  "Nguyen", "pablo", "pedro", "quincy", "RicishayMax", "rob", "robert", "sandro", "shelby",
                  "steph", "steph2", "steph3", "Storm", "travis", "Tweaky", "victor", "zac", "antonio",
                  "gustave", "kaukovalta")
EVAL_VARIANTS = ("m7", "f5", "klatt3", "john", "linda")


@dataclasses.dataclass(frozen=True)
class Voice:
    accent: str
    variant: str
    speed: int  # words per minute
    pitch: int  # 0..99

    @property
    def spec(self) -> str:
        return f"{self.accent}+{self.variant}"

    def key(self) -> str:
        return f"{self.accent}_{self.variant}_{self.speed}_{self.pitch}"


AGENT_VOICE = Voice("en-us", "f2", 175, 55)


def split_speakers(split: str, count: int, seed: int, family: str, train: tuple[str, ...],
                   held: tuple[str, ...]) -> tuple[list[str], random.Random]:
    """A family's `count` speakers of a split ('train': `train`, 'eval': `held`) in turn, and the
    generator, seeded by family and split, that draws what each voice adds to its speaker."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    speakers = train if split == "train" else held
    return [speakers[i % len(speakers)] for i in range(count)], random.Random(f"{seed}-{family}-{split}")


def user_voices(split: str, count: int, seed: int) -> list[Voice]:
    """`count` user voices of a split ('train' or 'eval'), deterministic under `seed`."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    variants = TRAIN_VARIANTS if split == "train" else EVAL_VARIANTS
    rng = random.Random(f"{seed}-{split}")
    return [Voice(rng.choice(ACCENTS), variants[i % len(variants)], rng.randrange(130, 200, 10),
                  rng.randrange(25, 80, 5)) for i in range(count)]


def require_binary(name: str, needed_by: str, package: str) -> str:
    """The path of the program `name`, or an error that says which Debian package brings it."""
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"{name} is not installed: {needed_by} needs it (Debian: apt-get install {package}; "
                           "`bash scripts/run.sh test` installs it)")
    return exe


def espeak_binary() -> str:
    return require_binary("espeak-ng", "the synthetic data", "espeak-ng")


def _trim(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading and trailing silence (espeak pads every call), keeping 10 ms either side."""
    loud = np.flatnonzero(np.abs(pcm) > 0.01 * max(float(np.abs(pcm).max()), 1e-6))
    if loud.size == 0:
        return pcm[:0]
    pad = rate // 100
    return pcm[max(loud[0] - pad, 0): loud[-1] + pad]


def trimmed_at(pcm: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """A synthesizer's output at `sr`: silence trimmed, float32 at `rate`."""
    pcm = _trim(pcm, sr)
    return soxr.resample(pcm, sr, rate).astype(np.float32) if sr != rate else pcm


def join_words(words: list[tuple[str, np.ndarray]], gaps: list[int]) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Rendered words joined by `gaps` samples of silence: (pcm, [(word, start, end)])."""
    pieces, spans, at = [], [], 0
    for i, (w, pcm) in enumerate(words):
        if i:
            pieces.append(np.zeros(gaps[i - 1], np.float32))
            at += gaps[i - 1]
        pieces.append(pcm)
        spans.append((w, at, at + len(pcm)))
        at += len(pcm)
    return (np.concatenate(pieces) if pieces else np.zeros(0, np.float32)), spans


def render_word(word: str, voice: Voice, rate: int) -> np.ndarray:
    """One word in `voice`, float32 mono at `rate`, silence trimmed."""
    out = subprocess.run([espeak_binary(), "-v", voice.spec, "-s", str(voice.speed), "-p", str(voice.pitch),
                          "--stdout", word], capture_output=True, check=True)
    pcm, sr = soundfile.read(io.BytesIO(out.stdout), dtype="float32")
    return trimmed_at(pcm, sr, rate)


def cache_dir() -> Path:
    return cache_root() / "speech"


class WordBank:
    """Rendered words per voice, from the disk cache or espeak-ng."""

    def __init__(self, rate: int, root: Path | None = None):
        self.rate = rate
        self.root = root or cache_dir()
        self._voices: dict[Voice, dict[str, np.ndarray]] = {}

    def _file(self, voice: Voice, words: list[str]) -> Path:
        digest = hashlib.sha1(" ".join(words).encode()).hexdigest()[:10]
        return self.root / f"{voice.key()}_{self.rate}_{digest}.npz"

    def load(self, voice: Voice, words: list[str]) -> dict[str, np.ndarray]:
        if voice in self._voices:
            return self._voices[voice]
        file = self._file(voice, words)
        if file.is_file():
            with np.load(file) as z:
                bank = {w: z[w] for w in z.files}
        else:
            with ThreadPoolExecutor(os.cpu_count()) as pool:  # each word is its own espeak-ng process
                bank = dict(zip(words, pool.map(lambda w: render_word(w, voice, self.rate), words)))
            file.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(file, lambda tmp: np.savez(tmp, **bank))  # processes may render one voice at once
        self._voices[voice] = bank
        return bank

    def say(self, text: str, voice: Voice, words: list[str], gaps: list[int]) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
        """Words of `text` joined by `gaps` samples of silence: (pcm, [(word, start, end)])."""
        bank = self.load(voice, words)
        missing = [w for w in text.split() if w not in bank]
        if missing:
            raise KeyError(f"word {missing[0]!r} is not in the rendered vocabulary")
        return join_words([(w, bank[w]) for w in text.split()], gaps)
