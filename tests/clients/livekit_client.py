"""livekit-agents' OpenAI realtime model (livekit-plugins-openai) against Antiphon's /v1/realtime,
used as a LiveKit agent uses it but without a LiveKit room (none can run here): its own session
pushes the question's audio frames, and the answer is read from the generation it creates.

    python livekit_client.py WS_URL q1.pcm [q2.pcm ...]   (pcm16 24 kHz mono, one turn each)

Prints one JSON line: errors, and each turn's audio bytes and text."""
import asyncio
import json
import sys

import aiohttp
import numpy as np
from livekit import rtc
from livekit.plugins import openai

RATE, CHUNK = 24000, 480  # 20 ms frames, as a room delivers them


async def turn(session, generations: asyncio.Queue, pcm: np.ndarray) -> dict:
    """One spoken question in 20 ms frames, in real time; the answer from the generation it makes."""
    for i in range(0, len(pcm) - CHUNK + 1, CHUNK):
        session.push_audio(rtc.AudioFrame(pcm[i:i + CHUNK].tobytes(), RATE, 1, CHUNK))
        await asyncio.sleep(CHUNK / RATE)
    generation = await asyncio.wait_for(generations.get(), 30)
    audio_bytes, text = 0, []

    async def audio(message):
        nonlocal audio_bytes
        async for frame in message.audio_stream:
            audio_bytes += len(bytes(frame.data))

    async def words(message):
        async for piece in message.text_stream:
            text.append(piece)

    async def messages():
        async for message in generation.message_stream:
            await asyncio.gather(audio(message), words(message))
    await asyncio.wait_for(messages(), 40)
    return {"audio_bytes": audio_bytes, "text": "".join(text)}


async def main(url: str, questions: list[str]) -> None:
    errors, generations, turns = [], asyncio.Queue(), []
    async with aiohttp.ClientSession() as http:
        model = openai.realtime.RealtimeModel(base_url=url, api_key="x", http_session=http)
        session = model.session()
        session.on("error", lambda e: errors.append(repr(getattr(e, "error", e))))
        session.on("generation_created", generations.put_nowait)
        for question in questions:
            turns.append(await turn(session, generations, np.fromfile(question, dtype="<i2")))
        await session.aclose()
    print(json.dumps({"errors": errors, "turns": turns, "extra_generations": generations.qsize()}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
