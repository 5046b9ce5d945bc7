"""The `antiphon` command line: one console script, one subcommand per job."""
from __future__ import annotations

import argparse
import os
import sys

# Serving: torch's OpenMP threads wait passively between its small per-tick ops. Spinning, they hold
# the cores that the ONNX calls of the same tick need (the model step 1.3x slower at 16 sessions on
# 2 cores: docs/benchmarks.md, "Where a tick goes"). It must be set before torch loads OpenMP.
SERVING = ("serve", "demo", "cluster")


def _bench(args) -> int:
    if args.what == "codec":
        from antiphon.codec import bench

        print(bench.run(frames=args.frames))
        return 0
    if args.what == "kernels":
        from antiphon.kernels import bench

        return bench.main(device=args.device)
    if args.what == "model":
        from antiphon.model import bench

        print(bench.run(configs=args.configs.split(","), batches=[int(b) for b in args.batches.split(",")]))
        return 0
    from antiphon.harness import bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="antiphon", description="Real-time full-duplex speech-to-speech voice agent")
    sub = p.add_subparsers(dest="command", required=True)

    from antiphon.server.serve import add_arguments as add_serve
    add_serve(sub.add_parser("serve", help="run the server: native WebSocket protocol, OpenAI Realtime subset, browser client, health and metrics"))

    from antiphon.client.talk import add_arguments as add_talk
    add_talk(sub.add_parser("talk", help="talk to a server: microphone/speaker or WAV files"))

    sub.add_parser("cluster", add_help=False,
                   help="replicas of serve behind HAProxy, by readiness (antiphon cluster --help)")

    from antiphon.harness.demo import add_arguments as add_demo
    add_demo(sub.add_parser("demo", help="local microphone demo, in process, no network"))

    from antiphon.model.train.cli import add_arguments as add_train
    add_train(sub.add_parser("train", help="training recipes: the codec, then the language model"))

    from antiphon.harness.eval import add_arguments as add_eval
    add_eval(sub.add_parser("eval", help="judged spoken-answer accuracy and response latency through a server"))

    b = sub.add_parser("bench", help="benchmarks: end-to-end (default), codec, model, kernels")
    b.add_argument("what", nargs="?", default="e2e", choices=["e2e", "codec", "model", "kernels"])
    b.add_argument("--frames", type=int, default=50, help="codec: frames per measurement")
    b.add_argument("--configs", default="small,100m", help="model: configs to time")
    b.add_argument("--batches", default="1,2,4,8,16,32", help="model: batch sizes")
    from antiphon.harness.bench import add_arguments as add_bench
    add_bench(b)
    b.set_defaults(func=_bench)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in SERVING:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if argv[:1] == ["cluster"]:  # its other options are serve's, passed on to every replica
        from antiphon.cluster import main as cluster

        return cluster(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
