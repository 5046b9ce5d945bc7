"""The training recipes on tiny configs: exact resume (after a clean stop and after kill -9), the
run directory's records, and two-process DistributedDataParallel."""
import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from antiphon.codec.architecture import CONFIGS as CODEC_CONFIGS, build_modules
from antiphon.codec.checkpoint import save_checkpoint
from training_runs import run_env, same, train_cli, weights

ROOT = Path(__file__).resolve().parents[1]

CODEC_ARGS = ["codec", "--config", "tiny", "--batch", "2", "--voices", "2"]


def test_codec_resume_after_kill_equals_uninterrupted(training_cache, tmp_path):
    steps = "12"
    whole = subprocess.run(train_cli(*CODEC_ARGS, "--steps", steps, "--out", str(tmp_path / "whole")),
                           env=run_env(training_cache), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]
    assert json.loads(whole.stdout.strip().splitlines()[-1])["step"] == 12

    out = tmp_path / "killed"
    proc = subprocess.Popen(train_cli(*CODEC_ARGS, "--steps", steps, "--out", str(out), "--save-seconds", "0"),
                            env=run_env(training_cache), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "losses.jsonl"
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline and not (log.is_file() and len(log.read_text().splitlines()) >= 4):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(out / "checkpoint.pt", weights_only=False)["step"]
    assert 3 <= killed_at < 12, "the kill should land mid-run"
    resumed = subprocess.run(train_cli(*CODEC_ARGS, "--steps", steps, "--out", str(out)), env=run_env(training_cache), cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert same(weights(tmp_path / "whole" / "codec"), weights(out / "codec"))
    steps_logged = [json.loads(ln)["step"] for ln in log.read_text().splitlines()]
    assert steps_logged == list(range(1, 13))
    assert (out / "loss.png").stat().st_size > 1000
    settings = json.loads((out / "settings.json").read_text())
    assert settings["config"] == "tiny" and settings["batch"] == 2 and "lr" in settings and "seed" in settings


def test_resume_refuses_other_settings(training_cache, tmp_path):
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


def test_codec_run_can_start_from_a_trained_codec(training_cache, tiny_codec_dir, tmp_path):
    from antiphon.model.train.codec_recipe import train

    train(out=tmp_path / "init", steps=1, config="tiny", batch=2, voices=2, lr=1e-12, init=str(tiny_codec_dir))
    start, after = weights(tiny_codec_dir), weights(tmp_path / "init" / "codec")
    assert all(torch.allclose(start[k].float(), after[k].float(), atol=1e-6) for k in start if "embed" not in k)
    assert json.loads((tmp_path / "init" / "settings.json").read_text())["init"] == str(tiny_codec_dir)
    other = save_checkpoint(build_modules(CODEC_CONFIGS["small"], seed=0), CODEC_CONFIGS["small"], tmp_path / "small")
    with pytest.raises(ValueError, match="is a small codec; this run trains tiny"):
        train(out=tmp_path / "wrong", steps=1, config="tiny", batch=2, voices=2, init=str(other))



def test_lm_resume_equals_uninterrupted(training_cache, tiny_codec_dir, tmp_path):
    from antiphon.model.train.lm_recipe import train

    common = dict(config="tiny", codec=str(tiny_codec_dir), batch=2, questions=6, frames=120, voices=2,
                  warmup=2, held_out=4, eval_every=2)
    whole = train(out=tmp_path / "whole", steps=6, **common)
    train(out=tmp_path / "split", steps=3, **common)
    split = train(out=tmp_path / "split", steps=6, **common)
    assert whole["step"] == split["step"] == 6
    a, b = weights(tmp_path / "whole" / "lm"), weights(tmp_path / "split" / "lm")
    assert same(a, b)
    meta = json.loads((tmp_path / "whole" / "lm" / "config.json").read_text())
    assert meta["codec"] == str(tiny_codec_dir.resolve())
    losses = [json.loads(ln) for ln in (tmp_path / "split" / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses] == list(range(1, 7)) and all(r["loss"] > 0 for r in losses)
    assert [r["step"] for r in losses if "heldout_text_acc" in r] == [2, 4, 6]
    assert all(0 <= r["heldout_text_acc"] <= 1 for r in losses if "heldout_text_acc" in r)
    assert all(0 <= r["heldout_answer_exact"] <= 1 for r in losses if "heldout_text_acc" in r)
    # a new run can start from the trained weights (what a later session does with the bundle)
    train(out=tmp_path / "init", steps=1, init=str(tmp_path / "whole" / "lm"), **{**common, "lr": 1e-12})
    c = weights(tmp_path / "init" / "lm")
    assert all(torch.allclose(a[k].float(), c[k].float(), atol=1e-6) for k in a)


def test_lm_seed_draws_the_run_and_data_seed_the_cached_bank(training_cache, tiny_codec_dir, tmp_path):
    """Runs to be averaged differ in --seed and share one bank: a new seed renders nothing new."""
    from antiphon.model.train.lm_recipe import train

    common = dict(config="tiny", codec=str(tiny_codec_dir), batch=2, questions=6, frames=120, voices=2,
                  warmup=2, held_out=0)
    train(out=tmp_path / "s0", steps=2, seed=0, **common)
    banks = sorted(p.relative_to(training_cache) for p in (training_cache / "data").rglob("*.pt"))
    train(out=tmp_path / "s1", steps=2, seed=1, data_seed=0, **common)
    assert sorted(p.relative_to(training_cache) for p in (training_cache / "data").rglob("*.pt")) == banks
    a, b = weights(tmp_path / "s0" / "lm"), weights(tmp_path / "s1" / "lm")
    assert not same(a, b)
    settings = json.loads((tmp_path / "s1" / "settings.json").read_text())
    assert (settings["seed"], settings["data_seed"]) == (1, 0)


def test_lm_run_from_before_a_new_setting_resumes(training_cache, tiny_codec_dir, tmp_path):
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
    done = subprocess.run(train_cli("average", "--models", *map(str, dirs), "--out", str(tmp_path / "mean")),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    parts = [load_model(d).state_dict() for d in dirs]
    mean = load_model(tmp_path / "mean")
    assert mean.codec_name == str(tiny_codec_dir.resolve())
    parts_named = json.loads((tmp_path / "mean" / "config.json").read_text())["averaged"]
    assert parts_named == [{"path": str(d.resolve()), "sha1": hashlib.sha1((d / "model.safetensors").read_bytes())
                            .hexdigest()} for d in dirs]
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
    # a fine-tune leaves its init's word head behind: averaged with the init, the mean has none
    from antiphon.model.word_head import WordHead
    with_head = load_model(dirs[0])
    with_head.word_head = WordHead(with_head.cfg.dim, ["hello", "there"], 1, 16)
    save_model(with_head, tmp_path / "headed", codec=str(tiny_codec_dir))
    soup = load_model(average_models([tmp_path / "headed", dirs[1]], tmp_path / "soup"))
    assert soup.word_head is None
    assert all(torch.allclose(v, (parts[0][k] + parts[1][k]) / 2, atol=1e-6) for k, v in soup.state_dict().items()
               if v.is_floating_point())
    # models that speak through a tuned decoder: the mean speaks through it too, not its token source
    tuned = save_checkpoint(build_modules(CODEC_CONFIGS["tiny"], seed=1), CODEC_CONFIGS["tiny"], tmp_path / "tuned",
                            extra={"tokens_from": str(tiny_codec_dir.resolve())})
    voiced = [save_model(load_model(d), tmp_path / f"voiced{i}", codec=str(tuned)) for i, d in enumerate(dirs[:2])]
    assert load_model(average_models(voiced, tmp_path / "voiced-mean")).codec_name == str(tuned.resolve())
    refused = subprocess.run(train_cli("average", "--models", str(dirs[0]), "--out", str(tmp_path / "bad")),
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "at least two" in refused.stderr and "Traceback" not in refused.stderr


def test_lm_under_torchrun_two_ranks_hold_identical_weights(training_cache, tiny_codec_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "antiphon.cli", "train", "lm", "--config", "tiny", "--codec", str(tiny_codec_dir), "--steps", "3",
           "--batch", "2", "--questions", "6", "--frames", "120", "--voices", "2", "--out", str(out),
           "--every-rank-saves"]
    done = subprocess.run(cmd, env={**run_env(training_cache), "ANTIPHON_DDP_BACKEND": "gloo"}, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(ln) for ln in done.stdout.splitlines() if ln.startswith("{")]
    assert len(reports) == 2 and all(r["ranks_equal"] for r in reports)
    r0, r1 = weights(out / "lm-rank0"), weights(out / "lm-rank1")
    assert same(r0, r1)
    from antiphon.model import load_model

    init = load_model("random:tiny").state_dict()
    assert not torch.equal(init["embed.weight"], r0["embed.weight"]), "the ranks did train"
