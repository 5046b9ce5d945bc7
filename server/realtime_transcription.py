"""The user's items' input transcription, from the words the model's word head names.

The head names a word a frame or two after its sound ends, on the output frame that answers that
input frame. A word belongs to the first committed item whose audio ends less than LAG frames
before it, else to the buffer not yet committed. As the GA API does, an item's deltas follow its
commit (words heard before it are sent then) and `.completed` comes once the engine has answered
LAG frames past the item's end, when no more of its words can come.
"""
from __future__ import annotations

import collections
import dataclasses

LAG = 6  # frames after an item's end in which its last word may still be named: the VAD ends an item
# where the energy falls, up to 3 frames before the word head names the last word (measured)


@dataclasses.dataclass
class _Item:
    id: str
    end: int  # the input frame the item's audio ends at (exclusive)
    start: int  # its first input frame, for the usage's seconds
    sent: bool  # transcribed for the client; otherwise its words are only kept from the next item
    words: list[str] = dataclasses.field(default_factory=list)


class InputTranscription:
    def __init__(self, emit, frame_seconds: float, on_completed=None):
        self.emit, self.frame_seconds = emit, frame_seconds
        self.on_completed = on_completed  # (item id, transcript): the conversation keeps it
        self.pending: list[tuple[int, str]] = []  # (input frame, word) of the buffer not yet committed
        self.items: collections.deque[_Item] = collections.deque()  # committed, not yet completed
        self.buffer_start = 0  # the input frame the uncommitted buffer began at

    def heard(self, index: int, word: str) -> None:
        for item in self.items:
            if index < item.end + LAG:
                self._add(item, word)
                return
        self.pending.append((index, word))

    def commit(self, item_id: str, end: int, transcribed: bool) -> None:
        """The buffer up to input frame `end` became item `item_id`; its words are sent, those so
        far now, when `transcribed` (the client asked for transcription), and dropped otherwise."""
        mine = [w for i, w in self.pending if i < end + LAG]
        self.pending = [(i, w) for i, w in self.pending if i >= end + LAG]
        item = _Item(item_id, end, self.buffer_start, transcribed)
        self.buffer_start = end
        self.items.append(item)
        for word in mine:
            self._add(item, word)

    def answered(self, index: int) -> None:
        """The engine has answered input frame `index`: items that can gain no more words complete."""
        while self.items and index >= self.items[0].end + LAG - 1:
            item = self.items.popleft()
            if not item.sent:
                continue
            transcript = " ".join(item.words)
            if self.on_completed is not None:
                self.on_completed(item.id, transcript)
            seconds = round(max(item.end - item.start, 0) * self.frame_seconds, 3)
            self.emit({"type": "conversation.item.input_audio_transcription.completed", "item_id": item.id,
                       "content_index": 0, "transcript": transcript,
                       "usage": {"type": "duration", "seconds": seconds}})

    def _add(self, item: _Item, word: str) -> None:
        item.words.append(word)
        if item.sent:
            self.emit({"type": "conversation.item.input_audio_transcription.delta", "item_id": item.id,
                       "content_index": 0, "delta": word if len(item.words) == 1 else " " + word})
