"""The bundled agent asked through the browser page, with the page's own microphone processing:
each held-out question (spoken whole by a synthesizer family) is the fake microphone of a fresh
headless Chromium, and the answer is read from the page's caption (the agent's inner monologue,
which agrees with the judge on 99% of answers: docs/benchmarks.md).

    .venv/bin/python scripts/page_check.py --voices festival,sam --per-intent 1
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import soxr

from antiphon.harness import eval_voices
from antiphon.harness.chromium import CHROMIUM, launch
from antiphon.harness.spawn import ServerProcess

MIC_RATE = 48000  # what sound cards run at
ANSWER_WAIT_S = 4.0  # after the question's audio, for the answer's words


async def ask_on_page(playwright, url: str, audio: np.ndarray, rate: int, seconds: float) -> str:
    with tempfile.TemporaryDirectory() as d:
        mic = Path(d) / "mic.wav"
        soundfile.write(mic, soxr.resample(audio, rate, MIC_RATE), MIC_RATE, subtype="PCM_16")
        browser = await launch(playwright, mic)
        try:
            page = await browser.new_page()
            await page.goto(url)
            await page.click("#connect")
            # frames, not wall time: a busy machine streams the same audio later
            frames = int((seconds + ANSWER_WAIT_S) * 25)
            await page.wait_for_function(f"window.antiphon.sentFrames >= {frames} || window.antiphon.error !== ''",
                                         timeout=120_000, polling=100)
            return " ".join((await page.evaluate("window.antiphon.caption")).split())
        finally:
            await browser.close()


async def main_async(args) -> dict:
    from playwright.async_api import async_playwright

    if CHROMIUM is None:
        raise SystemExit("chromium is not installed (bash scripts/run.sh test installs it)")
    server = ServerProcess()
    try:
        rate, frame = 16000, 640  # the bundled codec's
        qs = eval_voices.questions(rate, frame, args.per_intent, args.seed, args.voices.split(","))
        items = []
        async with async_playwright() as p:
            for q in qs:
                caption = await ask_on_page(p, server.http + "/", q.audio, rate, len(q.audio) / rate)
                items.append({"family": q.family, "voice": q.voice, "intent": q.intent, "user": q.user,
                              "expected": q.expected, "caption": caption, "right": q.expected in caption})
                print(json.dumps(items[-1]))
    finally:
        server.stop()
    by_family = {}
    for fam in dict.fromkeys(i["family"] for i in items):
        mine = [i for i in items if i["family"] == fam]
        by_family[fam] = {"questions": len(mine), "right": sum(i["right"] for i in mine)}
    return {"by_family": by_family, "items": items}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voices", default="festival,sam", help="synthesizer families (default festival,sam)")
    p.add_argument("--per-intent", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the report as JSON here")
    args = p.parse_args()
    rep = asyncio.run(main_async(args))
    print(json.dumps(rep["by_family"]))
    if args.out:
        Path(args.out).write_text(json.dumps(rep, indent=1))


if __name__ == "__main__":
    main()
