"""The `antiphon` command line: one console script, one subcommand per job."""
from __future__ import annotations

import argparse
import sys


def _bench(args) -> int:
    if args.what == "codec":
        from codec import bench

        print(bench.run(frames=args.frames))
        return 0
    if args.what == "kernels":
        from kernels import bench

        return bench.main(device=args.device)
    if args.what == "model":
        from model import bench

        print(bench.run(configs=args.configs.split(","), batches=[int(b) for b in args.batches.split(",")]))
        return 0
    from client import bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="antiphon", description="Real-time full-duplex speech-to-speech voice agent")
    sub = p.add_subparsers(dest="command", required=True)

    from server.serve import add_arguments as add_serve
    add_serve(sub.add_parser("serve", help="run the server: native WebSocket protocol, OpenAI Realtime subset, browser client, health and metrics"))

    from client.talk import add_arguments as add_talk
    add_talk(sub.add_parser("talk", help="talk to a server: microphone/speaker or WAV files"))

    from client.demo import add_arguments as add_demo
    add_demo(sub.add_parser("demo", help="local microphone demo, in process, no network"))

    from model.train.cli import add_arguments as add_train
    add_train(sub.add_parser("train", help="training recipes: the codec, then the language model"))

    from client.eval import add_arguments as add_eval
    add_eval(sub.add_parser("eval", help="judged spoken-answer accuracy and response latency through a server"))

    b = sub.add_parser("bench", help="benchmarks: end-to-end (default), codec, model, kernels")
    b.add_argument("what", nargs="?", default="e2e", choices=["e2e", "codec", "model", "kernels"])
    b.add_argument("--frames", type=int, default=50, help="codec: frames per measurement")
    b.add_argument("--configs", default="small,100m", help="model: configs to time")
    b.add_argument("--batches", default="1,2,4,8,16,32", help="model: batch sizes")
    from client.bench import add_arguments as add_bench
    add_bench(b)
    b.set_defaults(func=_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
