"""The training recipes on tiny configs: exact resume (after a clean stop and after kill -9), the
run directory's records, and two-process DistributedDataParallel."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from antiphon.codec.architecture import CONFIGS as CODEC_CONFIGS, build_modules
from antiphon.codec.checkpoint import save_checkpoint
from antiphon.common.command import antiphon_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Rendered speech and datasets in a private cache, shared by this module's runs."""
    path = tmp_path_factory.mktemp("antiphon-cache")
    old = os.environ.get("ANTIPHON_CACHE")
    os.environ["ANTIPHON_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("ANTIPHON_CACHE")
    else:
        os.environ["ANTIPHON_CACHE"] = old


@pytest.fixture(scope="module")
def tiny_codec_dir(cache):
    return save_checkpoint(build_modules(CODEC_CONFIGS["tiny"], seed=0), CODEC_CONFIGS["tiny"], cache / "codec")


def _cli(*args):
    return antiphon_command("train", *args)


def _env(cache):
    return {**os.environ, "ANTIPHON_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def _weights(path):
    return load_file(str(Path(path) / "model.safetensors"))


def _same(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


CODEC_ARGS = ["codec", "--config", "tiny", "--batch", "2", "--voices", "2"]


def test_codec_resume_after_kill_equals_uninterrupted(cache, tmp_path):
    steps = "12"
    whole = subprocess.run(_cli(*CODEC_ARGS, "--steps", steps, "--out", str(tmp_path / "whole")),
                           env=_env(cache), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]
    assert json.loads(whole.stdout.strip().splitlines()[-1])["step"] == 12

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*CODEC_ARGS, "--steps", steps, "--out", str(out), "--save-seconds", "0"),
                            env=_env(cache), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "losses.jsonl"
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 4):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(out / "checkpoint.pt", weights_only=False)["step"]
    assert 3 <= killed_at < 12, "the kill should land mid-run"
    resumed = subprocess.run(_cli(*CODEC_ARGS, "--steps", steps, "--out", str(out)), env=_env(cache), cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _same(_weights(tmp_path / "whole" / "codec"), _weights(out / "codec"))
    steps_logged = [json.loads(ln)["step"] for ln in log.read_text().splitlines()]
    assert steps_logged == list(range(1, 13))
    assert (out / "loss.png").stat().st_size > 1000
    settings = json.loads((out / "settings.json").read_text())
    assert settings["config"] == "tiny" and settings["batch"] == 2 and "lr" in settings and "seed" in settings


def test_resume_refuses_other_settings(cache, tmp_path):
    from antiphon.model.train.codec_recipe import train

    train(out=tmp_path, steps=1, config="tiny", batch=2, voices=2)
    with pytest.raises(ValueError, match="other settings.*batch"):
        train(out=tmp_path, steps=2, config="tiny", batch=3, voices=2)


def test_a_setting_added_since_a_run_began_resumes_when_off(tmp_path):
    """A run recorded before a setting existed resumes with it off, and refuses it on."""
    from antiphon.model.train.run import TrainRun

    TrainRun(tmp_path, {"batch": 2, "steps": 4})
    TrainRun(tmp_path, {"batch": 2, "steps": 8, "channel": 0.0, "init": None})
    with pytest.raises(ValueError, match="other settings.*channel"):
        TrainRun(tmp_path, {"batch": 2, "steps": 8, "channel": 0.5})


def test_codec_run_can_start_from_a_trained_codec(cache, tiny_codec_dir, tmp_path):
    from antiphon.model.train.codec_recipe import train

    train(out=tmp_path / "init", steps=1, config="tiny", batch=2, voices=2, lr=1e-12, init=str(tiny_codec_dir))
    start, after = _weights(tiny_codec_dir), _weights(tmp_path / "init" / "codec")
    assert all(torch.allclose(start[k].float(), after[k].float(), atol=1e-6) for k in start if "embed" not in k)
    assert json.loads((tmp_path / "init" / "settings.json").read_text())["init"] == str(tiny_codec_dir)
    other = save_checkpoint(build_modules(CODEC_CONFIGS["small"], seed=0), CODEC_CONFIGS["small"], tmp_path / "small")
    with pytest.raises(ValueError, match="is a small codec; this run trains tiny"):
        train(out=tmp_path / "wrong", steps=1, config="tiny", batch=2, voices=2, init=str(other))



def test_agent_decoder_tunes_only_the_decoder_and_bundles_with_the_models_codec(cache, tiny_codec_dir, tmp_path):
    """The decoder learns the agent's voice; the encoder and codebooks (the tokens a model was
    trained on) stay exactly as they were, and the bundle accepts the pair."""
    from antiphon.model import load_model
    from antiphon.model.checkpoint import save_checkpoint as save_lm
    from antiphon.model.train.bundle import write_bundle
    from antiphon.model.train.codec_recipe import train

    with pytest.raises(ValueError, match="pass it with --init"):
        train(out=tmp_path / "no-init", steps=1, config="tiny", batch=2, agent_decoder=True)
    result = train(out=tmp_path / "dec", steps=3, config="tiny", batch=2, init=str(tiny_codec_dir), agent_decoder=True)
    start, after = _weights(tiny_codec_dir), _weights(result["checkpoint"])
    kept = [k for k in start if not k.startswith("decoder.")]
    assert kept and all(torch.equal(start[k], after[k]) for k in kept)  # quantizer buffers included
    assert any(not torch.equal(start[k], after[k]) for k in start if k.startswith("decoder."))
    meta = json.loads((Path(result["checkpoint"]) / "config.json").read_text())
    assert meta["tokens_from"] == str(tiny_codec_dir.resolve())
    lm = save_lm(load_model("random:tiny"), tmp_path / "lm", codec=str(tiny_codec_dir))
    assert write_bundle(result["checkpoint"], lm, tmp_path / "bundled")["bytes"] > 0
    # tuned again from the bundle's decoder: the tokens are still the first codec's, and the bundled
    # model (which names the bundle's codec, not the first) goes with the new decoder
    again = train(out=tmp_path / "again", steps=1, config="tiny", batch=2, init=str(tmp_path / "bundled" / "codec"),
                  agent_decoder=True)
    assert json.loads((Path(again["checkpoint"]) / "config.json").read_text())["tokens_from"] == \
        str(tiny_codec_dir.resolve())
    assert write_bundle(again["checkpoint"], tmp_path / "bundled" / "lm", tmp_path / "bundled2")["bytes"] > 0
    other = save_checkpoint(build_modules(CODEC_CONFIGS["tiny"], seed=1), CODEC_CONFIGS["tiny"], tmp_path / "other")
    with pytest.raises(ValueError, match="was trained on the tokens of"):
        write_bundle(other, tmp_path / "bundled" / "lm", tmp_path / "bundled3")


def test_agent_decoder_answer_crops_hold_the_tokens_the_model_says(cache, tiny_codec_dir, tmp_path):
    """--answers: a crop of the agent's answer encodes to the very tokens the model's data gives that
    answer (encoded once from silence, on a frame boundary), which are what the served decoder voices."""
    import numpy as np

    from antiphon.codec import load_codec
    from antiphon.model.data import UtteranceMaker, all_answers
    from antiphon.model.train.codec_recipe import SpeechSegments, train
    from antiphon.model.train.lm_data import LEAD, Float32Encoder, encode_utterances

    for bad, match in ((dict(answers=0.5), "use it with --agent-decoder"),
                       (dict(answers=1.5, agent_decoder=True, init=str(tiny_codec_dir)), r"in \[0, 1\]")):
        with pytest.raises(ValueError, match=match):
            train(out=tmp_path / "bad", steps=1, config="tiny", batch=2, **bad)
    codec = load_codec(str(tiny_codec_dir))
    fs, rate = codec.frame_size, codec.sample_rate
    data = SpeechSegments(rate, fs, voices=1, seed=0, agent_only=True, answers=1.0)
    maker, encode = UtteranceMaker(rate, fs), Float32Encoder(codec)
    said = {a: maker.agent_utterance(a)[0] for a in all_answers()}
    samples = -(-(LEAD * fs + max(map(len, said.values()))) // fs) * fs  # room for the longest answer
    crops = data.batch(step=0, rank=0, size=4, samples=samples)[:, 0].numpy()

    def answers_in(crop):
        at = LEAD * fs
        return [a for a, pcm in said.items() if not crop[:at].any() and not crop[at + len(pcm):].any()
                and np.array_equal(crop[at: at + len(pcm)], pcm)]
    for crop in crops:
        found = answers_in(crop)
        assert len(found) == 1
        pcm = said[found[0]]
        (served,), _ = encode_utterances(encode, [pcm], [0], fs, None, rate)
        codes = encode([crop]).numpy()[0, :, LEAD:]
        n = -(-len(pcm) // fs)  # the answer's frames (the crop may end before the served tail does)
        assert np.array_equal(codes[:, :n], served[:, :n])
    mixed = SpeechSegments(rate, fs, voices=1, seed=0, agent_only=True, answers=0.5).batch(0, 0, 32, samples)
    assert 0 < sum(bool(answers_in(c[0])) for c in mixed.numpy()) < 32


def test_wider_agent_decoder_keeps_the_tokens_and_starts_its_decoder_fresh(cache, tiny_codec_dir, tmp_path):
    """--decoder-filters: the encoder and codebooks come from --init unchanged, the decoder is the
    wider one (random at the start), and the checkpoint records its width."""
    from antiphon.codec import load_codec
    from antiphon.model.train.codec_recipe import train

    with pytest.raises(ValueError, match="use it with --agent-decoder"):
        train(out=tmp_path / "plain", steps=1, config="tiny", batch=2, decoder_filters=8, init=str(tiny_codec_dir))
    result = train(out=tmp_path / "wide", steps=2, config="tiny", batch=2, init=str(tiny_codec_dir),
                   agent_decoder=True, decoder_filters=2 * CODEC_CONFIGS["tiny"].n_filters)
    start, after = _weights(tiny_codec_dir), _weights(result["checkpoint"])
    assert all(torch.equal(start[k], after[k]) for k in start if not k.startswith("decoder."))
    widths = {k: v.shape for k, v in after.items() if k.startswith("decoder.")}
    assert widths != {k: v.shape for k, v in start.items() if k.startswith("decoder.")}
    codec = load_codec(result["checkpoint"])
    assert codec.config.decoder_filters == 2 * CODEC_CONFIGS["tiny"].n_filters
    wav = torch.randn(1, 1, 4 * codec.frame_size) * 0.2
    assert torch.equal(codec.encode(wav), load_codec(tiny_codec_dir).encode(wav))
    # going on from the wide decoder (as from the bundle) keeps its width and its weights
    again = train(out=tmp_path / "again", steps=1, config="tiny", batch=2, init=result["checkpoint"],
                  agent_decoder=True, lr=1e-12)
    later = _weights(again["checkpoint"])
    assert all(torch.allclose(after[k].float(), later[k].float(), atol=1e-6) for k in after if k.startswith("decoder."))


def test_lm_resume_equals_uninterrupted(cache, tiny_codec_dir, tmp_path):
    from antiphon.model.train.lm_recipe import train

    common = dict(config="tiny", codec=str(tiny_codec_dir), batch=2, questions=6, frames=120, voices=2,
                  warmup=2, held_out=4, eval_every=2)
    whole = train(out=tmp_path / "whole", steps=6, **common)
    train(out=tmp_path / "split", steps=3, **common)
    split = train(out=tmp_path / "split", steps=6, **common)
    assert whole["step"] == split["step"] == 6
    a, b = _weights(tmp_path / "whole" / "lm"), _weights(tmp_path / "split" / "lm")
    assert _same(a, b)
    meta = json.loads((tmp_path / "whole" / "lm" / "config.json").read_text())
    assert meta["codec"] == str(tiny_codec_dir.resolve())
    losses = [json.loads(ln) for ln in (tmp_path / "split" / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses] == list(range(1, 7)) and all(r["loss"] > 0 for r in losses)
    assert [r["step"] for r in losses if "heldout_text_acc" in r] == [2, 4, 6]
    assert all(0 <= r["heldout_text_acc"] <= 1 for r in losses if "heldout_text_acc" in r)
    assert all(0 <= r["heldout_answer_exact"] <= 1 for r in losses if "heldout_text_acc" in r)
    # a new run can start from the trained weights (what a later session does with the bundle)
    train(out=tmp_path / "init", steps=1, init=str(tmp_path / "whole" / "lm"), **{**common, "lr": 1e-12})
    c = _weights(tmp_path / "init" / "lm")
    assert all(torch.allclose(a[k].float(), c[k].float(), atol=1e-6) for k in a)


def test_lm_seed_draws_the_run_and_data_seed_the_cached_bank(cache, tiny_codec_dir, tmp_path):
    """Runs to be averaged differ in --seed and share one bank: a new seed renders nothing new."""
    from antiphon.model.train.lm_recipe import train

    common = dict(config="tiny", codec=str(tiny_codec_dir), batch=2, questions=6, frames=120, voices=2,
                  warmup=2, held_out=0)
    train(out=tmp_path / "s0", steps=2, seed=0, **common)
    banks = sorted(p.relative_to(cache) for p in (cache / "data").rglob("*.pt"))
    train(out=tmp_path / "s1", steps=2, seed=1, data_seed=0, **common)
    assert sorted(p.relative_to(cache) for p in (cache / "data").rglob("*.pt")) == banks
    a, b = _weights(tmp_path / "s0" / "lm"), _weights(tmp_path / "s1" / "lm")
    assert not _same(a, b)
    settings = json.loads((tmp_path / "s1" / "settings.json").read_text())
    assert (settings["seed"], settings["data_seed"]) == (1, 0)


def test_lm_run_from_before_a_new_setting_resumes(cache, tiny_codec_dir, tmp_path):
    """A run whose settings.json predates --agent-gap resumes with the default gap, not an error."""
    from antiphon.model.train.lm_recipe import train

    common = dict(config="tiny", codec=str(tiny_codec_dir), batch=2, questions=6, frames=120, voices=2,
                  warmup=2, held_out=0)
    train(out=tmp_path / "old", steps=2, **common)
    recorded = tmp_path / "old" / "settings.json"
    settings = json.loads(recorded.read_text())
    del settings["agent_gap"]
    recorded.write_text(json.dumps(settings))
    assert train(out=tmp_path / "old", steps=3, **common)["step"] == 3
    with pytest.raises(ValueError, match="agent_gap"):  # a gap other than the run's is refused
        train(out=tmp_path / "old", steps=4, agent_gap=[0.04, 0.08], **common)


def test_average_writes_the_mean_of_the_models_weights(tiny_codec_dir, tmp_path):
    from antiphon.model import load_model
    from antiphon.model.checkpoint import save_checkpoint as save_model
    from antiphon.model.train.average import average_models

    dirs = [save_model(load_model("random:tiny", seed=s), tmp_path / f"m{s}", codec=str(tiny_codec_dir))
            for s in (1, 2, 3)]
    done = subprocess.run(_cli("average", "--models", *map(str, dirs), "--out", str(tmp_path / "mean")),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    parts = [load_model(d).state_dict() for d in dirs]
    mean = load_model(tmp_path / "mean")
    assert mean.codec_name == str(tiny_codec_dir.resolve())
    for name, value in mean.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, sum(p[name] for p in parts) / 3, atol=1e-6), name
        else:
            assert torch.equal(value, parts[0][name]), name
    other_codec = save_model(load_model("random:tiny", seed=4), tmp_path / "other", codec="random:tiny")
    with pytest.raises(ValueError, match="reads the codec"):
        average_models([dirs[0], other_codec], tmp_path / "bad")
    with pytest.raises(ValueError, match="another shape"):
        average_models([dirs[0], save_model(load_model("random:small", seed=0), tmp_path / "small",
                                             codec=str(tiny_codec_dir))], tmp_path / "bad")
    refused = subprocess.run(_cli("average", "--models", str(dirs[0]), "--out", str(tmp_path / "bad")),
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "at least two" in refused.stderr and "Traceback" not in refused.stderr


def test_lm_under_torchrun_two_ranks_hold_identical_weights(cache, tiny_codec_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "antiphon.cli", "train", "lm", "--config", "tiny", "--codec", str(tiny_codec_dir), "--steps", "3",
           "--batch", "2", "--questions", "6", "--frames", "120", "--voices", "2", "--out", str(out),
           "--every-rank-saves"]
    done = subprocess.run(cmd, env={**_env(cache), "ANTIPHON_DDP_BACKEND": "gloo"}, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(ln) for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert len(reports) == 2 and all(r["ranks_equal"] for r in reports)
    r0, r1 = _weights(out / "lm-rank0"), _weights(out / "lm-rank1")
    assert _same(r0, r1)
    from antiphon.model import load_model

    init = load_model("random:tiny").state_dict()
    assert not torch.equal(init["embed.weight"], r0["embed.weight"]), "the ranks did train"
