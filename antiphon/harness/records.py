"""The typed records the harness passes between asking, judging and reporting: a question, the
agent's answer to it, a barge-in trial and what one trial showed. Reports stay plain dicts, because
they are written out as JSON."""
from __future__ import annotations

import dataclasses

import numpy as np

from antiphon.model.data import Exchange


@dataclasses.dataclass
class Question:
    """One spoken question: `audio` at the server's rate with silence either side; `speech` is the
    (start, end) sample span of the words in it."""
    intent: str
    user: str
    expected: str
    voice: str
    audio: np.ndarray
    speech: tuple[int, int]
    family: str | None = None  # the synthesizer family (eval --voices); None for espeak-ng word by word

    def words_audio(self) -> np.ndarray:
        return self.audio[self.speech[0]:self.speech[1]]


@dataclasses.dataclass
class Answer:
    """What the agent did with one question: its audio for the whole session, the part after the
    question ended, its inner monologue and the user's words it named."""
    agent: np.ndarray
    rate: int
    answer_audio: np.ndarray
    text: str
    response_latency_s: float | None = None
    talk_over: float = 0.0  # the share of the question's frames the agent talked over
    user_heard: str = ""


@dataclasses.dataclass
class Trial:
    """A barge-in trial: `first` asked, then `second` spoken over the answer `delay` frames after
    the agent's first sound. Lengths are in input frames."""
    first: Exchange
    second: Exchange
    voice: str
    delay: int
    first_audio: np.ndarray
    second_audio: np.ndarray
    asked: int  # frames of the first question, its lead-in silence included
    second_frames: int
    wait: int  # the longest wait for the first answer
    tail: int  # silence sent after the second question


@dataclasses.dataclass
class TrialResult:
    """What one barge-in trial showed (see barge_in.measure)."""
    answered_first: bool
    talking_at_onset: bool
    stop_s: float | None
    first_said: str
    second_said: str
    second_audio: np.ndarray
    delay_s: float | None = None
    user: np.ndarray | None = None  # the whole session's audio, each way, for the recordings
    agent: np.ndarray | None = None
    rate: int = 0
