"""`antiphon train words`: a word head fitted on a trained model whose own weights stay as they are.

The model recipe teaches the model to keep the words heard in the block two below the top, through
a training-only head. This recipe fits a head for serving on that block: the model runs frozen over
freshly assembled conversations (their user codes noised as in the model's recipe), and only the head
(a norm and a one-hidden-layer MLP) learns to name each
word on the two frames after its sound ends, and NONE everywhere else. The model's answers are
unchanged, bit for bit; the exported checkpoint gains the head (model/word_head.py).
"""
from __future__ import annotations

import random
from pathlib import Path

import jiwer
import torch
import torch.nn.functional as F
from tqdm import tqdm

from antiphon.codec import load_codec

from antiphon.codec.checkpoint import read_meta

from .. import BUNDLED, load_model
from ..checkpoint import FORMAT, FORMAT_VERSION, save_checkpoint
from ..data import vocabulary
from ..layout import step_inputs
from ..tokenizer import ByteTokenizer
from ..word_head import WordHead, new_words
from . import lm_data
from .bundle import provenance
from .lm_recipe import HELD_OUT_QUESTIONS, HELD_OUT_VOICES, learning_rate, silence_codes
from .run import RUNS, TrainRun

DEFAULTS = dict(lm="bundled", steps=3000, batch=16, lr=3e-3, warmup=100, seed=0, questions=48, voices=128,
                frames=200, sentences=0.5, flite_voices=0, dectalk_voices=0, tape_speed=0.0, depth=2, hidden=512, user_noise=0.1,
                held_out=48, eval_every=500)
LABELLED_FRAMES = 2  # a word is named on the frame after its sound ends and the next


def word_targets(heard: torch.Tensor, none: int) -> torch.Tensor:
    """[N,T] word ids at the frame after each word ends (lm_data's "heard") -> the head's targets:
    that frame and the next name the word, every other frame NONE."""
    out = torch.full_like(heard, none)
    for shift in reversed(range(LABELLED_FRAMES)):
        src = heard[:, : heard.shape[1] - shift]
        dst = out[:, shift:]
        dst.copy_(torch.where(src != lm_data.NO_WORD, src, dst))
    return out


@torch.no_grad()
def features(model, head: WordHead, batch: dict) -> torch.Tensor:
    """The frozen model's block the head reads, teacher-forced over the conversations: [N,T,dim]."""
    cfg = model.cfg
    tokens = step_inputs(batch["text"], batch["agent"], batch["user"], cfg.delays, cfg.cardinality,
                         ByteTokenizer.BOS)
    return model.hidden_states(tokens)[head.block(cfg.layers)]


def transcripts(ids: torch.Tensor, head: WordHead) -> list[str]:
    """Per conversation, the words the head names, in order, as serving streams them."""
    previous = torch.cat([torch.full_like(ids[:, :1], head.none), ids[:, :-1]], 1)
    named = new_words(ids, previous, head.none)
    return [" ".join(head.words[i] for i in row.tolist() if i != head.none) for row in named]


@torch.no_grad()
def held_out_word_accuracy(model, head: WordHead, data: dict, heard_texts: list[str]) -> dict:
    """1 - word error rate of the streamed transcript against the words the held-out voices said."""
    named = transcripts(head(features(model, head, data)).argmax(-1), head)
    pairs = [(ref, hyp) for ref, hyp in zip(heard_texts, named) if ref]
    wer = jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])
    return {"heldout_word_acc": round(1.0 - wer, 4)}


def said(data: dict, words: list[str]) -> list[str]:
    return [" ".join(words[i] for i in row.tolist() if i != lm_data.NO_WORD) for row in data["heard"]]


def train(out=None, steps=None, device="cpu", save_seconds=1.0, **overrides) -> dict:
    settings = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    settings["steps"] = steps or settings["steps"]
    settings["device"] = device
    run = TrainRun(out or RUNS / f"words-seed{settings['seed']}", settings)
    model = load_model(settings["lm"], device=device)
    meta = read_meta(BUNDLED / "lm" if settings["lm"] == "bundled" else Path(settings["lm"]), FORMAT, FORMAT_VERSION,
                     "model")
    codec_dir = Path(model.codec_name)
    if not (codec_dir / "config.json").is_file():
        raise ValueError(f"{settings['lm']} reads the codec {model.codec_name}, which is not a trained checkpoint")
    codec = load_codec(codec_dir, num_codebooks=model.cfg.num_codebooks)
    silence = silence_codes(codec).numpy()
    root = RUNS.parent / "data"
    bank = lm_data.build_bank(codec, codec_dir, silence, settings["questions"], settings["seed"], settings["voices"],
                              "train", root, sentences=settings["sentences"], flite=settings["flite_voices"],
                              dectalk=settings["dectalk_voices"],
                              tape=settings["tape_speed"])
    held_bank = lm_data.build_bank(codec, codec_dir, silence, HELD_OUT_QUESTIONS, settings["seed"],
                                   HELD_OUT_VOICES, "eval", root, show=False)
    held_out = lm_data.conversations(held_bank, settings["held_out"], settings["frames"],
                                     random.Random(settings["seed"]), 0.0)
    words = vocabulary()
    held_said = said(held_out, words)
    held_out = {k: held_out[k].to(device) for k in ("text", "agent", "user")}
    model.requires_grad_(False)
    torch.manual_seed(settings["seed"])
    head = WordHead(model.cfg.dim, words, settings["depth"], settings["hidden"]).to(device)
    optimizer = torch.optim.AdamW(head.parameters(), lr=settings["lr"], weight_decay=0.01)
    start = run.resume(head, optimizer)
    restore_signals = run.begin(save_seconds)
    bar = tqdm(total=settings["steps"], initial=start, desc="words", unit="step")
    step = start
    scores, scored_at = {}, None
    while step < settings["steps"] and not run.stopping:
        rng = random.Random(f"{settings['seed']}-{step}")
        batch = lm_data.conversations(bank, settings["batch"], settings["frames"], rng, 0.15)
        batch["user"] = lm_data.noisy_user(batch["user"], settings["user_noise"], model.cfg.cardinality, rng)
        batch = {k: batch[k].to(device) for k in ("text", "agent", "user", "heard")}
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, settings)
        target = word_targets(batch["heard"], head.none)
        loss = F.cross_entropy(head(features(model, head, batch)).flatten(0, 1), target.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        values = {"loss": round(loss.item(), 5)}
        if step % settings["eval_every"] == 0 or step == settings["steps"]:
            scores, scored_at = held_out_word_accuracy(model, head, held_out, held_said), step
            values.update(scores)
        run.step_done(step, values, head, optimizer, last=step == settings["steps"])
        bar.update(1)
        bar.set_postfix(values)
    bar.close()
    restore_signals()
    run.finish(head, optimizer, step)
    model.word_head = head
    export = save_checkpoint(model, run.out / "lm", codec=str(codec_dir), extra={**provenance(meta, "codec", "tokenizer", "sampling", "words"),
                                                                          "word_head_steps": step})
    if scored_at != step:  # stopped between evaluations, or resumed at the last step
        scores = held_out_word_accuracy(model, head, held_out, held_said)
    return {"out": str(run.out), "step": step, "checkpoint": str(export), **scores}
