"""Where Antiphon keeps what it computes once: ONNX graphs, rendered speech, training runs."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """~/.cache/antiphon, or $ANTIPHON_CACHE."""
    return Path(os.environ.get("ANTIPHON_CACHE", Path.home() / ".cache" / "antiphon"))
