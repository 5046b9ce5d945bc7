"""The Realtime session object: what a client may set with session.update, in the GA or the beta
shape, and how the session describes itself back in the shape its client speaks.

Every field of the SDK's session types is handled one of three ways (docs/protocol.md, "Session
fields"): honoured, refused with an error naming it (what would change the answer a client expects:
tools, transcription sessions), or accepted, kept and echoed back while not
changing what the model does (voice, noise reduction, ...). Input transcription is honoured where
the model has a word head, and kept and echoed where it has none. A field the
types do not have is refused, so nothing a client sets is silently dropped.
"""
from __future__ import annotations

from .realtime_events import RATE, RealtimeError
from .vad import VadSettings

# accepted and echoed, not used: each with the check its value must pass to be echoed validly
_STR, _NUM = (str,), (int, float)
KEPT_TOP = {"model": _STR, "tool_choice": (str, dict), "tracing": (str, dict, type(None)),
            "truncation": (str, dict), "include": (list,), "max_output_tokens": (int, str),
            "prompt": (dict, type(None)), "parallel_tool_calls": (bool,), "reasoning": (dict, type(None)),
            "temperature": _NUM, "max_response_output_tokens": (int, str), "speed": _NUM, "voice": _STR}
KEPT_INPUT = {"transcription": (dict, type(None)), "noise_reduction": (dict, type(None))}
KEPT_OUTPUT = {"voice": _STR, "speed": _NUM}
BETA_KEPT = {"input_audio_transcription": "transcription", "input_audio_noise_reduction": "noise_reduction"}
HONOURED = {"type", "audio", "instructions", "output_modalities", "modalities", "tools", "turn_detection",
            "input_audio_format", "output_audio_format"}


def _int(d: dict, key: str, lo: int, hi: int, param: str) -> int | None:
    if key not in d:
        return None
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise RealtimeError("invalid_value", f"`{key}` must be an integer in [{lo}, {hi}]", f"{param}.{key}")
    return v


def _object(d: dict, key: str, param: str) -> dict:
    """d[key] as an object ({} when absent or null); anything else is the client's error."""
    value = d.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RealtimeError("invalid_value", f"`{key}` must be an object, got {type(value).__name__}", f"{param}.{key}")
    return value


def _check_format(fmt, where: str) -> None:
    """pcm16 at 24 kHz mono: the beta string "pcm16" or the GA {"type": "audio/pcm", "rate": 24000}."""
    if fmt == "pcm16":
        return
    ok = (isinstance(fmt, dict) and fmt.get("type") in ("audio/pcm", "pcm16") and fmt.get("rate", RATE) == RATE
          and fmt.get("channels", 1) == 1 and set(fmt) <= {"type", "rate", "channels"})
    if not ok:
        raise RealtimeError("unsupported_format", f"only pcm16 at 24 kHz mono is supported "
                            f"({{\"type\": \"audio/pcm\", \"rate\": 24000}}), got {str(fmt)[:80]}", where)


def _keep(store: dict, d: dict, fields: dict, param: str, rename=None) -> None:
    for key, types in fields.items():
        if key in d:
            v = d[key]
            if not isinstance(v, types) or (types == _NUM and isinstance(v, bool)):
                names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
                raise RealtimeError("invalid_value", f"`{key}` must be {names}", f"{param}.{key}")
            store[(rename or {}).get(key, key)] = v


def _refuse_unknown(d: dict, known: set, param: str) -> None:
    for key in d:
        if key not in known:
            raise RealtimeError("unknown_parameter", f"`{key}` is not a session field this server knows; "
                                "see docs/protocol.md, \"Session fields\"", f"{param}.{key}")


class SessionConfig:
    def __init__(self):
        self.vad: VadSettings | None = VadSettings()
        self.vad_type = "server_vad"
        self.create_response = True
        self.interrupt_response = True
        self.instructions = ""
        self.kept: dict = {}  # accepted, echoed, not used (see the module's docstring)
        self.text_only = False  # output_modalities ["text"]: responses carry the agent's words, not its audio

    def update(self, session) -> None:
        if not isinstance(session, dict):
            raise RealtimeError("invalid_value", "`session` must be an object", "session")
        _refuse_unknown(session, HONOURED | set(KEPT_TOP) | set(BETA_KEPT), "session")
        if session.get("type", "realtime") != "realtime":
            raise RealtimeError("unsupported_session_type", "only `realtime` sessions are offered (speech in, speech "
                                "out); transcription sessions are not", "session.type")
        text_only = self.text_only
        for key in ("output_modalities", "modalities"):
            if key in session:
                value = session[key]
                if not isinstance(value, list) or not value or not set(value) <= {"audio", "text"}:
                    raise RealtimeError("unsupported_modalities", f"`{key}` must be [\"audio\"] (speech and its "
                                        "transcript) or [\"text\"] (the same words as text)", f"session.{key}")
                text_only = "audio" not in value
        if session.get("tools"):
            raise RealtimeError("unsupported_tools", "function calling is not supported: this model is steered "
                                "only by what it hears", "session.tools")
        audio = _object(session, "audio", "session")
        _refuse_unknown(audio, {"input", "output"}, "session.audio")
        input_cfg = _object(audio, "input", "session.audio")
        output_cfg = _object(audio, "output", "session.audio")
        _refuse_unknown(input_cfg, {"format", "turn_detection"} | set(KEPT_INPUT), "session.audio.input")
        _refuse_unknown(output_cfg, {"format"} | set(KEPT_OUTPUT), "session.audio.output")
        for where, fmt in (("session.audio.input.format", input_cfg.get("format")),
                           ("session.audio.output.format", output_cfg.get("format")),
                           ("session.input_audio_format", session.get("input_audio_format")),
                           ("session.output_audio_format", session.get("output_audio_format"))):
            if fmt is not None:
                _check_format(fmt, where)
        kept = dict(self.kept)
        _keep(kept, session, KEPT_TOP, "session")
        _keep(kept, session, {k: KEPT_INPUT[v] for k, v in BETA_KEPT.items()}, "session", rename=BETA_KEPT)
        _keep(kept, input_cfg, KEPT_INPUT, "session.audio.input")
        _keep(kept, output_cfg, KEPT_OUTPUT, "session.audio.output")
        if "turn_detection" in input_cfg or "turn_detection" in session:
            td = input_cfg["turn_detection"] if "turn_detection" in input_cfg else session["turn_detection"]
            self._turn_detection(td)
        if "instructions" in session:
            if not isinstance(session["instructions"], str):
                raise RealtimeError("invalid_value", "`instructions` must be a string", "session.instructions")
            self.instructions = session["instructions"]
        self.kept, self.text_only = kept, text_only

    @property
    def transcribed(self) -> bool:
        """The client asked for its input transcribed (`audio.input.transcription` not null); its
        `model`, `language` and `prompt` are kept, not used: the model's own word head transcribes."""
        return self.kept.get("transcription") is not None

    def _turn_detection(self, td) -> None:
        param = "session.audio.input.turn_detection"
        if td is None:
            self.vad = None
            return
        if not isinstance(td, dict) or td.get("type") not in ("server_vad", "semantic_vad"):
            raise RealtimeError("unsupported_turn_detection", "turn_detection must be null, "
                                "{\"type\": \"server_vad\", ...} or {\"type\": \"semantic_vad\", ...}", param)
        # semantic_vad: the full-duplex model already answers when a question is complete; its turn
        # events come from the same energy VAD, with the eagerness accepted and not used
        self.vad_type = td["type"]
        vad = VadSettings()
        if "threshold" in td:
            t = td["threshold"]
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
                raise RealtimeError("invalid_value", "`threshold` must be a number in [0, 1]", param + ".threshold")
            vad.threshold = float(t)
        vad.prefix_padding_ms = _int(td, "prefix_padding_ms", 0, 10000, param) or (
            0 if td.get("prefix_padding_ms") == 0 else vad.prefix_padding_ms)
        silence = _int(td, "silence_duration_ms", 40, 10000, param)
        vad.silence_duration_ms = silence if silence is not None else vad.silence_duration_ms
        for key in ("create_response", "interrupt_response"):
            if key in td:
                if not isinstance(td[key], bool):
                    raise RealtimeError("invalid_value", f"`{key}` must be a boolean", f"{param}.{key}")
                setattr(self, key, td[key])
        self.vad = vad

    def _turn_detection_object(self) -> dict | None:
        vad = self.vad
        return None if vad is None else {
            "type": self.vad_type, "threshold": vad.threshold, "prefix_padding_ms": vad.prefix_padding_ms,
            "silence_duration_ms": vad.silence_duration_ms, "create_response": self.create_response,
            "interrupt_response": self.interrupt_response}

    def describe(self, session_id: str, model: str, beta: bool = False) -> dict:
        kept, td = self.kept, self._turn_detection_object()
        if beta:  # the beta types admit only OpenAI's model names: the model is left out
            out = {"id": session_id, "object": "realtime.session",
                   "modalities": ["text"] if self.text_only else ["audio", "text"],
                   "instructions": self.instructions, "voice": kept.get("voice", "alloy"),
                   "input_audio_format": "pcm16", "output_audio_format": "pcm16", "turn_detection": td,
                   "input_audio_transcription": kept.get("transcription"),
                   "input_audio_noise_reduction": kept.get("noise_reduction"), "tools": [],
                   "tool_choice": kept.get("tool_choice", "auto"), "temperature": kept.get("temperature", 0.8),
                   "max_response_output_tokens": kept.get("max_response_output_tokens", "inf")}
            return out | ({"speed": kept["speed"]} if "speed" in kept else {})
        fmt = {"type": "audio/pcm", "rate": RATE}
        input_cfg = {"format": fmt, "turn_detection": td} | {k: kept[k] for k in KEPT_INPUT if k in kept}
        output_cfg = {"format": fmt} | {k: kept[k] for k in KEPT_OUTPUT if k in kept}
        top = {k: kept[k] for k in ("tool_choice", "tracing", "truncation", "include", "max_output_tokens", "prompt")
               if k in kept}
        return {"type": "realtime", "object": "realtime.session", "id": session_id, "model": model,
                "output_modalities": ["text"] if self.text_only else ["audio"], "instructions": self.instructions,
                "tools": [],
                "audio": {"input": input_cfg, "output": output_cfg}} | top
