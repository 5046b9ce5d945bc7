"""`antiphon demo`: the engine in process, no network, one duplex sound stream at the codec's
frame size, captions on the terminal: the quickest way to hear the agent."""
from __future__ import annotations

import asyncio
import json
import sys

import numpy as np

from antiphon.client.connection import pcm16_to_float
from antiphon.client.jitter import JitterBuffer
from antiphon.client.talk import Captions


def add_arguments(p):
    p.add_argument("--model", default=None, help="'bundled' (default when present), 'random:<config>' or a checkpoint")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    p.set_defaults(func=run)


async def demo(args) -> int:
    import sounddevice as sd

    # the demo shares the server's engine and session: the same code path as a served session
    from antiphon.server.engine import Engine
    from antiphon.server.serve import load, use_threads
    from antiphon.server.session import Session

    codec, model = load(args.model, None, args.device)
    use_threads(codec, model, None)
    loop = asyncio.get_running_loop()
    engine = Engine(codec, model, max_sessions=1)
    session = Session(codec.frame_size, codec.sample_rate, int(2 * codec.frame_rate), loop,
                      text_decoder=model.tokenizer.text_decoder())
    jitter = JitterBuffer(start_samples=2 * codec.frame_size)
    captions = Captions()

    def callback(indata, outdata, frames, time_info, status):
        # int16 end to end: what an ALSA device (or its file plugin) delivers natively
        loop.call_soon_threadsafe(session.push_pcm16, indata[:, 0].astype("<i2").tobytes())
        outdata[:, 0] = (jitter.pull(frames) * 32767).astype(np.int16)

    try:
        stream = sd.Stream(samplerate=codec.sample_rate, blocksize=codec.frame_size, channels=1,
                           dtype="int16", callback=callback)
    except (sd.PortAudioError, ValueError) as e:
        print(f"antiphon demo: no audio device: {e}", file=sys.stderr)
        return 1
    print(f"antiphon demo: model={model.name} codec={codec.name} {codec.sample_rate} Hz; speak (Ctrl-C stops)")
    engine.start()
    engine.join(session)
    frames_played = 0
    try:
        with stream:
            deadline = None if args.seconds is None else loop.time() + args.seconds
            while deadline is None or loop.time() < deadline:
                try:
                    item = await asyncio.wait_for(session.outbox.get(), 0.2)
                except asyncio.TimeoutError:
                    continue
                if isinstance(item, bytes):
                    jitter.push(pcm16_to_float(item))
                    frames_played += 1
                else:
                    captions.on_event(json.loads(item))
    finally:
        engine.leave(session)
        engine.stop()
    print(f"\nantiphon demo: {session.consumed_frames} microphone frames in, {frames_played} agent frames out, "
          f"{jitter.underruns} playback underruns")
    return 0


def run(args) -> int:
    try:
        return asyncio.run(demo(args))
    except KeyboardInterrupt:
        print("\nbye")
        return 0
