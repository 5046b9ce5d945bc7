"""`antiphon serve`: load the codec and the model, start the server, stop cleanly on SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import gc
import signal
import sys

from antiphon.model import BUNDLED


def add_arguments(p):
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    p.add_argument("--model", default=None,
                   help="'bundled' (default when present), 'random:<config>', or a checkpoint directory")
    p.add_argument("--codec", default=None, help="override the codec the model names")
    p.add_argument("--codec-backend", choices=BACKENDS, default="auto",
                   help="the codec's streaming steps in torch or ONNX Runtime (auto: onnx on a CPU, torch on CUDA)")
    p.add_argument("--model-backend", choices=MODEL_BACKENDS, default="auto",
                   help="the model's step in torch or ONNX Runtime (auto: onnx on a CPU, torch with Triton on "
                        "CUDA); onnx-int8: that graph with int8 weights")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--max-sessions", type=int, default=8)
    p.add_argument("--context", type=int, default=None, metavar="FRAMES",
                   help="frames each session attends over (the ring cache per session): at most the model's own, "
                        "which is the default; fewer fit more sessions in memory")
    p.add_argument("--token", default=None, help="require this bearer token (header or ?token=)")
    p.add_argument("--allowed-origin", action="append", default=None,
                   help="browser Origin allowed to connect (repeatable); any when unset")
    p.add_argument("--record", metavar="DIR", default=None, help="record each session's audio and text here")
    p.add_argument("--idle-timeout", type=float, default=60.0, help="seconds without client messages before closing")
    p.add_argument("--engine", choices=["batched", "serial"], default="batched",
                   help="serial: one session at a time, the benchmark's baseline")
    p.add_argument("--grace", type=float, default=5.0, help="seconds sessions get to finish on shutdown")
    p.add_argument("--threads", type=int, default=None,
                   help="threads the engine computes with (default: one per core); fewer leaves cores to other work")
    p.set_defaults(func=run)


BACKENDS = ["auto", "torch", "onnx"]
MODEL_BACKENDS = BACKENDS + ["onnx-int8"]  # int8 weights for the model's step; the codec's decoder is slower in int8


def resolve_backend(backend: str, device: str, torch_only: bool = False) -> str:
    """auto: ONNX Runtime on a CPU, where torch's per-op overhead dominates a small model's step
    (docs/benchmarks.md), torch on CUDA; torch for what runs only in torch (Moshi and Mimi)."""
    if backend != "auto":
        return backend
    return "onnx" if device == "cpu" and not torch_only else "torch"


def default_model() -> str:
    return "bundled" if (BUNDLED / "lm").is_dir() else "random:small"


def load(model_name: str | None, codec_name: str | None, device: str, backend: str = "auto",
         model_backend: str = "auto"):
    from antiphon.codec import load_codec
    from antiphon.model import check_codec, load_model

    model = load_model(model_name or default_model(), device=device)
    model.use_step_backend(resolve_backend(model_backend, device, torch_only=model.TORCH_ONLY))
    codec = load_codec(codec_name or model.codec_name, device=device,
                       backend=resolve_backend(backend, device, torch_only=model.TORCH_ONLY),
                       num_codebooks=model.cfg.num_codebooks)
    check_codec(model, codec)
    return codec, model


_torch_default_threads: int | None = None  # torch's own default, read before use_threads first changes it


def use_threads(codec, model, threads: int | None) -> int:
    """The engine computes with `threads` (default: torch's, one per core). When the codec and the model
    both step in ONNX Runtime, those threads are its split calls, and torch, left with the small
    glue ops around them, runs on one: its OpenMP pool's wake-up costs more than such an op (a
    softmax of 16 sessions' logits 100 us on two threads, 11 us on one: docs/benchmarks.md)."""
    import torch

    from antiphon.codec import onnx_backend

    global _torch_default_threads
    if _torch_default_threads is None:
        _torch_default_threads = torch.get_num_threads()  # one per physical core
    threads = threads or _torch_default_threads
    if codec.backend == "onnx" and model.step_runner is not None:
        onnx_backend.set_workers(threads)
        torch.set_num_threads(1)
    else:
        torch.set_num_threads(threads)
    return threads


async def serve_until_signal(args) -> int:
    from .app import AntiphonServer

    if args.max_sessions < 1:
        print("antiphon: --max-sessions must be at least 1", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        print(f"antiphon: --threads must be at least 1, got {args.threads}", file=sys.stderr)
        return 2
    try:
        codec, model = load(args.model, args.codec, args.device, args.codec_backend, args.model_backend)
    except (ValueError, FileNotFoundError) as e:
        print(f"antiphon: {e}", file=sys.stderr)
        return 2
    threads = use_threads(codec, model, args.threads)
    own = model.cfg.context
    if args.context is not None and not 2 <= args.context <= own:
        print(f"antiphon: --context must be in [2, {own}] frames for {model.name} (the context it was trained "
              f"with is the most), got {args.context}", file=sys.stderr)
        return 2
    if args.context not in (None, own) and model.step_runner is not None:
        print("antiphon: --context needs the model to step in torch (--model-backend torch): its ONNX step is "
              f"exported for {own} frames", file=sys.stderr)
        return 2
    # Everything loaded so far lives as long as the server: frozen, a full garbage collection never
    # scans it again (it would stall the engine and the event loop together).
    gc.collect()
    gc.freeze()
    random_weights = model.name.startswith("random:") or codec.name.startswith("random:")
    server = AntiphonServer(codec, model, max_sessions=args.max_sessions, token=args.token,
                            allowed_origins=args.allowed_origin, record_dir=args.record,
                            idle_timeout=args.idle_timeout, grace_seconds=args.grace,
                            random_weights=random_weights, serial=args.engine == "serial", context=args.context)
    try:
        await server.start(args.host, args.port)
    except OSError as e:
        print(f"antiphon: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    warn = "  [RANDOM WEIGHTS: the agent babbles; train or use the bundled model]" if random_weights else ""
    print(f"antiphon: serving http://{args.host}:{server.port}/ (WebSocket {server.port and '/ws'}) "
          f"model={model.name} codec={codec.name} {codec.sample_rate} Hz {codec.frame_rate:g} frames/s "
          f"capacity={args.max_sessions} sessions context={args.context or model.cfg.context} frames "
          f"threads={threads} "
          f"backends=codec:{codec.backend},model:{'onnx' if model.step_runner else 'torch'}{warn}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("antiphon: shutting down", flush=True)
    await server.shutdown()
    return 0


def run(args) -> int:
    return asyncio.run(serve_until_signal(args))
