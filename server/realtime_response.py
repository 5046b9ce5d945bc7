"""One Realtime response: its state while open, and its shapes in the protocol. A response is
spoken (the agent's audio with its transcript) or, when the session's output modality is text,
the same words as text without the audio (GA `output_text`, beta `text`)."""
from __future__ import annotations

from . import realtime_events as R


class Response:
    def __init__(self, start_index: int, text_only: bool = False, beta: bool = False):
        self.id, self.item_id = R.new_id("resp"), R.new_id("item")
        self.text_only, self.beta = text_only, beta
        self.start_index = start_index  # first input frame whose output belongs to this response
        self.audio_ms = 0.0
        self.transcript = ""
        self.frames_text: list[tuple[float, str]] = []  # (audio ms at which it was said, text)
        self.spoke = False
        self.quiet_ms = 0.0
        self.waited_ms = 0.0
        self.unsent_text = ""  # transcript text held back until its word is complete
        self.input_frames = 0  # the user's frames this response answers

    @property
    def ids(self) -> dict:
        return {"response_id": self.id, "item_id": self.item_id, "output_index": 0, "content_index": 0}

    @property
    def modalities(self) -> list[str]:
        return ["text"] if self.text_only else ["audio"]

    def part(self) -> dict:
        """The content part, as far as it has been said."""
        if self.text_only:
            return {"type": "text", "text": self.transcript}
        return {"type": "audio", "transcript": self.transcript}

    def item(self, status: str) -> dict:
        if self.text_only:
            content = {"type": "text" if self.beta else "output_text", "text": self.transcript}
        else:
            content = {"type": "audio" if self.beta else "output_audio", "transcript": self.transcript}
        return {"id": self.item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": status, "content": [content]}

    def text_delta(self, delta: str) -> dict:
        kind = "response.output_text.delta" if self.text_only else "response.output_audio_transcript.delta"
        return {"type": kind, **self.ids, "delta": delta}

    def finished_parts(self) -> list[dict]:
        """The events that end the content part, before content_part.done."""
        if self.text_only:
            return [{"type": "response.output_text.done", **self.ids, "text": self.transcript}]
        return [{"type": "response.output_audio.done", **self.ids},
                {"type": "response.output_audio_transcript.done", **self.ids, "transcript": self.transcript}]

    def envelope(self, status: str, **more) -> dict:
        """The response object of response.created / response.done."""
        key = "modalities" if self.beta else "output_modalities"
        return {"id": self.id, "object": "realtime.response", "status": status, key: self.modalities, **more}

    def usage(self, frame_ms: float, num_codebooks: int) -> dict:
        """Tokens as this model counts them: each frame is num_codebooks audio tokens (the user's it
        heard for this turn, the agent's it said and sent), and each transcript byte a text token."""
        heard = self.input_frames * num_codebooks
        said = 0 if self.text_only else round(self.audio_ms / frame_ms) * num_codebooks
        text = len(self.transcript.encode())
        return {"total_tokens": heard + said + text, "input_tokens": heard, "output_tokens": said + text,
                "input_token_details": {"audio_tokens": heard, "text_tokens": 0, "cached_tokens": 0},
                "output_token_details": {"audio_tokens": said, "text_tokens": text}}
