"""Files that are either the old version or the new one, never half written: a kill mid-write
(training checkpoints, caches shared by processes) leaves the previous file intact."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """`write(tmp)` writes a sibling temporary file, which then replaces `path` in one step. The
    temporary name carries the process id, so processes writing the same file do not collide."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
