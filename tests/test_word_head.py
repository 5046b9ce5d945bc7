"""The word head: streamed frame by frame it names what a teacher-forced pass names, in torch and
in ONNX Runtime; checkpoints keep it; each word is named once, on the frame it first appears."""
import pytest
import torch

from antiphon.model import SamplingSettings, load_model
from antiphon.model.checkpoint import load_checkpoint, save_checkpoint
from antiphon.model.train import lm_data
from antiphon.model.train.word_recipe import transcripts, word_targets
from antiphon.model.word_head import WordHead

GREEDY = SamplingSettings(text_temperature=0, audio_temperature=0)
WORDS = ["yes", "no", "maybe"]


def with_head(backend="torch", seed=5):
    model = load_model("random:tiny", seed=seed)
    torch.manual_seed(seed)
    model.word_head = WordHead(model.cfg.dim, WORDS, depth=1)
    torch.nn.init.normal_(model.word_head.mlp[-1].weight, std=2.0)  # so the argmax moves between classes
    return model.use_step_backend(backend)


def run(model, frames=60, batch=2, seed=0):
    s = model.stream(batch)
    for slot in range(batch):
        s.configure(slot, GREEDY)
    g = torch.Generator().manual_seed(seed)
    tokens, logits, heard = [], [], []
    for _ in range(frames):
        s.step(torch.randint(0, model.cfg.cardinality, (batch, model.cfg.num_codebooks), generator=g))
        tokens.append(s.last_tokens.clone())
        logits.append(s.last_logits[2].clone())
        heard.append(s.heard(list(range(batch))))
    return torch.stack(tokens, 1), torch.stack(logits, 1), heard


def test_streamed_words_equal_the_teacher_forced_head_and_are_named_once():
    model = with_head()
    tokens, stepped, heard = run(model)
    with torch.no_grad():
        states = model.hidden_states(tokens)
        forced = model.word_head(states[model.word_head.block(model.cfg.layers)])
    assert (forced - stepped).abs().max() < 1e-4
    ids = forced.argmax(-1)
    assert len(set(ids.flatten().tolist())) > 2, "the test needs a head whose choice moves"
    for b in range(2):
        named = [h[b] for h in heard]
        expected = transcripts(ids[b:b + 1], model.word_head)[0].split()
        assert [w for w in named if w] == expected
        # a word held over several frames is named on the first of them only
        for t in range(1, ids.shape[1]):
            if ids[b, t] == ids[b, t - 1]:
                assert named[t] is None


def test_inactive_and_reset_slots_name_nothing_then_start_afresh():
    model = with_head()
    s = model.stream(2)
    user = torch.zeros(2, model.cfg.num_codebooks, dtype=torch.long)
    s.step(user, torch.tensor([True, False]))
    assert s.heard([1]) == [None]
    first = s.heard([0])[0]
    s.step(user, torch.tensor([True, False]))
    s.reset([0])
    s.step(user, torch.tensor([True, False]))
    assert s.heard([0]) == [first], "a reset slot names its first word again, as a fresh stream does"


def test_onnx_step_names_the_same_words(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    _, a, heard_a = run(with_head("torch"))
    _, b, heard_b = run(with_head("onnx"))
    assert (a - b).abs().max() < 1e-4
    assert heard_a == heard_b


def test_checkpoints_keep_the_word_head(tmp_path):
    model = with_head()
    loaded, meta = load_checkpoint(save_checkpoint(model, tmp_path / "lm"))
    assert meta["words"] == {"depth": 1, "hidden": 512, "vocabulary": WORDS}
    assert loaded.word_head.words == WORDS
    for k, v in model.word_head.state_dict().items():
        assert torch.equal(loaded.word_head.state_dict()[k], v), k
    plain, meta = load_checkpoint(save_checkpoint(load_model("random:tiny"), tmp_path / "plain"))
    assert plain.word_head is None and "words" not in meta
    model.word_head.depth = 5  # the tiny model has 2 blocks
    with pytest.raises(ValueError, match="depth 5 does not fit a model of 2 blocks"):
        load_checkpoint(save_checkpoint(model, tmp_path / "deep"))


def test_word_targets_name_two_frames_and_transcripts_collapse_them():
    NO = lm_data.NO_WORD
    heard = torch.tensor([[NO, 0, NO, NO, 2, 1, NO]])
    head = WordHead(8, WORDS, 0)
    n = head.none
    assert word_targets(heard, n).tolist() == [[n, 0, 0, n, 2, 1, 1]]
    assert transcripts(word_targets(heard, n), head) == ["yes maybe no"]
