"""`antiphon talk`: microphone to speaker through a server, or WAV files for headless use."""
from __future__ import annotations

import asyncio
import sys
import time

import numpy as np

from .connection import AntiphonClient, AntiphonError, pcm16_to_float, stream_file
from .jitter import JitterBuffer


ANSWER_CAP_S = 10.0  # with --input: the longest wait for the agent's answer after the file ends


def add_arguments(p):
    p.add_argument("--url", default="ws://127.0.0.1:8765/ws")
    p.add_argument("--token", default=None)
    p.add_argument("--input", metavar="IN.wav", help="stream this file instead of the microphone")
    p.add_argument("--output", metavar="OUT.wav", help="with --input: write the agent's audio here")
    p.add_argument("--fast", action="store_true", help="with --input: send as fast as possible, not in real time")
    p.add_argument("--seconds", type=float, default=None, help="microphone mode: stop after this long")
    p.set_defaults(func=run)


class Captions:
    """Live captions and latency on one terminal line: the words the agent heard you finish
    (where its model names them), then what it says."""

    def __init__(self, out=sys.stdout):
        self.out, self.text, self.heard, self.latency_ms = out, "", "", None

    def on_event(self, msg: dict) -> None:
        if msg.get("type") == "text":
            self.text = (self.text + msg["text"])[-48:]
            self.show()
        elif msg.get("type") == "user_text":
            self.heard = (self.heard + " " + msg["text"]).strip()[-24:]
            self.show()

    def show(self):
        lat = f"{self.latency_ms:5.0f} ms" if self.latency_ms is not None else "   -- ms"
        heard = f"you: {self.heard:<24} | " if self.heard else ""
        self.out.write(f"\r[{lat}] {heard}{self.text:<48}")
        self.out.flush()


async def talk_file(args) -> int:
    import soundfile as sf

    audio, rate = sf.read(args.input, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    client = await AntiphonClient.connect(args.url, token=args.token, sample_rate=rate, frame_marks=True)
    captions = Captions()
    sent_at: dict[int, float] = {}
    loop = asyncio.get_running_loop()

    def on_message(msg):
        if not isinstance(msg, dict):
            return
        captions.on_event(msg)
        if msg.get("type") == "frame" and msg.get("input_index") is not None:
            t = sent_at.pop(msg["input_index"], None)  # latency: a frame sent to the agent's frame of its tick
            if t is not None:
                captions.latency_ms = 1000 * (loop.time() - t)
                captions.show()

    # after the file, silence until the agent's answer is over (at most ANSWER_CAP_S)
    out, events = await stream_file(client, audio, realtime=not args.fast, on_message=on_message,
                                    tail_seconds=ANSWER_CAP_S, until_answered=True,
                                    on_sent=lambda i, t: sent_at.__setitem__(i, t))
    await client.close()
    print()
    if args.output:
        sf.write(args.output, out, rate, subtype="PCM_16")
        print(f"wrote {out.size / rate:.2f} s of agent audio to {args.output}")
    return 0


async def talk_mic(args) -> int:
    import sounddevice as sd

    try:
        dev_in = sd.query_devices(kind="input")
        sd.query_devices(kind="output")
    except (sd.PortAudioError, ValueError) as e:
        raise AntiphonError(f"no audio device: {e}; use --input/--output files instead") from None
    rate = int(dev_in["default_samplerate"])
    client = await AntiphonClient.connect(args.url, token=args.token, sample_rate=rate, frame_marks=True)
    loop = asyncio.get_running_loop()
    mic: asyncio.Queue = asyncio.Queue()
    jitter = JitterBuffer(start_samples=2 * client.frame_samples)
    captions = Captions()
    sent_at: dict[int, float] = {}
    counter = {"frames": 0}

    def callback(indata, outdata, frames, time_info, status):
        loop.call_soon_threadsafe(mic.put_nowait, indata[:, 0].copy())  # int16 samples
        outdata[:, 0] = (jitter.pull(frames) * 32767).astype(np.int16)

    async def send():
        while True:
            block = await mic.get()
            sent_at[counter["frames"]] = time.monotonic()
            counter["frames"] += 1
            await client.send_audio(block)

    async def receive():
        while True:
            msg = await client.recv()
            if isinstance(msg, bytes):
                jitter.push(pcm16_to_float(msg))
                continue
            captions.on_event(msg)
            if msg.get("type") == "frame" and msg.get("input_index") is not None:
                t = sent_at.pop(msg["input_index"], None)
                if t is not None:
                    captions.latency_ms = 1000 * (time.monotonic() - t)
                    captions.show()

    try:
        stream = sd.Stream(samplerate=rate, blocksize=client.frame_samples, channels=1, dtype="int16",
                           callback=callback)
    except sd.PortAudioError as e:
        await client.close()
        raise AntiphonError(f"no audio device: {e}") from None
    print(f"talking to {args.url} at {rate} Hz (Ctrl-C to stop)")
    with stream:
        tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]
        try:
            await asyncio.wait(tasks, timeout=args.seconds, return_when=asyncio.FIRST_EXCEPTION)
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()
        finally:
            for t in tasks:
                t.cancel()
    await client.close()
    print(f"\nplayback underruns: {jitter.underruns}")
    return 0


def run(args) -> int:
    if args.output and not args.input:
        print("antiphon talk: --output needs --input", file=sys.stderr)
        return 2
    try:
        return asyncio.run(talk_file(args) if args.input else talk_mic(args))
    except AntiphonError as e:
        print(f"\nantiphon talk: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbye")
        return 0
    except EOFError as e:
        print(f"\nantiphon talk: the server ended the session ({e})", file=sys.stderr)
        return 0
    except (FileNotFoundError, RuntimeError) as e:
        print(f"antiphon talk: {e}", file=sys.stderr)
        return 1
