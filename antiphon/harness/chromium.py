"""Debian's headless Chromium (never a downloaded one) with a WAV file as its microphone: how the
browser tests and scripts/page_check.py open the page."""
from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def launch(playwright, mic: Path | None, allow: bool = True):
    """`mic`: the WAV the fake microphone plays once (None: no microphone at all); `allow`: whether
    the permission prompt is accepted (otherwise it is dismissed, as a user refusing would)."""
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-extensions",
            "--autoplay-policy=no-user-gesture-required", "--disable-dev-shm-usage"]
    if mic is not None:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={mic}%noloop"]
        args += ["--use-fake-ui-for-media-stream"] if allow else []
    return await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
