"""What every layer means by "speaking": a frame's level, the level of the agent's speech, and
the quiet run that ends an answer."""
from __future__ import annotations

import numpy as np

SPEECH_RMS = 0.01  # an agent frame above this (about -40 dBFS) is speech
# Frames below SPEECH_RMS that mean the agent has stopped: its gaps between words read as 2 to 5
# quiet frames through the decoder, so a shorter run would take a pause for a stop.
QUIET_RUN = 8


def frame_rms(frame: np.ndarray) -> float:
    """The frame's root mean square level (0 for an empty frame)."""
    return float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)))) if frame.size else 0.0
