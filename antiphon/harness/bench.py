"""`antiphon bench`: N simulated users through the real server over loopback WebSockets, swept
until real time breaks, next to a one-session-at-a-time baseline in the same run."""
from __future__ import annotations

import asyncio
import gc
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from antiphon.server.serve import BACKENDS, MODEL_BACKENDS, resolve_backend

from .bench_stats import is_realtime, max_realtime
from .load import run_level
from .spawn import ServerProcess

QUESTIONS = ["what is seven plus five", "hello, how are you", "what is your name", "count to four",
             "spell the word cat", "thank you very much", "repeat the number eighty one", "goodbye"]


def add_arguments(p):
    p.add_argument("--url", default=None, help="bench a running server instead of spawning one")
    p.add_argument("--spawn", action="store_true", help="spawn servers (the default without --url)")
    p.add_argument("--model", default="bundled", help="the served model (default: the bundled agent; random:<config>)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--codec-backend", choices=BACKENDS, default="auto", help="as for antiphon serve")
    p.add_argument("--model-backend", choices=MODEL_BACKENDS, default="auto", help="as for antiphon serve")
    p.add_argument("--sessions", default="1,2,3,4,6,8,12,16", help="comma-separated N to sweep")
    p.add_argument("--seconds", type=float, default=10.0, help="per N")
    p.add_argument("--server-threads", type=int, default=None, help="the spawned servers' --threads")
    p.add_argument("--no-baseline", action="store_true", help="skip the one-session-at-a-time baseline")
    p.add_argument("--client-processes", type=int, default=1,
                   help="run the simulated users in this many processes (one process limits a big machine's "
                        "measurement; the table's client CPU %% says what the users cost)")
    p.add_argument("--phase-spread", action="store_true",
                   help="start each user's frame clock at a random point of a frame, as users who connect at "
                        "different times have (by default they all start as they connect, nearly in phase)")
    p.add_argument("--questions", help="a folder of .wav recordings the simulated users ask (default: the "
                   "built-in questions spoken by espeak-ng)")
    p.add_argument("--out", default="bench-out", help="directory for JSON, markdown and PNG")
    p.add_argument("--rss-every", type=float, default=5.0,
                   help="seconds between server memory samples (a long --seconds run is the memory soak)")


def render_questions(rate: int = 16000) -> list[np.ndarray]:
    """espeak-ng speech for the script's questions, as float32 at `rate`."""
    with tempfile.TemporaryDirectory() as d:
        for i, q in enumerate(QUESTIONS):
            try:  # zero-padded names keep the script's order when read back
                subprocess.run(["espeak-ng", "-w", str(Path(d) / f"{i:03d}.wav"), q], check=True, capture_output=True)
            except FileNotFoundError:
                raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)") from None
        return load_questions(d, rate)


def load_questions(folder: str, rate: int) -> list[np.ndarray]:
    """Recordings to ask instead of the built-in script (a machine without espeak-ng, or real
    voices): every .wav in `folder`, mixed to mono and resampled to `rate`."""
    import soundfile as sf
    import soxr

    files = sorted(Path(folder).glob("*.wav"))
    if not files:
        raise SystemExit(f"--questions {folder}: no .wav files there; expected recordings of spoken questions")
    out = []
    for f in files:
        x, sr = sf.read(f, dtype="float32", always_2d=True)
        out.append(soxr.resample(x.mean(axis=1), sr, rate).astype(np.float32))
    return out


class RssSampler:
    """The server's resident memory every `every` seconds while a level runs; growth is measured
    from the end of the first fifth (warm-up: caches, allocator pools) to the end."""

    def __init__(self, proc, every: float):
        import threading

        self.proc, self.every, self.samples = proc, every, []
        self.t0 = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            self.samples.append((round(time.monotonic() - self.t0, 1), self.proc.memory_info().rss / 2**20))
            self.stop.wait(self.every)

    def finish(self) -> dict:
        self.stop.set()
        self.thread.join()
        s = self.samples
        if len(s) < 5:
            return {"rss_samples": s}
        warm = s[len(s) // 5]
        return {"rss_samples": s, "rss_growth_mib": s[-1][1] - warm[1],
                "rss_growth_mib_per_min": (s[-1][1] - warm[1]) / max((s[-1][0] - warm[0]) / 60, 1e-9)}


def sweep(args, engine: str, levels, questions, frame_s, progress) -> list[dict]:
    import psutil

    records = []
    for n in levels:
        srv = None if args.url else ServerProcess("--model", args.model, "--device", args.device, "--max-sessions",
                                                  str(n), "--engine", engine, "--codec-backend", args.codec_backend,
                                                  "--model-backend", args.model_backend,
                                                  *(["--threads", str(args.server_threads)] if args.server_threads else []))
        url = args.url or srv.url
        try:
            proc = psutil.Process(srv.proc.pid) if srv else None
            if proc:
                proc.cpu_percent()
            sampler = RssSampler(proc, args.rss_every) if proc else None
            rec = asyncio.run(run_level(url, n, args.seconds, questions, args.client_processes,
                                       args.phase_spread))
            if proc:
                threads = re.search(r"threads=(\d+)", srv.lines[-1])
                rec["server_threads"] = int(threads.group(1)) if threads else None
                rec["server_cpu_percent"] = proc.cpu_percent()
                rec["server_rss_mib"] = proc.memory_info().rss / 2**20
                rec.update(sampler.finish())
        finally:
            if srv:
                srv.proc.terminate()
                srv.proc.wait(timeout=20)
        rec["engine"] = engine
        rec["realtime"] = is_realtime(rec["late_fraction"], rec["frame_latency_s"]["p99"], frame_s)
        records.append(rec)
        progress.update(1)
        if not rec["realtime"]:
            break
    return records


def table(records) -> str:
    rows = ["| engine | N | frame p50 / p95 / p99 / max ms | response p50 / p95 ms | late ticks | tick mean ms | CPU % "
            "| client CPU % | RSS MiB | real time |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    ms = lambda v: "-" if v is None else f"{1000 * v:.0f}"  # noqa: E731
    for r in records:
        f, q = r["frame_latency_s"], r["response_latency_s"]
        rows.append(f"| {r['engine']} | {r['sessions']} | {ms(f['p50'])} / {ms(f['p95'])} / {ms(f['p99'])} / {ms(f['max'])} "
                    f"| {ms(q['p50'])} / {ms(q['p95'])} | {100 * r['late_fraction']:.1f}% | {1000 * r['tick_mean_s']:.1f} "
                    f"| {r.get('server_cpu_percent', 0):.0f} | {r['client_cpu_percent']:.0f} | {r.get('server_rss_mib', 0):.0f} | {'yes' if r['realtime'] else 'no'} |")
    return "\n".join(rows)


def plot(records, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for engine in sorted({r["engine"] for r in records}):
        rs = [r for r in records if r["engine"] == engine]
        n = [r["sessions"] for r in rs]
        for q in ("p50", "p99"):
            ax[0].plot(n, [1000 * (r["frame_latency_s"][q] or 0) for r in rs], marker="o", label=f"{engine} {q}")
        ax[1].plot(n, [1000 * r["tick_mean_s"] for r in rs], marker="o", label=engine)
    ax[0].set(xlabel="sessions", ylabel="frame latency ms", xscale="log", title="frame latency")
    ax[1].set(xlabel="sessions", ylabel="tick ms", xscale="log", title="engine tick time")
    for a in ax:
        a.legend()
    fig.tight_layout()
    fig.savefig(path)


def codec_timing(model: str) -> tuple[int, int, bool]:
    """Frame size and sample rate of the codec a model name serves, and whether it runs in torch
    only (Moshi over Mimi), without loading either; the bundle and checkpoints use the small codec."""
    from antiphon.codec import CONFIGS as CODECS
    from antiphon.codec.mimi import mimi_config
    from antiphon.model import CONFIGS as MODELS
    from antiphon.model.moshi_config import MOSHI_CONFIGS

    name = model.split(":", 1)[1] if model.startswith("random:") else None
    if name in MOSHI_CONFIGS:
        cfg = mimi_config(MOSHI_CONFIGS[name].codec.split(":", 1)[1])
        return int(cfg.frame_size), int(cfg.sampling_rate), True
    codec_cfg = CODECS[MODELS[name].codec.split(":", 1)[1]] if name in MODELS else CODECS["small"]
    return codec_cfg.frame_size, codec_cfg.sample_rate, False


def main(args) -> int:
    if args.client_processes < 1:
        raise SystemExit("--client-processes must be at least 1")
    from tqdm import tqdm

    levels = [int(x) for x in args.sessions.split(",")]
    frame_size, sample_rate, torch_only = codec_timing(args.model)
    frame_s = frame_size / sample_rate
    questions = (load_questions(args.questions, sample_rate) if args.questions else render_questions(sample_rate))
    engines = ["batched"] + ([] if args.no_baseline or args.url else ["serial"])
    # The simulated users share this process with torch's imports: a full garbage collection over
    # them stalled every sender for ~150 ms in the second level of a sweep, and the burst that
    # followed queued at the server as latency. Frozen objects are never scanned again.
    gc.collect()
    gc.freeze()
    with tqdm(total=len(levels) * len(engines), desc="bench", unit="level") as progress:
        records = [r for e in engines for r in sweep(args, e, levels, questions, frame_s, progress)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    batched = [r for r in records if r["engine"] == "batched"]
    serial = [r for r in records if r["engine"] == "serial"]
    summary = {"model": args.model, "device": args.device, "seconds": args.seconds, "frame_s": frame_s,
               "questions": args.questions or "espeak-ng script",
               "codec_backend": resolve_backend(args.codec_backend, args.device, torch_only),
               "model_backend": resolve_backend(args.model_backend, args.device, torch_only),
               "records": records, "max_realtime_sessions": max_realtime(batched),
               "baseline_max_realtime_sessions": max_realtime(serial) if serial else None,
               "date": time.strftime("%Y-%m-%d %H:%M")}
    (out / "bench.json").write_text(json.dumps(summary, indent=2))
    md = table(records) + (f"\n\nmax real-time sessions: batched {summary['max_realtime_sessions']}, "
                           f"baseline {summary['baseline_max_realtime_sessions']}")
    (out / "bench.md").write_text(md + "\n")
    plot(records, out / "bench.png")
    print(md)
    return 0
