"""`--record DIR`: per session, both channels as WAV and the text events as JSONL.

Audio is written once a second, and each write also rewrites the WAV header's sizes (the standard
`wave` module does so on every `writeframes`), so a killed server leaves files that open, missing at
most the last second. Events are line-buffered: every complete line is on disk."""
from __future__ import annotations

import json
import time
import wave
from pathlib import Path

import numpy as np


class Recorder:
    def __init__(self, directory: str | Path, session_id: str, sample_rate: int, flush_seconds: float = 1.0):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        stem = d / f"{time.strftime('%Y%m%d-%H%M%S')}-{session_id}"
        self.paths = {"user": Path(f"{stem}-user.wav"), "agent": Path(f"{stem}-agent.wav"),
                      "events": Path(f"{stem}-events.jsonl")}
        self._files, self._wavs = {}, {}
        for name in ("user", "agent"):
            self._files[name] = open(self.paths[name], "wb")
            w = wave.open(self._files[name], "wb")
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(b"")  # a valid, empty file from the start
            self._wavs[name] = w
        self._pending: dict[str, list[bytes]] = {"user": [], "agent": []}
        self._events = open(self.paths["events"], "a", buffering=1)  # line-buffered
        self._flush_seconds = flush_seconds
        self._last_flush = time.monotonic()
        self.closed = False

    def frame(self, user: np.ndarray, agent: np.ndarray) -> None:
        if self.closed:
            return
        for name, pcm in (("user", user), ("agent", agent)):
            self._pending[name].append((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
        if time.monotonic() - self._last_flush >= self._flush_seconds:
            self.flush()

    def event(self, event: dict) -> None:
        if not self.closed:
            self._events.write(json.dumps(event) + "\n")

    def flush(self) -> None:
        for name, w in self._wavs.items():
            w.writeframes(b"".join(self._pending[name]))  # data, then the header's sizes
            self._files[name].flush()
            self._pending[name].clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if self.closed:
            return
        self.flush()
        self.closed = True
        for name, w in self._wavs.items():
            w.close()
            self._files[name].close()
        self._events.close()
