"""A Moshi model (random:moshi-tiny over random:mimi-tiny) behind the unchanged server: a browser
session in headless Chromium and a Realtime session through the official openai client, both on
the batched engine; and `antiphon serve --model DIR` on checkpoints in Kyutai's layout."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

from antiphon.codec import load_codec
from antiphon.harness.chromium import CHROMIUM, launch
from antiphon.model import load_model
from antiphon.server.serve import load

from moshi_layouts import write_kyutai_dir
from test_browser import fake_mic_wav, wait_for
from test_realtime import connect, send_audio, until
from antiphon.common.command import antiphon_command


@pytest.fixture(scope="module")
def moshi_pair():
    return load("random:moshi-tiny", None, "cpu")


@pytest.fixture
async def moshi_server(moshi_pair):
    from antiphon.server.app import AntiphonServer

    codec, model = moshi_pair
    srv = await AntiphonServer(codec, model, random_weights=True, max_sessions=4, grace_seconds=0.5).start(
        "127.0.0.1", 0)
    srv.http = f"http://127.0.0.1:{srv.port}"
    yield srv
    await srv.shutdown()


def test_serve_loads_mimi_and_moshi_in_torch(moshi_pair):
    codec, model = moshi_pair
    assert (codec.name, codec.sample_rate, codec.frame_size, codec.backend) == ("random:mimi-tiny", 24000, 1920, "torch")
    assert model.cfg.num_codebooks == codec.num_codebooks == 8
    assert model.default_sampling.text_top_k == 25 and model.default_sampling.audio_top_k == 64  # Kyutai's, within vocab


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/run.sh test installs it)")
async def test_browser_session_with_moshi(moshi_server, tmp_path):
    from playwright.async_api import async_playwright

    mic = fake_mic_wav(tmp_path / "mic.wav", seconds=4.0)
    async with async_playwright() as p:
        browser = await launch(p, mic)
        page = await browser.new_page()
        await page.goto(moshi_server.http + "/")
        await page.click("#connect")
        await wait_for(page, "window.antiphon.status === 'connected'")
        await wait_for(page, "window.antiphon.sentFrames >= 20 && window.antiphon.receivedFrames >= 20 "
                             "&& window.antiphon.playedMs > 1000", timeout_s=60)
        session = next(iter(moshi_server.sessions.values()))[0]
        state = await page.evaluate("window.antiphon")
        await browser.close()
    # 80 ms frames at 24 kHz: the page sent them and played the agent's
    assert session.frame_size == 1920 and session.input_frames >= 20
    assert state["receivedFrames"] >= 20 and state["peak"] > 0


async def test_realtime_sdk_session_with_moshi(moshi_server):
    rate = 24000
    t = np.arange(int(1.5 * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    async with connect(moshi_server) as conn:
        await until(conn, "session.created")
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await until(conn, "session.updated")
        await send_audio(conn, pcm)
        await conn.input_audio_buffer.commit()
        await until(conn, "input_audio_buffer.committed")
        await conn.response.create()
        await until(conn, "response.created")
        deltas = 0
        while deltas < 5:  # every event is parsed by the SDK's own types on the way
            if (await until(conn, "response.output_audio.delta", timeout=30)).delta:
                deltas += 1


@pytest.fixture(scope="module")
def kyutai_dir(tmp_path_factory, moshi_pair):
    """random:moshi-tiny and random:mimi-tiny written in Kyutai's published layout."""
    from antiphon.codec.mimi import random_mimi

    codec, model = moshi_pair
    path = tmp_path_factory.mktemp("kyutai") / "moshiko-tiny"
    cfg = model.cfg
    write_kyutai_dir(path, model.lm, random_mimi("mimi-tiny"), model.tokenizer.sp.serialized_model_proto(),
                     {"num_heads": cfg.heads, "depformer_num_heads": cfg.depth_heads, "context": cfg.context})
    return path


def test_kyutai_layout_loads_the_same_model_and_codec(kyutai_dir, moshi_pair):
    codec, model = moshi_pair
    loaded = load_model(str(kyutai_dir))
    assert loaded.cfg.to_dict() | {"name": "", "codec": ""} == model.cfg.to_dict() | {"name": "", "codec": ""}
    a, b = model.stream(1), loaded.stream(1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):
        user = torch.randint(0, 64, (1, 8), generator=gen)
        assert torch.equal(a.step(user)[0], b.step(user)[0])
        torch.testing.assert_close(a.last_logits[1], b.last_logits[1])
    mimi = load_codec(loaded.codec_name, num_codebooks=8)
    wav = torch.randn(1, 1, 4 * 1920).mul(0.1).float()
    assert torch.equal(mimi.encode(wav), codec.encode(wav))


async def test_serve_a_kyutai_directory_and_explain_a_broken_one(kyutai_dir, tmp_path):
    from antiphon.harness.spawn import ServerProcess

    server = ServerProcess("--model", str(kyutai_dir))
    try:
        assert "model=kyutai" in "".join(server.lines) or "moshiko-tiny" in "".join(server.lines)
        import websockets

        async with websockets.connect(server.url) as ws:
            hello = await asyncio.wait_for(ws.recv(), 30)
        assert '"sample_rate": 24000' in hello
    finally:
        server.stop()
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in kyutai_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    from safetensors.torch import load_file, save_file

    state = load_file(broken / "model.safetensors")
    del state["depformer.layers.0.norm1.alpha"]
    save_file(state, str(broken / "model.safetensors"))
    import subprocess

    out = subprocess.run(antiphon_command("serve", "--model", str(broken), "--port", "0"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "depformer.layers.0.norm1.alpha" in out.stderr, out.stderr


def test_context_trades_attention_for_memory(moshi_pair):
    """`--context`: a session's ring cache and attention span, within what the model was trained with."""
    import subprocess

    from antiphon.server.app import AntiphonServer

    codec, model = moshi_pair
    full = AntiphonServer(codec, model, max_sessions=2).engine.stepper.model_stream
    short = AntiphonServer(codec, model, max_sessions=2, context=24).engine.stepper.model_stream
    assert (full.context, short.context) == (48, 24)
    assert short.state_nbytes() < full.state_nbytes()
    for bad in ("1", "49"):
        out = subprocess.run(antiphon_command("serve", "--model", "random:moshi-tiny",
                              "--port", "0", "--context", bad), capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and "--context must be in [2, 48]" in out.stderr, out.stderr
