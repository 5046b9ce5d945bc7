"""Messages on their way to one client, bounded in bytes.

A client that stops reading would otherwise grow the server's memory without end: its frames,
events and pongs pile up here, and the WebSocket library's own pongs pile up in the transport's
write buffer. Both count against one bound; at the bound the session is closed (1008) with a
reason that says so, and nothing more is queued."""
from __future__ import annotations

import asyncio
from typing import Callable

MAX_PENDING_BYTES = 4 << 20  # about 40 s of 24 kHz audio for a client that reads


class Outbox:
    def __init__(self, max_bytes: int = MAX_PENDING_BYTES):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.overflowed = False
        self._queue: asyncio.Queue = asyncio.Queue()
        self.transport_bytes: Callable[[], int] = lambda: 0  # the socket's unsent bytes, once connected
        self.on_overflow: Callable[[str], None] | None = None

    def put(self, item: str | bytes) -> None:
        if self.overflowed:
            return
        size = len(item)
        if self.bytes + size + self.transport_bytes() > self.max_bytes:
            self.overflowed = True
            self._queue = asyncio.Queue()  # what was waiting is dropped with the session
            self.bytes = 0
            if self.on_overflow:
                self.on_overflow(f"client is not reading: more than {self.max_bytes >> 20} MiB waiting to be sent")
            return
        self.bytes += size
        self._queue.put_nowait(item)

    async def get(self) -> str | bytes:
        item = await self._queue.get()
        self.bytes -= len(item)
        return item
