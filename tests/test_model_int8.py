"""The model's step with int8 weights (`--model-backend onnx-int8`): the bundled agent gives the
answers it gives in float32 to real spoken questions, while its logits are really those of other
weights (a backend that quietly ran float32 would fail here)."""
import torch

from antiphon.codec import load_codec
from antiphon.harness import eval_voices
from antiphon.harness.offline import answer
from antiphon.model import load_model


def test_int8_step_answers_as_the_float_step(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    torch.set_num_threads(1)
    codec = load_codec("model/bundled/codec")
    full = load_model("bundled", backend="onnx")
    int8 = load_model("bundled", backend="onnx-int8")
    graphs = {p.name: p.stat().st_size for p in (tmp_path / "onnx").glob("model-*.onnx")}
    quantized = [n for n in graphs if n.endswith("-w8.onnx")]
    assert len(graphs) == 2 and len(quantized) == 1, graphs
    (float_graph,) = set(graphs) - set(quantized)
    assert graphs[quantized[0]] < 0.5 * graphs[float_graph], "int8 weights take a quarter of the bytes"
    # espeak-ng's held-out voices and festival (never trained on), spoken whole
    qs = eval_voices.questions(codec.sample_rate, codec.frame_size, 1, 0, ["espeak", "festival"])
    qs = [q for q in qs if q.intent in ("add", "thanks", "name")]
    rows = [(answer(full, codec, q), answer(int8, codec, q)) for q in qs]
    got = [(a["answer"], b["answer"]) for a, b in rows]
    assert all(a == b for a, b in got), got
    # an answer is written after the question's last sound, within the short gap it was trained on
    after = [a["first_byte_after_ms"] for a, _ in rows if a["right"]]
    assert after and all(0 < ms < 400 for ms in after), after
    assert sum(a == q.expected for (a, _), q in zip(got, qs)) >= 2, "the questions should be ones it answers"

    # one step from the same state and input: any difference is the weights'
    user = torch.randint(0, full.cfg.cardinality, (1, full.cfg.num_codebooks), generator=torch.Generator().manual_seed(0))
    a, b = full.stream(1), int8.stream(1)
    a.step(user)
    b.step(user)
    diff = float((a.last_logits[1] - b.last_logits[1]).abs().max())
    assert diff > 1e-3, "int8 weights should move the logits"


def test_int8_step_keeps_sessions_apart(tmp_path, monkeypatch):
    """A session's logits are the same whoever shares its tick: the activations are quantized row
    by row, not with one scale for the batch (per-tensor dynamic quantization moved them by 0.4)."""
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    torch.set_num_threads(1)
    int8 = load_model("bundled", backend="onnx-int8")
    K, C = int8.cfg.num_codebooks, int8.cfg.cardinality
    g = torch.Generator().manual_seed(1)
    mine, theirs = torch.randint(0, C, (12, 1, K), generator=g), torch.randint(0, C, (12, 3, K), generator=g)
    theirs[:, 1] = 0  # one neighbour says the same code over and over, another varies
    alone, shared = int8.stream(1), int8.stream(4)
    for t in range(12):
        alone.step(mine[t])
        shared.step(torch.cat([mine[t], theirs[t]]))
        for a, b in zip(alone.last_logits, shared.last_logits):
            assert torch.equal(a[0], b[0]), f"frame {t}: {float((a[0] - b[0]).abs().max())}"
