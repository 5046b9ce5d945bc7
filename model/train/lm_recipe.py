"""`antiphon train lm`: the early-fusion transformer trained on tokenized conversations.

Teacher forcing over whole conversations in the delayed layout (model/layout.py), each batch
freshly assembled from the tokenized questions and answers (model/train/lm_data.py). The loss is
cross-entropy on the agent's text and on each of its codebooks; the text pad token, most of the
text stream, counts half, as in Moshi, so the words are not drowned by silence. In training only,
a word head names each word the user has just finished saying (`WithWordHead`).
"""
from __future__ import annotations

import math
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from antiphon.codec import load_codec
from antiphon.codec.architecture import CodecConfig
from antiphon.codec.checkpoint import FORMAT as CODEC_FORMAT
from antiphon.codec.checkpoint import FORMAT_VERSION as CODEC_FORMAT_VERSION
from antiphon.codec.checkpoint import read_meta

from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import CONFIGS
from ..data import vocabulary
from ..data.conversations import AGENT_GAP
from ..layout import IGNORE, step_inputs, targets
from ..tokenizer import ByteTokenizer
from ..transformer import RMSNorm, SpeechTransformer
from . import lm_data
from .run import RUNS, TrainRun, distributed

DEFAULTS = dict(config="small", codec=str(RUNS / "codec-small-seed0" / "codec"), steps=3000, batch=8, lr=1e-3,
                warmup=200, seed=0, data_seed=None, questions=64, frames=200, voices=64, pad_weight=0.5,
                barge_in=0.15, held_out=64, eval_every=250, dropout=0.1, user_noise=0.1, tape_speed=0.0,
                sentences=0.0, channel=0.0, flite_voices=0, dectalk_voices=0, backwards=0.0, nonsense=0.0, word_weight=0.5,
                word_depth=2,
                agent_gap=None)  # None: AGENT_GAP, so runs begun before the setting existed still resume
HELD_OUT_VOICES, HELD_OUT_QUESTIONS = 10, 16


def learning_rate(step: int, settings: dict) -> float:
    """Linear warm-up, then cosine decay to a tenth."""
    lr, warm, total = settings["lr"], settings["warmup"], settings["steps"]
    if step < warm:
        return lr * (step + 1) / warm
    progress = min((step - warm) / max(total - warm, 1), 1.0)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


class WithWordHead(nn.Module):
    """The model and a head, for training only, that names the word the user has just finished
    saying. The answer is one decision per question, and a model taught only that learns its
    training questions by heart; a target for every word heard teaches it the words. The head
    reads the block `depth` below the top, so the blocks above can attend to the words heard when
    they answer. It is not exported: serving never reads it."""

    def __init__(self, model: SpeechTransformer, words: int, depth: int):
        super().__init__()
        self.model, self.depth = model, depth
        self.word_norm = RMSNorm(model.cfg.dim)
        self.word_head = nn.Linear(model.cfg.dim, words, bias=False)
        nn.init.normal_(self.word_head.weight, std=0.02)

    def forward(self, tokens):
        states = self.model.hidden_states(tokens)
        text, audio = self.model.heads(states[-1])
        below = states[max(len(states) - 1 - self.depth, 0)]
        return text, audio, self.word_head(self.word_norm(below))


def losses(forward, cfg, batch: dict, pad_weight: float, word_weight: float) -> dict:
    """`forward` is a WithWordHead or its DistributedDataParallel wrapper (which all-reduces gradients)."""
    text, agent, user = batch["text"], batch["agent"], batch["user"]
    tokens = step_inputs(text, agent, user, cfg.delays, cfg.cardinality, ByteTokenizer.BOS)
    text_t, audio_t = targets(text, agent, cfg.delays, cfg.cardinality)
    text_logits, audio_logits, word_logits = forward(tokens)
    # every word's frame is labelled in any batch that has a question (a sum, not a mean over none)
    heard = batch["heard"].flatten()
    word_loss = F.cross_entropy(word_logits.flatten(0, 1), heard, ignore_index=lm_data.NO_WORD, reduction="sum") \
        / (heard != lm_data.NO_WORD).sum().clamp(min=1)
    per_tok = F.cross_entropy(text_logits.flatten(0, 1), text_t.flatten(), reduction="none")
    weight = torch.where(text_t.flatten() == ByteTokenizer.PAD, pad_weight, 1.0)
    text_loss = (per_tok * weight).sum() / weight.sum()
    audio_loss = F.cross_entropy(audio_logits.flatten(0, 2), audio_t.flatten(), ignore_index=IGNORE)
    return {"loss": text_loss + audio_loss + word_weight * word_loss, "text": text_loss, "audio": audio_loss,
            "words": word_loss}


@torch.no_grad()
def held_out_accuracy(trainee: WithWordHead, data: dict, device) -> dict:
    """Teacher-forced accuracy on held-out voices and paraphrases: the text bytes the agent should
    say (pad excluded), its first codebook while it speaks, whole answers with every byte right, and
    the words the user said named by the word head."""
    trainee.eval()
    cfg = trainee.model.cfg
    text, agent, user = (data[k].long().to(device) for k in ("text", "agent", "user"))
    tokens = step_inputs(text, agent, user, cfg.delays, cfg.cardinality, ByteTokenizer.BOS)
    text_t, audio_t = targets(text, agent, cfg.delays, cfg.cardinality)
    text_logits, audio_logits, word_logits = trainee(tokens)
    trainee.train()
    words = text_t != ByteTokenizer.PAD
    # the first codebook's targets lag the frames by its delay
    d0 = cfg.delays[0]
    speaking = torch.zeros_like(data["speaking"])
    speaking[:, d0:] = data["speaking"][:, : speaking.shape[1] - d0]
    speaking = speaking.to(device)
    out = {}
    heard = data["heard"].to(device)
    if (heard != lm_data.NO_WORD).any():
        out["heldout_word_acc"] = (word_logits.argmax(-1) == heard)[heard != lm_data.NO_WORD].float().mean().item()
    if words.any():
        out["heldout_text_acc"] = (text_logits.argmax(-1) == text_t)[words].float().mean().item()
    if speaking.any():
        out["heldout_audio0_acc"] = (audio_logits[..., 0, :].argmax(-1) == audio_t[..., 0])[speaking].float().mean().item()
    # Whole answers judged on what is said, not on which frame each word starts: the onset of an
    # answer varies by a few frames in the data, so under teacher forcing its first byte is PAD-or-byte
    # by chance. Where a byte is due, the model's most likely byte other than PAD must be it.
    said = text_logits.index_fill(-1, torch.tensor([ByteTokenizer.PAD], device=text_logits.device), float("-inf"))
    right = (said.argmax(-1) == text_t) | ~words
    answers = [bool(right[b, span].all()) for b in range(len(text_t))
               for span in answer_spans(data["answer_starts"][b].tolist(), text_t.shape[1])
               if words[b, span].any()]
    if answers:
        out["heldout_answer_exact"] = sum(answers) / len(answers)
    return out


def answer_spans(starts: list[int], frames: int) -> list[slice]:
    """Each answer's frames in one conversation's text stream: from its start to the next one's
    (`starts` as lm_data stores them, -1 past the last)."""
    starts = [s for s in starts if s >= 0]
    return [slice(a, b) for a, b in zip(starts, starts[1:] + [frames])]


def init_from(model: SpeechTransformer, path: str) -> None:
    """A fresh run starts from a trained model's weights and recommended sampling (the bundle's,
    say), on this run's codec."""
    found, _ = load_checkpoint(path)
    if found.cfg != model.cfg:
        raise ValueError(f"--init {path} is a {found.cfg.name} model with another shape; this run trains {model.cfg.name}")
    silence = model.silence_codes.clone()
    # the served word head is left behind: it reads features this run changes (`train words` refits it)
    weights = {k: v for k, v in found.state_dict().items() if not k.startswith("word_head.")}
    model.load_state_dict(weights)  # float32 even from the fp16 bundle: the loader builds float32
    model.silence_codes.copy_(silence)  # this run's codec's silence, not the one it was trained on
    model.default_sampling = found.default_sampling


def silence_codes(codec) -> torch.Tensor:
    """The codes of a steady silence (what the agent's channel carries while it listens)."""
    codes = codec.encode(torch.zeros(1, 1, codec.frame_size * 8))
    return codes[0, :, -1].long()


def train(out=None, steps=None, device="cpu", save_seconds=1.0, every_rank_saves=False, **overrides) -> dict:
    settings = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    settings["steps"] = steps or settings["steps"]
    settings["device"] = device
    settings["codec"] = str(Path(settings["codec"]).resolve())
    # `seed` draws the batches, the noise and the init; `data_seed` the rendered questions (the bank,
    # cached by it) and the held-out set: runs with other seeds on one bank differ in all but the data
    data_seed = settings["seed"] if settings["data_seed"] is None else settings["data_seed"]
    rank, world = distributed()
    cfg = CONFIGS[settings["config"]]
    run = TrainRun(out or RUNS / f"lm-{settings['config']}-seed{settings['seed']}", settings, rank, world)
    codec_dir = Path(settings["codec"])
    if not (codec_dir / "config.json").is_file():
        raise ValueError(f"--codec {codec_dir} is not a codec checkpoint; train one first "
                         "(antiphon train codec) and pass its `codec` folder")
    found = CodecConfig.from_dict(read_meta(codec_dir, CODEC_FORMAT, CODEC_FORMAT_VERSION, "codec")["config"])
    if found.cardinality != cfg.cardinality or found.max_codebooks < cfg.num_codebooks:
        raise ValueError(f"model config {cfg.name} needs {cfg.num_codebooks} codebooks of {cfg.cardinality}; "
                         f"codec {codec_dir} has up to {found.max_codebooks} of {found.cardinality}")
    codec = load_codec(codec_dir, num_codebooks=cfg.num_codebooks)
    if settings["frames"] / codec.frame_rate < 4.0:
        raise ValueError(f"--frames {settings['frames']} is {settings['frames'] / codec.frame_rate:.1f} s; a "
                         f"question and its answer need at least 4 s ({int(4 * codec.frame_rate)} frames)")
    silence = silence_codes(codec)
    bank = lm_data.build_bank(codec, codec_dir, silence.numpy(), settings["questions"], data_seed,
                              settings["voices"], "train", RUNS.parent / "data", show=run.main,
                              tape=settings["tape_speed"], sentences=settings["sentences"],
                              channel=settings["channel"], flite=settings["flite_voices"],
                              dectalk=settings["dectalk_voices"], backwards=settings["backwards"],
                              nonsense=settings["nonsense"])
    agent_gap = tuple(settings["agent_gap"] or AGENT_GAP)
    held_out = None
    if settings["held_out"]:
        held_bank = lm_data.build_bank(codec, codec_dir, silence.numpy(), HELD_OUT_QUESTIONS, data_seed,
                                       HELD_OUT_VOICES, "eval", RUNS.parent / "data", show=False)
        held_out = lm_data.conversations(held_bank, settings["held_out"], settings["frames"],
                                         random.Random(data_seed), settings["barge_in"], agent_gap)
    torch.manual_seed(settings["seed"])
    model = SpeechTransformer(cfg).to(device)
    model.silence_codes.copy_(silence)
    model.dropout = settings["dropout"]
    trainee = WithWordHead(model, len(vocabulary()), settings["word_depth"]).to(device)
    optimizer = torch.optim.AdamW(trainee.parameters(), lr=settings["lr"], betas=(0.9, 0.95), weight_decay=0.1)
    start = run.resume(trainee, optimizer)
    if start == 0 and settings.get("init"):
        init_from(model, settings["init"])
    wrapped = torch.nn.parallel.DistributedDataParallel(trainee) if world > 1 else trainee
    restore_signals = run.begin(save_seconds)
    bar = tqdm(total=settings["steps"], initial=start, disable=not run.main, desc="lm", unit="step")
    step = start
    trainee.train()
    while step < settings["steps"] and not run.stopping:
        rng = random.Random(f"{settings['seed']}-{step}-{rank}")
        batch = lm_data.conversations(bank, settings["batch"], settings["frames"], rng, settings["barge_in"], agent_gap)
        batch["user"] = lm_data.noisy_user(batch["user"], settings["user_noise"], cfg.cardinality, rng)
        batch = {k: batch[k].to(device) for k in ("text", "agent", "user", "heard")}
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, settings)
        result = losses(wrapped, cfg, batch, settings["pad_weight"], settings["word_weight"])
        optimizer.zero_grad(set_to_none=True)
        result["loss"].backward()
        torch.nn.utils.clip_grad_norm_(trainee.parameters(), 1.0)  # the word head included
        optimizer.step()
        step += 1
        values = {k: round(v.item(), 5) for k, v in result.items()}
        if held_out is not None and step % settings["eval_every"] == 0 and run.main:
            values.update({k: round(v, 4) for k, v in held_out_accuracy(trainee, held_out, device).items()})
        run.step_done(step, values, trainee, optimizer, last=step == settings["steps"])
        bar.update(1)
        bar.set_postfix(loss=values["loss"], text=values["text"], audio=values["audio"], words=values["words"])
    bar.close()
    restore_signals()
    equal = run.finish(trainee, optimizer, step)
    export = run.out / "lm"
    if run.main:
        save_checkpoint(model, export, codec=str(codec_dir), extra={"trained_steps": step})
    if every_rank_saves:
        save_checkpoint(model, run.out / f"lm-rank{rank}", codec=str(codec_dir))
    return {"out": str(run.out), "step": step, "checkpoint": str(export), "ranks_equal": equal}

