"""The load generator: N simulated users, each a real client streaming questions in real time
through the server, in this process or spread over several (a single process is the limit of a
big machine's measurement); and the server's counters around them."""
from __future__ import annotations

import asyncio
import re
import time
import urllib.request

import numpy as np

from antiphon.client.connection import AntiphonClient, pcm16_to_float
from antiphon.client.pacing import send_frames
from antiphon.common.audio import frame_rms

from .bench_stats import frame_latencies, percentiles, response_latency

STARTUP_S = 4.0  # for the user processes to import and connect before the measured level begins


def scrape(url: str) -> dict:
    http = url.replace("ws://", "http://").rsplit("/", 1)[0]
    text = urllib.request.urlopen(http + "/metrics", timeout=5).read().decode()
    vals = {}
    for name in ("antiphon_late_ticks_total", "antiphon_tick_seconds_count", "antiphon_tick_seconds_sum",
                 "antiphon_input_underruns_total"):
        m = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
        vals[name] = float(m.group(1)) if m else 0.0
    return vals


def phase_offset(seed: int, period: float) -> float:
    """Where in a frame a spread user's clock starts: seconds in [0, period), its own generator's
    draw, so that the questions the user asks stay those of its seed."""
    return float(np.random.default_rng([seed, 1]).uniform(0, period))


async def one_user(url, questions, seconds, seed, phase_spread: bool = False):
    """One user; with `phase_spread` its frame clock starts at a random point of a frame after it
    connects, as users who joined at different times have (otherwise all start as they connect)."""
    rng = np.random.default_rng(seed)
    client = await AntiphonClient.connect(url, frame_marks=True)
    n, period = client.frame_samples, client.hello["frame_ms"] / 1000
    if phase_spread:
        await asyncio.sleep(phase_offset(seed, period))
    script, ends = [], []
    while sum(map(len, script)) < seconds * client.sample_rate:
        q = questions[rng.integers(len(questions))]
        script.append(q)
        ends.append(sum(map(len, script)))
        script.append(np.zeros(int(1.5 * client.sample_rate), np.float32))
    audio = np.concatenate(script)[: int(seconds * client.sample_rate)]
    sent_at, marks, outputs = {}, [], []
    loop = asyncio.get_running_loop()
    start = loop.time()
    total = len(audio) // n

    async def send():  # frame i at start + (i + 1) periods: its samples have been "spoken" by then
        await send_frames(client, lambda i: audio[i * n:(i + 1) * n] if i < total else None,
                          start=start + period, on_sent=sent_at.__setitem__)

    task = asyncio.create_task(send())
    pending_mark = None
    while not (task.done() and (pending_mark is not None and pending_mark >= total - 1)):
        msg = await client.recv(timeout=10)
        now = loop.time()
        if isinstance(msg, bytes):
            outputs.append((now, frame_rms(pcm16_to_float(msg))))
        elif msg.get("type") == "frame":
            marks.append((now, msg["input_index"]))
            if msg["input_index"] is not None:
                pending_mark = msg["input_index"]
        if now - start > seconds + 5:
            break
    await task
    await client.close()
    utter_end_times = [start + (e // n) * period for e in ends if e < len(audio)]
    responses = [response_latency(t, outputs, threshold=0.01, until=t + 1.5) for t in utter_end_times]
    return frame_latencies(sent_at, marks), [r for r in responses if r is not None]


async def users(url, seeds, seconds, questions, phase_spread: bool = False) -> list:
    return await asyncio.gather(*(one_user(url, questions, seconds, s, phase_spread) for s in seeds))


def users_in_process(url, seeds, seconds, questions, start_at: float, phase_spread: bool = False):
    """One worker process's share of the users, started together at `start_at` (wall clock);
    returns their results and the process's CPU seconds."""
    time.sleep(max(0.0, start_at - time.time()))
    cpu = time.process_time()
    results = asyncio.run(users(url, seeds, seconds, questions, phase_spread))
    return results, time.process_time() - cpu


async def run_level(url, n, seconds, questions, processes: int = 1, phase_spread: bool = False):
    if processes <= 1:
        before, cpu = scrape(url), time.process_time()
        results = await users(url, range(n), seconds, questions, phase_spread)
        client_cpu = time.process_time() - cpu
    else:
        import concurrent.futures
        import multiprocessing

        loop = asyncio.get_running_loop()
        start_at = time.time() + STARTUP_S
        shares = [list(range(n))[i::processes] for i in range(processes)]
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = [loop.run_in_executor(pool, users_in_process, url, seeds, seconds, questions, start_at,
                                          phase_spread)
                     for seeds in shares if seeds]
            await asyncio.sleep(max(0.0, start_at - time.time()))
            before = scrape(url)
            done = await asyncio.gather(*parts)
        results = [r for part, _ in done for r in part]
        client_cpu = sum(c for _, c in done)
    after = scrape(url)
    ticks = after["antiphon_tick_seconds_count"] - before["antiphon_tick_seconds_count"]
    late = after["antiphon_late_ticks_total"] - before["antiphon_late_ticks_total"]
    tick_mean = (after["antiphon_tick_seconds_sum"] - before["antiphon_tick_seconds_sum"]) / max(ticks, 1)
    lat = [x for r in results for x in r[0]]
    resp = [x for r in results for x in r[1]]
    return {"sessions": n, "frame_latency_s": percentiles(lat), "response_latency_s": percentiles(resp),
            "ticks": ticks, "late_ticks": late, "late_fraction": late / max(ticks, 1),
            "tick_mean_s": tick_mean, "input_underruns": after["antiphon_input_underruns_total"]
            - before["antiphon_input_underruns_total"], "client_processes": max(1, min(processes, n)),
            "phase_spread": phase_spread,
            "users_measured": sum(1 for r in results if r[0]), "client_cpu_percent": 100 * client_cpu / seconds}
