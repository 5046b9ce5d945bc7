"""One connected session: its input frames (resampled to the codec rate), its output path back to
the client, its counters. The event loop fills and drains it; the engine thread reads frames."""
from __future__ import annotations

import asyncio
import collections
import json
import time
import traceback
import uuid

import numpy as np
import soxr

from antiphon.model.tokenizer import ByteTokenizer

from antiphon.common.audio import frame_rms
from antiphon.common.wire import CLOSE_INTERNAL_ERROR

from .outbox import Outbox


TARGET_QUEUE = 2  # input frames allowed to wait before quiet ones are skipped
JITTER_QUEUE = 6  # a client more than this many frames ahead of real time sends ahead on purpose (a file)
QUIET_RMS = 0.003  # about -50 dBFS


class Session:
    def __init__(self, frame_size: int, codec_rate: int, max_buffer_frames: int, loop: asyncio.AbstractEventLoop,
                 text_decoder=None):
        self.id = uuid.uuid4().hex[:12]
        self.frame_size, self.codec_rate = frame_size, codec_rate
        self.client_rate = codec_rate
        self.max_buffer_frames = max_buffer_frames
        self.loop = loop
        self.frames: collections.deque[np.ndarray] = collections.deque()
        self._pending = np.zeros(0, dtype=np.float32)
        self._rs_in = self._rs_out = None
        self.outbox = Outbox()
        self.sampling = None  # model.SamplingSettings once the client sets any
        self.frame_marks = False
        self.started_audio = False
        self.first_audio_at: float | None = None  # monotonic time of the first audio
        self.slot: int | None = None
        self.input_frames = 0  # frames received from the client (codec rate)
        self.consumed_frames = 0  # of those, taken by the engine
        self.output_frames = 0
        self.underruns = 0
        self.dropped_frames = 0
        self.skipped_frames = 0
        self.skip_quiet = True
        self.hold_ticks = 0  # ticks a slot may sit out while its queue is empty, before silence is fed
        self._held = 0  # consecutive ticks sat out (engine thread)
        # the model's tokenizer turns its text tokens into text, one token at a time
        self.text_decoder = text_decoder if text_decoder is not None else ByteTokenizer().text_decoder()
        self.recorder = None
        self.on_frames = None  # the engine's wake-up, called when new input frames are queued
        self.on_input = None  # called with each frame accepted into the input buffer (the Realtime adapter's)
        self.on_output = self.deliver  # where the engine's output frames go: the /ws client, or an adapter
        self.closer = None  # closes the connection with (code, reason); set by the server
        self.closed = False

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
        if not self.started_audio:
            self.first_audio_at = time.monotonic()
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
            if self.on_input is not None:
                self.on_input(frame)
        self.dropped_frames += dropped
        if n and self.on_frames is not None:
            self.on_frames()
        return dropped

    def frames_ahead(self) -> float:
        """How many frames the client has sent beyond real time since its first audio."""
        elapsed = time.monotonic() - self.first_audio_at if self.first_audio_at is not None else 0.0
        return self.input_frames - elapsed * self.codec_rate / self.frame_size

    def sits_out(self) -> bool:
        """Engine thread: whether this tick passes the slot by, its queue empty. A client that sends
        audio in bursts (a Realtime client's 100 ms appends) would otherwise have silence fed into
        the middle of its words, which the model then mishears; after `hold_ticks` empty ticks the
        slot runs on silence, so the agent still answers a client that has stopped sending."""
        if self.frames:
            self._held = 0
            return False
        if self._held >= self.hold_ticks:
            return False
        self._held += 1
        return True

    def take_frame(self) -> np.ndarray | None:
        """Engine thread: the next input frame, or None (an underrun, fed as silence).

        A queue longer than TARGET_QUEUE is latency: every underrun leaves one more frame queued
        for good, and a server that fell behind leaves many. While it is longer, a quiet frame at
        the head is skipped (counted in `skipped_frames`): silence is shortened, speech never is.
        A client sending ahead of real time on purpose (a file) keeps every frame, and so does the
        Realtime endpoint, whose buffer is the client's."""
        try:
            frame = self.frames.popleft()
            if self.skip_quiet and len(self.frames) >= TARGET_QUEUE and self.frames_ahead() <= JITTER_QUEUE:
                while len(self.frames) >= TARGET_QUEUE and frame_rms(frame) < QUIET_RMS:
                    self.skipped_frames += 1
                    self.consumed_frames += 1
                    frame = self.frames.popleft()
        except IndexError:
            self.underruns += 1
            return None
        self.consumed_frames += 1
        return frame

    # ---- from the engine thread, on the event loop ----
    def receive_output(self, out) -> None:
        """One tick's output for this session (an engine.OutputFrame). A failure here is this
        session's alone: it is closed with 1011 and the reason."""
        if self.closed:
            return
        try:
            self.on_output(out)
        except Exception as e:  # noqa: BLE001 - one session's fault must not reach the engine
            traceback.print_exc()
            self.fault(f"{type(e).__name__}: {e}")

    def fault(self, reason: str) -> None:
        """The engine could not serve this session: close it with 1011 and say why."""
        self.close(CLOSE_INTERNAL_ERROR, f"session failed: {reason}")

    def close(self, code: int, reason: str) -> None:
        """The server ends the session: no more output, and its connection closed with the reason."""
        if not self.closed:
            self.finish()
            if self.closer is not None:
                self.closer(code, reason)

    def finish(self) -> None:
        """The session is over (closed by either side): it takes no more output, its recording ends."""
        self.closed = True
        if self.recorder is not None:
            self.recorder.close()

    def deliver(self, out) -> None:
        """Event loop, /ws: one output frame (an engine.OutputFrame) to the client: the agent's audio,
        the text its token completes, and the word the user has just finished, if one ended."""
        index = self.output_frames
        self.output_frames += 1
        if self.frame_marks:
            self.outbox.put(json.dumps({"type": "frame", "index": index, "input_index": out.input_index}))
        self.outbox.put(self.client_pcm16(out.pcm))
        if self.recorder is not None:
            self.recorder.frame(out.user_pcm, out.pcm)
        piece = self.text_of(out.token)
        if piece:
            self.send_event({"type": "text", "text": piece, "frame": index})
        if out.heard:
            self.send_event({"type": "user_text", "text": out.heard, "frame": index,
                             "input_index": out.input_index})

    def send_event(self, event: dict) -> None:
        self.outbox.put(json.dumps(event))
        if self.recorder is not None:
            self.recorder.event(event)

    def client_pcm16(self, pcm: np.ndarray) -> bytes:
        """An output frame (codec rate, float32) as PCM16 at the client's rate."""
        out = pcm if self._rs_out is None else self._rs_out.resample_chunk(pcm)
        return (np.clip(out, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()

    def text_of(self, token: int) -> str:
        """The text a token completes (often nothing: pad, or part of a character)."""
        return self.text_decoder.decode(token)

    def stats(self) -> dict:
        return {"type": "stats", "input_frames": self.input_frames, "consumed_frames": self.consumed_frames,
                "output_frames": self.output_frames, "underruns": self.underruns,
                "dropped_frames": self.dropped_frames, "skipped_frames": self.skipped_frames,
                "buffered_frames": len(self.frames)}
