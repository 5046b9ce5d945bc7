"""`--record DIR`: per session, both channels as WAV and the text events as JSONL, flushed every
second so a killed server loses at most the last second."""
from __future__ import annotations

import json
import time
from pathlib import Path

import soundfile as sf


class Recorder:
    def __init__(self, directory: str | Path, session_id: str, sample_rate: int, flush_seconds: float = 1.0):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        stem = d / f"{time.strftime('%Y%m%d-%H%M%S')}-{session_id}"
        self.paths = {"user": Path(f"{stem}-user.wav"), "agent": Path(f"{stem}-agent.wav"),
                      "events": Path(f"{stem}-events.jsonl")}
        self._user = sf.SoundFile(self.paths["user"], "w", samplerate=sample_rate, channels=1, subtype="PCM_16")
        self._agent = sf.SoundFile(self.paths["agent"], "w", samplerate=sample_rate, channels=1, subtype="PCM_16")
        self._events = open(self.paths["events"], "a", buffering=1)  # line-buffered
        self._flush_seconds = flush_seconds
        self._last_flush = time.monotonic()

    def frame(self, user, agent) -> None:
        self._user.write(user)
        self._agent.write(agent)
        if time.monotonic() - self._last_flush >= self._flush_seconds:
            self.flush()

    def event(self, event: dict) -> None:
        self._events.write(json.dumps(event) + "\n")

    def flush(self) -> None:
        # libsndfile rewrites the WAV header on flush, so the file is complete up to here
        self._user.flush()
        self._agent.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        for f in (self._user, self._agent, self._events):
            f.close()
