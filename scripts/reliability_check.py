"""Reliability figures against a real `antiphon serve` process (random tiny model):
a burst of connections past --max-sessions on both endpoints, a client that never reads (the
server's memory, read from outside), and kill -9 with --record on both endpoints.

    .venv/bin/python scripts/reliability_check.py [--burst 200]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import tempfile
import time
import urllib.request
import wave
from pathlib import Path

import numpy as np
import psutil
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from antiphon.harness.raw_client import open_raw
from antiphon.harness.spawn import ServerProcess


async def burst(url: str, n: int) -> dict:
    async def one():
        try:
            ws = await connect(url, open_timeout=60)
            await asyncio.wait_for(ws.recv(), 30)
            return ws
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else "closed"
        except (OSError, asyncio.TimeoutError) as e:
            return type(e).__name__
    results = await asyncio.gather(*(one() for _ in range(n)))
    admitted = [r for r in results if not isinstance(r, (int, str))]
    await asyncio.gather(*(ws.close() for ws in admitted))
    codes = {}
    for r in results:
        if isinstance(r, (int, str)):
            codes[r] = codes.get(r, 0) + 1
    return {"admitted": len(admitted), "refused": codes}


def never_reads(port: int, pings: int) -> int:
    sock, proto = open_raw(port)
    sock.settimeout(2)
    ping = json.dumps({"type": "ping", "id": "x" * 256}).encode()
    sent = 0
    try:
        for sent in range(pings):
            proto.send_text(ping)
            sock.sendall(b"".join(proto.data_to_send()))
    except OSError:
        pass
    sock.close()
    return sent


async def record_and_kill(endpoint: str, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        srv = ServerProcess("--model", "random:tiny", "--record", d)
        rate = 16000 if endpoint == "/ws" else 24000
        chunk = int(0.04 * rate)
        t = np.arange(int(seconds * rate)) / rate
        audio = (0.3 * np.sin(2 * np.pi * 200 * t) * (t % 1 < 0.7)).astype(np.float32)
        try:
            async with connect(srv.url.replace("/ws", endpoint)) as ws:
                first = json.loads(await ws.recv())
                session = first.get("session_id") or first["session"]["id"]
                start = time.monotonic()
                for i, at in enumerate(range(0, audio.size, chunk)):
                    pcm = (audio[at:at + chunk] * 32767).astype("<i2").tobytes()
                    if endpoint == "/ws":
                        await ws.send(pcm)
                    else:
                        await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                                  "audio": base64.b64encode(pcm).decode()}))
                    await asyncio.sleep(max(0, start + (i + 1) * 0.04 - time.monotonic()))
                streamed = time.monotonic() - start
                srv.proc.kill()
            srv.proc.wait()
        finally:
            srv.stop()
        out = {"streamed_s": round(streamed, 2)}
        for channel in ("user", "agent"):
            with wave.open(str(next(Path(d).glob(f"*{session}-{channel}.wav")))) as w:
                out[f"{channel}_s"] = round(w.getnframes() / w.getframerate(), 2)
        events = next(Path(d).glob(f"*{session}-events.jsonl")).read_text().splitlines()
        out["events"] = len(events)
        return out


async def main(args) -> None:
    srv = ServerProcess("--model", "random:tiny", "--max-sessions", "8")
    try:
        for path in ("/ws", "/v1/realtime"):
            r = await burst(srv.url.replace("/ws", path), args.burst)
            ready = json.loads(urllib.request.urlopen(srv.url.replace("ws://", "http://")
                                                                                 .replace("/ws", "/readyz")).read())
            print(f"burst of {args.burst} on {path}: {r}; afterwards engine_failure={ready['engine_failure']}")
        proc = psutil.Process(srv.proc.pid)
        before = proc.memory_info().rss
        peak = [before]

        async def watch():
            while True:
                peak[0] = max(peak[0], proc.memory_info().rss)
                await asyncio.sleep(0.02)
        watcher = asyncio.create_task(watch())
        sent = await asyncio.to_thread(never_reads, srv.port, args.pings)
        await asyncio.sleep(1)
        watcher.cancel()
        print(f"never-reading client: sent {sent} pings of 256-character ids before the server stopped taking "
              f"them; server RSS {before >> 20} MiB before, peak {peak[0] >> 20} MiB (+{(peak[0] - before) >> 20} MiB)")
        metrics = urllib.request.urlopen(srv.url.replace("ws://", "http://")
                                                               .replace("/ws", "/metrics")).read().decode()
        print("  " + next(line for line in metrics.splitlines() if 'reason="not_reading"' in line))
    finally:
        srv.stop()
    for endpoint in ("/ws", "/v1/realtime"):
        print(f"kill -9 with --record on {endpoint}: {await record_and_kill(endpoint, args.seconds)}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--burst", type=int, default=200)
    p.add_argument("--pings", type=int, default=300_000)
    p.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(main(p.parse_args()))
