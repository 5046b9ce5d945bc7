"""The items of one Realtime conversation, in order: what `conversation.item.retrieve`, `.delete`
and `.truncate` act on, and the events that announce them (GA: `conversation.item.added`, then
`.done` when the item is complete; beta clients get `conversation.item.created` once)."""
from __future__ import annotations

import collections
from typing import Callable

from . import realtime_events as R


class Conversation:
    def __init__(self, emit: Callable[[dict], None], beta: bool):
        self.emit, self.beta = emit, beta
        self.items: collections.OrderedDict[str, dict] = collections.OrderedDict()
        self.last: str | None = None  # the newest item's id: the next item's previous_item_id

    def add(self, item: dict, done: bool) -> None:
        """A new item at the end; `done`: it is already complete (a user's committed audio)."""
        previous, self.last = self.last, item["id"]
        self.items[item["id"]] = item
        if self.beta:
            self.emit({"type": "conversation.item.created", "previous_item_id": previous, "item": item})
            return
        self.emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        if done:
            self.emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    def done(self, item: dict) -> None:
        """An item that was in progress (an assistant's answer) is complete."""
        self.items[item["id"]] = item
        if not self.beta:
            ids = list(self.items)
            at = ids.index(item["id"])
            self.emit({"type": "conversation.item.done", "previous_item_id": ids[at - 1] if at else None,
                       "item": item})

    def get(self, item_id) -> dict:
        if not isinstance(item_id, str) or item_id not in self.items:
            raise R.RealtimeError("item_not_found", f"no item {item_id!r} in this conversation", "item_id")
        return self.items[item_id]

    def retrieve(self, item_id) -> None:
        self.emit({"type": "conversation.item.retrieved", "item": self.get(item_id)})

    def delete(self, item_id) -> None:
        self.get(item_id)
        del self.items[item_id]
        if self.last == item_id:
            self.last = next(reversed(self.items), None)
        self.emit({"type": "conversation.item.deleted", "item_id": item_id})


def user_item(item_id: str, content: list[dict]) -> dict:
    return {"id": item_id, "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
            "content": content}


def parse_user_item(event: dict) -> tuple[str, list[dict], str | None, bytes | None]:
    """A `conversation.item.create` of a user message: (id, content for the item, its text, its pcm16
    audio); one part, text or audio. Anything else is refused naming what is supported."""
    item = event.get("item")
    if not isinstance(item, dict):
        raise R.RealtimeError("invalid_value", "`item` must be an object", "item")
    if item.get("type", "message") != "message" or item.get("role") != "user":
        raise R.RealtimeError("unsupported_item", "only user messages can be created here (no assistant or "
                              "system messages, no function calls: this model is steered by what it hears)", "item")
    content = item.get("content")
    if not isinstance(content, list) or len(content) != 1 or not isinstance(content[0], dict):
        raise R.RealtimeError("invalid_value", "`item.content` must hold one part: input_text or input_audio",
                              "item.content")
    part = content[0]
    item_id = item.get("id") if isinstance(item.get("id"), str) else R.new_id("item")
    if part.get("type") == "input_text":
        text = part.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
            raise R.RealtimeError("invalid_value", f"`text` must be 1 to {MAX_TEXT_CHARS} characters",
                                  "item.content.0.text")
        return item_id, [{"type": "input_text", "text": text}], text, None
    if part.get("type") == "input_audio":
        pcm = R.audio_of(part)
        return item_id, [{"type": "input_audio", "transcript": None}], None, pcm
    raise R.RealtimeError("unsupported_content", "a user message holds input_text or input_audio",
                          "item.content.0.type")


MAX_TEXT_CHARS = 500  # spoken into the user channel: a few sentences
