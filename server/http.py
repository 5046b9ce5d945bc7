"""Plain HTTP on the WebSocket port: /healthz, /readyz, /metrics and the browser client's files."""
from __future__ import annotations

import mimetypes
from importlib import resources
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Response

WEB_DIR = Path(str(resources.files("antiphon.client") / "web"))


def response(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> Response:
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable", 405: "Method Not Allowed"}.get(status, "")
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store")])
    return Response(status, reason, headers, body)


def static_file(path: str) -> Response:
    name = "index.html" if path in ("", "/") else path.lstrip("/")
    target = (WEB_DIR / name).resolve()
    if WEB_DIR.resolve() not in target.parents or not target.is_file():
        return response(404, f"not found: {path}\n".encode())
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype.endswith("javascript"):
        ctype += "; charset=utf-8"
    return response(200, target.read_bytes(), ctype)
