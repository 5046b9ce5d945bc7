"""A WebSocket client on a plain blocking socket (websockets' sans-I/O protocol), for trials the
asyncio client cannot play: one that never reads what the server sends."""
from __future__ import annotations

import socket

from websockets.client import ClientProtocol
from websockets.uri import parse_uri


def open_raw(port: int, path: str = "/ws", timeout: float = 10) -> tuple[socket.socket, ClientProtocol]:
    """A connected socket past the handshake, and the protocol that frames what is sent on it."""
    proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"))
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    proto.send_request(proto.connect())
    sock.sendall(b"".join(proto.data_to_send()))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"the server refused the WebSocket: {head.splitlines()[0]!r}")
    proto.receive_data(head)
    return sock, proto
