"""The command line that starts another `antiphon` process from this one (a server, a replica, a tool)."""
import sys


def antiphon_command(*args: str) -> list[str]:
    """`python -P -m antiphon.cli ARGS`: -P keeps the working directory off sys.path, so that when it is this
    repository its top-level folders (`kernels/`, `model/`) cannot hide installed distributions of the same
    name (transformers imports the `kernels` distribution)."""
    return [sys.executable, "-P", "-m", "antiphon.cli", *args]
