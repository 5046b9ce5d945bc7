"""Energy voice activity detection with the OpenAI Realtime `server_vad` knobs.

`threshold` (0..1) maps linearly onto a frame level between -60 dBFS (0.0) and -20 dBFS (1.0), so
the default 0.5 means "louder than -40 dBFS". Speech starts at the first frame above it (reported
`prefix_padding_ms` earlier) and stops after `silence_duration_ms` of frames below it.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from antiphon.common.audio import frame_rms

FLOOR_DB, CEIL_DB = -60.0, -20.0


@dataclasses.dataclass
class VadSettings:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500

    def level_db(self) -> float:
        return FLOOR_DB + self.threshold * (CEIL_DB - FLOOR_DB)


@dataclasses.dataclass
class VadEvent:
    kind: str  # "started" or "stopped"
    ms: int  # audio_start_ms (prefix included) or audio_end_ms, on the input audio's own timeline


class EnergyVad:
    def __init__(self, settings: VadSettings, frame_ms: float):
        self.settings, self.frame_ms = settings, frame_ms
        self.speaking = False
        self.silent_ms = 0.0
        self.position_ms = 0.0  # end of the last frame seen

    def push(self, frame: np.ndarray) -> VadEvent | None:
        """One frame of input audio (float32); the event it completes, if any."""
        start = self.position_ms
        self.position_ms += self.frame_ms
        loud = 20 * math.log10(max(frame_rms(frame), 1e-10)) > self.settings.level_db()
        if not self.speaking:
            if loud:
                self.speaking, self.silent_ms = True, 0.0
                return VadEvent("started", int(max(0.0, start - self.settings.prefix_padding_ms)))
            return None
        if loud:
            self.silent_ms = 0.0
            return None
        self.silent_ms += self.frame_ms
        if self.silent_ms >= self.settings.silence_duration_ms:
            self.speaking = False
            return VadEvent("stopped", int(self.position_ms - self.silent_ms))
        return None
