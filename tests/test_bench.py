"""The benchmark's arithmetic on synthetic timelines, and a short smoke run against spawned servers."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from antiphon.harness.bench import load_questions
from antiphon.harness.bench_stats import frame_latencies, is_realtime, max_realtime, percentiles, response_latency
from antiphon.common.command import antiphon_command


def test_percentiles():
    p = percentiles(range(1, 101))
    assert p["p50"] == 50.5 and p["max"] == 100 and abs(p["p99"] - 99.01) < 1e-9
    assert percentiles([])["p50"] is None


def test_frame_latency_pairs_outputs_with_their_input_frame():
    sent = {0: 1.00, 1: 1.04, 2: 1.08}
    marks = [(1.02, None), (1.05, 0), (1.09, 1), (1.20, 2), (1.30, 7)]  # 7 was never sent: ignored
    assert [round(x, 3) for x in frame_latencies(sent, marks)] == [0.05, 0.05, 0.12]


def test_response_latency_finds_first_loud_frame_after_utterance_end():
    outputs = [(0.9, 0.5), (1.0, 0.0), (1.1, 0.001), (1.25, 0.2), (1.3, 0.3)]
    assert abs(response_latency(1.0, outputs, 0.01) - 0.25) < 1e-9
    assert response_latency(1.0, outputs, 0.01, until=1.2) is None
    assert response_latency(2.0, outputs, 0.01) is None


def test_realtime_rule():
    assert is_realtime(0.01, 0.08, 0.04)
    assert not is_realtime(0.011, 0.05, 0.04)
    assert not is_realtime(0.0, 0.081, 0.04)
    assert not is_realtime(0.0, None, 0.04)
    recs = [{"sessions": 1, "realtime": True}, {"sessions": 2, "realtime": True}, {"sessions": 4, "realtime": False}]
    assert max_realtime(recs) == 2 and max_realtime([]) == 0


def test_questions_from_recordings_are_mono_at_the_codec_rate(tmp_path):
    t = np.arange(22050) / 22050
    soundfile.write(tmp_path / "b.wav", np.stack([np.sin(2 * np.pi * 200 * t)] * 2, axis=1) * 0.3, 22050)
    soundfile.write(tmp_path / "a.wav", np.zeros(4000), 8000)
    (tmp_path / "notes.txt").write_text("not a recording")
    a, b = load_questions(str(tmp_path), 16000)  # sorted by name
    assert a.shape == (8000,) and not a.any()
    assert b.dtype == np.float32 and b.ndim == 1 and abs(len(b) - 16000) <= 2 and 0.25 < b.max() < 0.35
    with pytest.raises(SystemExit, match="no .wav files"):
        load_questions(str(tmp_path / "nothing"), 16000)


def test_smoke_run_writes_every_field(tmp_path):
    r = subprocess.run(antiphon_command("bench", "--model", "random:tiny", "--sessions", "1,2",
                        "--seconds", "3", "--rss-every", "0.5", "--server-threads", "1", "--out", str(tmp_path),
                        "--model-backend", "onnx", "--codec-backend", "onnx"),
                       capture_output=True, text=True, timeout=240, env={**os.environ, "ANTIPHON_CACHE": str(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((tmp_path / "bench.json").read_text())
    assert {"max_realtime_sessions", "baseline_max_realtime_sessions", "records"} <= set(summary)
    assert (summary["model_backend"], summary["codec_backend"]) == ("onnx", "onnx")
    assert list((tmp_path / "onnx").glob("model-*.onnx")), "the spawned servers ran the ONNX model step"
    engines = {rec["engine"] for rec in summary["records"]}
    assert engines == {"batched", "serial"}
    for rec in summary["records"]:
        for key in ("sessions", "frame_latency_s", "response_latency_s", "late_ticks", "late_fraction",
                    "tick_mean_s", "input_underruns", "server_cpu_percent", "server_rss_mib", "realtime",
                    "client_cpu_percent", "client_processes", "users_measured"):
            assert key in rec, key
        assert set(rec["frame_latency_s"]) == {"p50", "p95", "p99", "max"}
        assert rec["server_threads"] == 1  # --server-threads reached the spawned server
        assert rec["frame_latency_s"]["p50"] > 0 and rec["ticks"] > 0
        times = [t for t, _ in rec["rss_samples"]]
        assert len(times) >= 5 and times == sorted(times) and all(m > 50 for _, m in rec["rss_samples"])
        assert "rss_growth_mib_per_min" in rec
    assert (tmp_path / "bench.png").stat().st_size > 1000
    assert "max real-time sessions" in (tmp_path / "bench.md").read_text()


def test_the_real_time_rule_uses_the_served_codecs_frame():
    """Mimi's frames are 80 ms at 24 kHz: judging a Moshi server by the small codec's 40 ms would
    call it late at half its load."""
    from antiphon.harness.bench import codec_timing

    assert codec_timing("random:moshi-tiny") == (1920, 24000, True)
    assert codec_timing("random:moshi-7b") == (1920, 24000, True)
    assert codec_timing("random:100m") == (320, 24000, False)
    assert codec_timing("bundled") == (640, 16000, False)


def test_users_spread_over_client_processes_are_all_measured(tmp_path):
    """Users in two processes, their frame clocks spread over a frame: every one is measured."""
    r = subprocess.run(antiphon_command("bench", "--model", "random:tiny", "--sessions", "3",
                        "--seconds", "3", "--no-baseline", "--client-processes", "2", "--server-threads", "1",
                        "--phase-spread", "--out", str(tmp_path)), capture_output=True, text=True, timeout=240,
                       env={**os.environ, "ANTIPHON_CACHE": str(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
    (rec,) = json.loads((tmp_path / "bench.json").read_text())["records"]
    assert rec["client_processes"] == 2 and rec["users_measured"] == 3  # both processes' users came back
    assert rec["phase_spread"] is True
    assert rec["frame_latency_s"]["p50"] > 0 and rec["client_cpu_percent"] > 0
    assert "| client CPU % |" in (tmp_path / "bench.md").read_text()


def test_spread_users_start_at_their_own_points_of_a_frame():
    from antiphon.harness.load import phase_offset

    offsets = [phase_offset(seed, 0.04) for seed in range(16)]
    assert offsets == [phase_offset(seed, 0.04) for seed in range(16)]  # the same users each run
    assert all(0 <= o < 0.04 for o in offsets) and len(set(offsets)) == 16
    assert max(offsets) - min(offsets) > 0.02  # spread over the frame, not bunched


def test_tick_profile_names_every_stage():
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "profile_tick.py")
    r = subprocess.run([sys.executable, script, "--sessions", "2", "--frames", "3"], capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("peak: ") and "GFLOP/s" in r.stdout.splitlines()[0]
    for stage in ("codec encode", "model step", "sampling", "codec decode", "delivery", "tick"):
        assert f"| 2 | {stage}" in r.stdout or f"| 2 | **{stage}" in r.stdout, stage
