"""A Realtime API session on the engine: the full-duplex model mapped onto turns.

The model hears every input frame and writes an output frame every tick, whether or not a response
is open. What the protocol calls a response is a window onto that stream: it opens when the user's
turn ends (server VAD, or the client's commit + response.create) and shows the agent's frames from
the end of the user's speech on, including frames the model produced before the window opened (the
model answers about 200 ms after the user stops, often before `silence_duration_ms` has passed);
it closes when the agent has spoken and then been silent for END_SILENCE_MS, or when the agent has
not spoken at all for NO_SPEECH_MS. Agent frames outside a response are not sent.
"""
from __future__ import annotations

import base64
import collections
import json

import numpy as np

from antiphon.common.audio import SPEECH_RMS as SPEAKING_RMS, frame_rms
from antiphon.model.data import Voice
from antiphon.model.data.sentences import speak

from . import realtime_events as R
from .realtime_config import SessionConfig
from .realtime_conversation import Conversation, parse_user_item, user_item
from .realtime_response import Response
from .realtime_transcription import InputTranscription
from .session import Session
from .vad import EnergyVad

HOLD_TICKS = 3  # a slot waits this many empty ticks for a client's next append (clients send 20-100 ms)
END_SILENCE_MS = 600
NO_SPEECH_MS = 3000
TEXT_VOICE = Voice("en-us", "m3", 160, 50)  # speaks a client's text items into the user channel
HISTORY_FRAMES = 250  # agent frames kept for a response that opens late (10 s at 25 Hz; 0.5 MB)
# what --record keeps of a Realtime session: its turns and the agent's words, not the audio deltas
RECORDED_EVENTS = {"input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                   "input_audio_buffer.committed", "response.created", "response.done",
                   "response.output_audio_transcript.delta", "response.audio_transcript.delta"}


class RealtimeSession:
    """Composes the engine's session: it takes the session's input frames (for turn-taking) and its
    output frames (for responses), and leaves the buffering, resampling and engine side to it."""

    def __init__(self, session: Session, *, model_name: str, beta: bool, num_codebooks: int = 1,
                 transcribes: bool = False):
        self.session = session
        self.id, self.outbox = session.id, session.outbox
        session.set_client_rate(R.RATE)
        session.skip_quiet = False  # the input buffer is the client's: every frame is heard
        session.hold_ticks = HOLD_TICKS
        session.on_input, session.on_output = self.on_input_frame, self.deliver
        self.config = SessionConfig()
        self.model_name, self.beta = model_name, beta
        self.frame_ms = 1000 * session.frame_size / session.codec_rate
        self.transcribes = transcribes  # the model has a word head: input transcription can be honoured
        self.transcription = InputTranscription(self.emit, self.frame_ms / 1000, self.set_transcript)
        self.vad = EnergyVad(self.config.vad, self.frame_ms) if self.config.vad else None
        self.history: collections.deque = collections.deque(maxlen=HISTORY_FRAMES)
        self.response: Response | None = None
        self.conversation = Conversation(self.emit, beta)
        self.responses: dict[str, Response] = {}  # by assistant item id, for truncation
        self.num_codebooks = num_codebooks  # audio tokens per frame, for usage
        self.turn_start = 0  # the input frame the current user turn began at
        self.unheard_by_vad = False  # while an item's audio is queued: heard by the model, not by turn-taking
        self.last_voiced: int | None = None  # the newest voiced input frame since the last commit
        self.user_item = R.new_id("item")  # the user item the current buffer will become
        self.buffer_frames = 0  # frames appended since the last commit or clear
        self.speech_end_index: int | None = None

    # ---- out ----
    def emit(self, event: dict) -> None:
        event.setdefault("event_id", R.new_id("event"))
        if self.beta:
            event["type"] = R.BETA_NAMES.get(event["type"], event["type"])
        self.outbox.put(json.dumps(event))
        if self.session.recorder is not None and event["type"] in RECORDED_EVENTS:
            self.session.recorder.event(event)

    def fail(self, e: R.RealtimeError, client_event_id: str | None) -> None:
        self.outbox.put(json.dumps(R.error_event(e, client_event_id)))

    # ---- client events ----
    def on_event(self, event: dict) -> None:
        kind = event["type"]
        if kind == "session.update":
            self.config.update(event.get("session"))
            self.vad = EnergyVad(self.config.vad, self.frame_ms) if self.config.vad else None
            self.emit({"type": "session.updated", "session": self.config.describe(self.id, self.model_name, self.beta)})
        elif kind == "input_audio_buffer.append":
            dropped = self.session.push_pcm16(R.audio_of(event))
            if dropped:
                raise R.RealtimeError("input_audio_buffer_overflow", f"the input buffer is full; {dropped} "
                                      "frames were dropped (send audio closer to real time)")
        elif kind == "input_audio_buffer.commit":
            if self.buffer_frames == 0:
                raise R.RealtimeError("input_audio_buffer_commit_empty", "the input audio buffer is empty")
            # push-to-talk: the turn ended with its last voiced frame, not when the button was let go;
            # the model may have answered since, and the response shows that answer from the start
            end = self.last_voiced + 1 if self.last_voiced is not None else self.session.input_frames
            self.commit(min(end, self.session.input_frames))
        elif kind == "input_audio_buffer.clear":
            self.session.frames.clear()
            self.buffer_frames, self.last_voiced = 0, None
            self.emit({"type": "input_audio_buffer.cleared"})
        elif kind == "response.create":
            if self.response:
                raise R.RealtimeError("conversation_already_has_active_response",
                                      f"response {self.response.id} is still in progress")
            start = self.speech_end_index if self.speech_end_index is not None else self.session.consumed_frames
            self.open_response(start)
        elif kind == "response.cancel":
            if not self.response:
                raise R.RealtimeError("response_cancel_not_active", "there is no response in progress to cancel")
            self.close_response("cancelled", "client_cancelled")
        elif kind == "conversation.item.truncate":
            self.truncate(event)
        elif kind == "conversation.item.create":
            self.create_item(event)
        elif kind == "conversation.item.retrieve":
            self.conversation.retrieve(event.get("item_id"))
        elif kind == "conversation.item.delete":
            self.conversation.delete(event.get("item_id"))

    def create_item(self, event: dict) -> None:
        """A user message the model hears: text is spoken into the user channel (espeak-ng, one
        fixed voice), audio is played into it. Neither takes part in turn detection: as with text
        sent to a hosted model, the client asks for the answer with response.create."""
        item_id, content, text, pcm16 = parse_user_item(event)
        if text is not None:
            speech = speak(text, TEXT_VOICE, R.RATE)
            pcm16 = (np.clip(speech / max(float(np.abs(speech).max()), 1e-6) * 0.5, -1, 1) * 32767).astype(
                "<i2").tobytes()
        self.unheard_by_vad = True
        dropped = self.session.push_pcm16(pcm16 + bytes(2 * self.session.frame_size * R.RATE // self.session.codec_rate))
        self.unheard_by_vad = False
        if dropped:
            raise R.RealtimeError("input_audio_buffer_overflow", "the input buffer is full; the item was cut")
        self.speech_end_index = self.session.input_frames - 1  # its answer starts after it (one frame of silence)
        self.conversation.add(user_item(item_id, content), done=True)
        self.transcription.commit(item_id, self.session.input_frames, transcribed=False)

    def on_input_frame(self, frame: np.ndarray) -> None:
        if self.unheard_by_vad:
            return
        self.buffer_frames += 1
        if frame_rms(frame) > SPEAKING_RMS:
            self.last_voiced = self.session.input_frames - 1
        if self.vad:
            self.on_vad(self.vad.push(frame))

    def on_vad(self, event) -> None:
        if event is None:
            return
        if event.kind == "started":
            self.emit({"type": "input_audio_buffer.speech_started", "audio_start_ms": event.ms,
                       "item_id": self.user_item})
            if self.response and self.config.interrupt_response:
                self.close_response("cancelled", "turn_detected")
            return
        self.emit({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": event.ms, "item_id": self.user_item})
        end_index = int(event.ms // self.frame_ms)
        self.commit(end_index)
        if self.config.create_response and not self.response:
            self.open_response(end_index)

    def commit(self, end_index: int) -> None:
        item = self.user_item
        self.emit({"type": "input_audio_buffer.committed", "item_id": item,
                   "previous_item_id": self.conversation.last})
        self.conversation.add(user_item(item, [{"type": "input_audio", "transcript": None}]), done=True)
        self.transcription.commit(item, end_index, transcribed=self.transcribes and self.config.transcribed)
        self.user_item = R.new_id("item")
        self.buffer_frames, self.last_voiced = 0, None
        self.speech_end_index = end_index

    def set_transcript(self, item_id: str, transcript: str) -> None:
        """A user item's input transcription is complete: the conversation's copy holds it."""
        item = self.conversation.items.get(item_id)
        if item is not None:
            item["content"][0]["transcript"] = transcript

    # ---- responses ----
    def open_response(self, start_index: int) -> None:
        r = self.response = Response(start_index, text_only=self.config.text_only, beta=self.beta)
        r.input_frames = max(start_index - self.turn_start, 0)
        self.emit({"type": "response.created", "response": r.envelope("in_progress", output=[])})
        self.emit({"type": "response.output_item.added", "response_id": r.id, "output_index": 0,
                   "item": r.item("in_progress")})
        self.conversation.add(r.item("in_progress"), done=False)
        self.emit({"type": "response.content_part.added", **r.ids, "part": r.part()})
        self.responses[r.item_id] = r
        for input_index, pcm16, rms, text in list(self.history):  # what the model already said
            if self.response is not r:  # it may already be over
                break
            if input_index >= start_index:
                self.stream(pcm16, rms, text)

    def close_response(self, status: str, reason: str | None = None) -> None:
        r, self.response = self.response, None
        if r.unsent_text:
            self.emit(r.text_delta(r.unsent_text))
            r.unsent_text = ""
        self.turn_start = max(self.session.consumed_frames, r.start_index)
        for event in r.finished_parts():
            self.emit(event)
        self.emit({"type": "response.content_part.done", **r.ids, "part": r.part()})
        item = r.item("completed" if status == "completed" else "incomplete")
        self.emit({"type": "response.output_item.done", "response_id": r.id, "output_index": 0, "item": item})
        self.conversation.done(item)
        details = {"type": status, "reason": reason} if reason else None
        self.emit({"type": "response.done", "response": r.envelope(
            status, status_details=details, output=[item], usage=r.usage(self.frame_ms, self.num_codebooks))})

    def stream(self, pcm16: bytes, rms: float, text: str) -> None:
        """One agent frame into the open response (leading silence is skipped)."""
        r = self.response
        speaking = rms > SPEAKING_RMS
        if not r.spoke and not speaking and not text:
            r.waited_ms += self.frame_ms
            if r.waited_ms >= NO_SPEECH_MS:
                self.close_response("completed")
            return
        r.spoke = True
        if not r.text_only:
            self.emit({"type": "response.output_audio.delta", **r.ids, "delta": base64.b64encode(pcm16).decode()})
        if text:
            r.transcript += text
            r.frames_text.append((r.audio_ms, text))
            r.unsent_text += text
            if r.unsent_text.endswith(" "):  # a delta per word, as hosted models send them
                self.emit(r.text_delta(r.unsent_text))
                r.unsent_text = ""
        # what the client received: the resampler's chunks are not all one frame long
        r.audio_ms += self.frame_ms if r.text_only else len(pcm16) / 2 / R.RATE * 1000
        r.quiet_ms = 0.0 if speaking else r.quiet_ms + self.frame_ms
        if r.quiet_ms >= END_SILENCE_MS:
            self.close_response("completed")

    def truncate(self, event: dict) -> None:
        item_id = event.get("item_id")
        if not isinstance(item_id, str) or item_id not in self.responses:
            raise R.RealtimeError("item_truncate_invalid_item_id", f"no assistant audio item {item_id!r}", "item_id")
        if event.get("content_index", 0) != 0:
            raise R.RealtimeError("invalid_value", "`content_index` must be 0 (one audio part per item)",
                                  "content_index")
        end = event.get("audio_end_ms")
        r = self.responses[item_id]
        if isinstance(end, bool) or not isinstance(end, int) or end < 0 or end > r.audio_ms + 1:
            raise R.RealtimeError("invalid_value", f"`audio_end_ms` must be an integer in [0, {int(r.audio_ms)}] "
                                  "(the audio sent for this item)", "audio_end_ms")
        if self.response is r:
            self.close_response("cancelled", "client_cancelled")
        r.transcript = "".join(t for ms, t in r.frames_text if ms < end)  # only what was heard
        r.audio_ms = float(end)
        self.emit({"type": "conversation.item.truncated", "item_id": item_id, "content_index": 0,
                   "audio_end_ms": end})

    # ---- engine ----
    def deliver(self, out) -> None:
        """One engine output frame (an engine.OutputFrame): into the open response, the history a
        late response reads, and the user's transcript."""
        s = self.session
        s.output_frames += 1
        pcm16, rms, text = s.client_pcm16(out.pcm), frame_rms(out.pcm), s.text_of(out.token)
        if s.recorder is not None:
            s.recorder.frame(out.user_pcm, out.pcm)
        index = out.input_index if out.input_index is not None else s.consumed_frames
        if out.heard and out.input_index is not None:
            self.transcription.heard(index, out.heard)
        self.transcription.answered(index)
        self.history.append((index, pcm16, rms, text))
        if self.response and index >= self.response.start_index:
            self.stream(pcm16, rms, text)
