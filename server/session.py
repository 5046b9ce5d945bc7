"""One connected session: its input frames (resampled to the codec rate), its output path back to
the client, its counters. The event loop fills and drains it; the engine thread reads frames."""
from __future__ import annotations

import asyncio
import collections
import codecs
import json
import uuid

import numpy as np
import soxr

from model.tokenizer import ByteTokenizer

from .vad import frame_rms


TARGET_QUEUE = 2  # input frames allowed to wait before quiet ones are skipped
JITTER_QUEUE = 6  # above this the client is sending ahead on purpose (a file): keep every frame
QUIET_RMS = 0.003  # about -50 dBFS


class Session:
    def __init__(self, frame_size: int, codec_rate: int, max_buffer_frames: int, loop: asyncio.AbstractEventLoop):
        self.id = uuid.uuid4().hex[:12]
        self.frame_size, self.codec_rate = frame_size, codec_rate
        self.client_rate = codec_rate
        self.max_buffer_frames = max_buffer_frames
        self.loop = loop
        self.frames: collections.deque[np.ndarray] = collections.deque()
        self._pending = np.zeros(0, dtype=np.float32)
        self._rs_in = self._rs_out = None
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.sampling = None  # model.SamplingSettings once the client sets any
        self.sampling_dirty = False
        self.frame_marks = False
        self.started_audio = False
        self.slot: int | None = None
        self.input_frames = 0  # frames received from the client (codec rate)
        self.consumed_frames = 0  # of those, taken by the engine
        self.output_frames = 0
        self.underruns = 0
        self.dropped_frames = 0
        self.skipped_frames = 0
        self.skip_quiet = True
        self.text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.recorder = None
        self.on_frames = None  # the engine's wake-up, called when new input frames are queued

    def set_client_rate(self, rate: int) -> None:
        self.client_rate = rate
        if rate != self.codec_rate:
            self._rs_in = soxr.ResampleStream(rate, self.codec_rate, 1, dtype="float32")
            self._rs_out = soxr.ResampleStream(self.codec_rate, rate, 1, dtype="float32")

    def push_pcm16(self, data: bytes) -> int:
        """Client audio in; returns how many frames were dropped because the buffer was full."""
        x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        if self._rs_in is not None:
            x = self._rs_in.resample_chunk(x)
        self.started_audio = True
        buf = np.concatenate([self._pending, x]) if self._pending.size else x
        n = buf.size // self.frame_size
        self._pending = buf[n * self.frame_size:].copy()
        dropped = 0
        for i in range(n):
            if len(self.frames) >= self.max_buffer_frames:
                dropped += 1
                continue
            frame = buf[i * self.frame_size:(i + 1) * self.frame_size]
            self.frames.append(frame)
            self.input_frames += 1
            self.on_input_frame(frame)
        self.dropped_frames += dropped
        if n and self.on_frames is not None:
            self.on_frames()
        return dropped

    def on_input_frame(self, frame: np.ndarray) -> None:
        """Called for each frame accepted into the input buffer (the Realtime session's VAD)."""

    def take_frame(self) -> np.ndarray | None:
        """Engine thread: the next input frame, or None (an underrun, fed as silence).

        Every underrun leaves one more frame queued for good (the client and the engine both run at
        the frame rate), so latency would creep up over a session. While more than TARGET_QUEUE
        (and at most JITTER_QUEUE) frames wait, a quiet frame at the head is skipped (counted in
        `skipped_frames`): silence is shortened, speech never is. A deeper queue is a client sending
        ahead on purpose, and the Realtime endpoint's buffer is the client's: neither is touched."""
        try:
            frame = self.frames.popleft()
            while self.skip_quiet and TARGET_QUEUE <= len(self.frames) <= JITTER_QUEUE and frame_rms(frame) < QUIET_RMS:
                self.skipped_frames += 1
                self.consumed_frames += 1
                frame = self.frames.popleft()
        except IndexError:
            self.underruns += 1
            return None
        self.consumed_frames += 1
        return frame

    def deliver(self, pcm: np.ndarray, token: int, input_index: int | None, user_pcm: np.ndarray) -> None:
        """Event loop: one output frame (codec rate, float32), its text token, and the input frame
        the engine used for this tick (silence on an underrun)."""
        index = self.output_frames
        self.output_frames += 1
        pcm16 = self.client_pcm16(pcm)
        if self.frame_marks:
            self.outbox.put_nowait(json.dumps({"type": "frame", "index": index, "input_index": input_index}))
        self.outbox.put_nowait(pcm16)
        if self.recorder is not None:
            self.recorder.frame(user_pcm, pcm)
        piece = self.text_of(token)
        if piece:
            event = {"type": "text", "text": piece, "frame": index}
            self.outbox.put_nowait(json.dumps(event))
            if self.recorder is not None:
                self.recorder.event(event)

    def client_pcm16(self, pcm: np.ndarray) -> bytes:
        """An output frame (codec rate, float32) as PCM16 at the client's rate."""
        out = pcm if self._rs_out is None else self._rs_out.resample_chunk(pcm)
        return (np.clip(out, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()

    def text_of(self, token: int) -> str:
        """The text a token completes: pad and bos say nothing; bytes are decoded incrementally,
        waiting for the rest of a multi-byte character and replacing invalid bytes."""
        return self.text_decoder.decode(bytes([token])) if token < ByteTokenizer.PAD else ""

    def stats(self) -> dict:
        return {"type": "stats", "input_frames": self.input_frames, "consumed_frames": self.consumed_frames,
                "output_frames": self.output_frames, "underruns": self.underruns,
                "dropped_frames": self.dropped_frames, "skipped_frames": self.skipped_frames,
                "buffered_frames": len(self.frames)}
