"""The browser client in a real headless Chromium (Debian's, never a downloaded one), with a WAV
file as its microphone, against a real server."""
import asyncio
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from antiphon.harness.chromium import CHROMIUM, launch
from antiphon.model import BUNDLED

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/run.sh test installs it)")


def fake_mic_wav(path: Path, seconds: float = 3.0) -> Path:
    """espeak-ng speech at 48 kHz (the rate sound cards run at), then silence."""
    speech = path.with_suffix(".speech.wav")
    subprocess.run(["espeak-ng", "-w", str(speech), "what is seven plus five"], check=True)
    import soxr

    x, sr = sf.read(speech, dtype="float32")
    x = soxr.resample(x, sr, 48000)
    x = np.concatenate([np.zeros(4800, np.float32), x, np.zeros(max(int(seconds * 48000) - len(x), 4800), np.float32)])
    sf.write(path, x, 48000, subtype="PCM_16")
    return path


async def wait_for(page, condition: str, timeout_s: float = 30):
    await page.wait_for_function(condition, timeout=timeout_s * 1000, polling=100)


async def test_page_streams_microphone_and_plays_the_agent(server_factory, tmp_path):
    from playwright.async_api import async_playwright

    srv = await server_factory(record_dir=str(tmp_path / "rec"))
    mic = fake_mic_wav(tmp_path / "mic.wav")
    async with async_playwright() as p:
        browser = await launch(p, mic)
        page = await browser.new_page()
        console = []
        page.on("console", lambda m: console.append(m.text))
        await page.goto(srv.http + "/")
        await page.click("#connect")
        await wait_for(page, "window.antiphon.status === 'connected'")
        # counts, not times: on a busy machine the server may skip quiet input, so fewer frames come
        # back per frame sent; waiting for both counts keeps the test independent of the machine's speed
        await wait_for(page, "window.antiphon.sentFrames >= 60 && window.antiphon.receivedFrames >= 50 "
                             "&& window.antiphon.playedMs > 1000")
        await wait_for(page, "window.antiphon.caption.length > 0")
        session = next(iter(srv.sessions.values()))[0]
        assert "random weights" in await page.text_content("#error")  # the page says so, in words
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "browser-client.png"), full_page=True)
        await page.click("#disconnect")
        state = await page.evaluate("window.antiphon")
        await browser.close()
    for _ in range(50):
        await asyncio.sleep(0.1)
        if not srv.sessions:
            break
    # The server received every microphone frame the page sent, and the page received and played
    # agent audio.
    assert state["sentFrames"] >= 50 and session.input_frames == state["sentFrames"]
    assert state["receivedFrames"] >= 50 and state["playedMs"] > 1000 and state["peak"] > 0
    assert state["latencyMs"] is not None and state["latencyMs"] > 0
    assert (ARTIFACTS / "browser-client.png").stat().st_size > 5000
    # What arrived is the WAV's speech, resampled 48 kHz -> 16 kHz in the worklet: the recording of the
    # user channel has the espeak speech.
    user = next((tmp_path / "rec").glob("*-user.wav"))
    rec, rate = sf.read(user, dtype="float32")
    assert rate == 16000
    frames = rec[: len(rec) // 640 * 640].reshape(-1, 640)
    loud = np.sqrt((frames ** 2).mean(1)) > 0.01
    assert loud.sum() >= 10, "the microphone's speech reached the server"
    assert not any("Error" in c for c in console), console


async def test_page_says_what_went_wrong(server_factory, tmp_path):
    from playwright.async_api import async_playwright

    mic = fake_mic_wav(tmp_path / "mic.wav", seconds=1.0)
    guarded = await server_factory(token="sesame")
    full = await server_factory(max_sessions=1)
    async with async_playwright() as p:
        browser = await launch(p, mic)
        page = await browser.new_page()
        await page.goto(guarded.http + "/")
        await page.fill("#token", "wrong")
        await page.click("#connect")
        await wait_for(page, "window.antiphon.status === 'idle' && window.antiphon.error !== ''")
        assert "refused" in await page.text_content("#error")

        first, second = await browser.new_page(), await browser.new_page()
        for pg in (first, second):
            await pg.goto(full.http + "/")
        await first.click("#connect")
        await wait_for(first, "window.antiphon.status === 'connected'")
        await second.click("#connect")
        await wait_for(second, "window.antiphon.status === 'idle' && window.antiphon.error !== ''")
        assert "cannot take another session" in await second.text_content("#error")

        await first.click("#disconnect")
        await full.shutdown()
        await first.click("#connect")
        await wait_for(first, "window.antiphon.status === 'idle' && window.antiphon.error !== ''")
        assert "Could not reach" in await first.text_content("#error")
        await browser.close()

        for mic_wav, allow, words in [(mic, False, "Microphone access was refused"),
                                      (None, True, "No microphone could be opened (NotFoundError)")]:
            other = await launch(p, mic_wav, allow)
            page = await other.new_page()
            await page.goto(guarded.http + "/")
            await page.fill("#token", "sesame")
            await page.click("#connect")
            await wait_for(page, "window.antiphon.status === 'idle' && window.antiphon.error !== ''")
            assert words in await page.text_content("#error")
            await other.close()


WORKLET_PROBE = """
async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const ctx = new AudioContext({ sampleRate: 48000 });
  await ctx.audioWorklet.addModule("worklets.js");
  const out = {};

  // Capture: a 440 Hz tone at 48 kHz comes out as 640-sample frames at 16 kHz, still 440 Hz.
  const osc = new OscillatorNode(ctx, { frequency: 440 });
  const gain = new GainNode(ctx, { gain: 0.5 });
  const capture = new AudioWorkletNode(ctx, "antiphon-capture", { numberOfOutputs: 0,
    processorOptions: { sessionRate: 16000, frameSamples: 640 } });
  const frames = [];
  capture.port.onmessage = (e) => frames.push(new Int16Array(e.data.pcm));
  osc.connect(gain).connect(capture);
  osc.start();
  while (frames.length < 12) await sleep(20);
  osc.stop();
  const x = frames.slice(4, 12).flatMap((f) => Array.from(f, (v) => v / 32768));
  let crossings = 0;
  for (let i = 1; i < x.length; i++) if ((x[i - 1] < 0) !== (x[i] < 0)) crossings++;
  out.captureFrameLengths = [...new Set(frames.map((f) => f.length))];
  out.captureHz = crossings / 2 / (x.length / 16000);
  out.captureRms = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);

  // Playback: nothing plays below the start threshold; fed at real time it plays; starved, it
  // counts one underrun; a flush empties the queue.
  const player = new AudioWorkletNode(ctx, "antiphon-playback", { numberOfInputs: 0, outputChannelCount: [1],
    processorOptions: { sessionRate: 16000, startMs: 120 } });
  let stats = {};
  player.port.onmessage = (e) => { stats = e.data; };
  player.connect(ctx.destination);
  const frame = () => {
    const pcm = new Int16Array(640);
    for (let i = 0; i < 640; i++) pcm[i] = Math.round(8000 * Math.sin(2 * Math.PI * 300 * i / 16000));
    return pcm.buffer;
  };
  player.port.postMessage({ pcm: frame() });
  player.port.postMessage({ pcm: frame() });
  await sleep(300);
  out.belowThreshold = { ...stats };
  for (let i = 0; i < 25; i++) { player.port.postMessage({ pcm: frame() }); await sleep(40); }
  out.fed = { ...stats };
  await sleep(600);
  out.starved = { ...stats };
  for (let i = 0; i < 40; i++) player.port.postMessage({ pcm: frame() });
  await sleep(250);
  out.queued = { ...stats };
  player.port.postMessage({ flush: true });
  await sleep(250);
  out.flushed = { ...stats };
  await ctx.close();
  return out;
}
"""


async def test_worklets_resample_buffer_count_underruns_and_flush(server_factory):
    from playwright.async_api import async_playwright

    srv = await server_factory()
    async with async_playwright() as p:
        browser = await launch(p, None)
        page = await browser.new_page()
        await page.goto(srv.http + "/")
        out = await page.evaluate(WORKLET_PROBE)
        await browser.close()
    assert out["captureFrameLengths"] == [640]
    assert abs(out["captureHz"] - 440) < 10, out["captureHz"]
    assert abs(out["captureRms"] - 0.5 / 2 ** 0.5) < 0.03  # the resampler keeps the level
    assert out["belowThreshold"]["playedMs"] == 0 and out["belowThreshold"]["bufferedMs"] == pytest.approx(80, abs=5)
    assert out["fed"]["playedMs"] > 500 and out["fed"]["underruns"] == 0
    assert out["starved"]["underruns"] == 1 and out["starved"]["bufferedMs"] == 0
    assert out["queued"]["bufferedMs"] > 1000 and out["queued"]["flushes"] == 0
    assert out["flushed"]["flushes"] == 1 and out["flushed"]["bufferedMs"] == 0
    assert out["flushed"]["peak"] <= 8000 / 32768 + 0.01  # fades never overshoot the signal


@pytest.mark.skipif(not (BUNDLED / "lm").is_dir(), reason="no bundled model in this checkout")
async def test_page_shows_the_words_the_bundled_agent_heard(tmp_path):
    """The bundled agent names the words it hears (its word head); the page shows them as "You:"."""
    from playwright.async_api import async_playwright

    from antiphon.harness.spawn import ServerProcess

    mic = fake_mic_wav(tmp_path / "mic.wav", seconds=4.0)
    server = ServerProcess()
    try:
        async with async_playwright() as p:
            browser = await launch(p, mic)
            page = await browser.new_page()
            await page.goto(server.http + "/")
            await page.click("#connect")
            await wait_for(page, "window.antiphon.hello !== null && window.antiphon.hello.user_text === true")
            # words, not times: on a busy machine the server answers later. The fake microphone loops
            # the question from a phase of its own against the 40 ms frames, and in some phases the
            # word head names one word in a pass: 20 s of frames hear it about five times.
            await wait_for(page, "window.antiphon.heard.split(' ').length >= 4 || window.antiphon.sentFrames >= 500",
                           timeout_s=90)
            heard = await page.evaluate("window.antiphon.heard")
            shown = await page.text_content("#heard")
            await browser.close()
    finally:
        server.stop()
    named = heard.split()
    assert sum(w in named for w in "what is seven plus five".split()) >= 2, heard
    assert shown == heard
