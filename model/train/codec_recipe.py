"""`antiphon train codec`: the small streaming codec trained on espeak-ng speech.

Losses: L1 on the waveform, L1 on linear and log mel spectrograms at four scales, and the RVQ
commitment penalty. No adversarial loss: it would double the cost per step, and two hours of a
2-core CPU are better spent on more steps. Codebooks are initialised by k-means on the first batch
and follow the encoder by EMA (encodec's own quantizer); quantizer dropout trains every prefix of
codebooks, most often the number the language model reads.

Two measures against codebook collapse, which a first run hit (all but 3 to 8 codes dead, the
decoder learning an average sound): the first `autoencoder_steps` train encoder and decoder without
the quantizer, so k-means starts from embeddings that carry the signal; after that a step is
quantized with probability `quantize_prob` (Moshi's Mimi does the same at 0.5), which keeps the
decoder learning from the continuous embedding too. STOI on a fixed batch of held-out-voice speech
is logged every `eval_every` steps: the loss alone says little about intelligibility.

`agent_decoder`: fine-tune only the decoder of a trained codec (`init`), on the agent's voice. The
encoder and codebooks stay as they are, so the tokens a language model was trained on keep their
meaning, and the decoder, which in serving only ever voices the agent, spends all its capacity on
that one voice. A small codec that is barely intelligible over all voices becomes much clearer on
the agent's (docs/history.md). With `decoder_filters` wider than the codec's, the decoder starts
from random weights (there is no narrower one to start from) and only the encoder and codebooks
come from `init`.

`answers`: the share of the agent decoder's crops that are whole answers, as the model says them.
The agent only ever says its answers, each with one token sequence (encoded once from silence, on a
frame boundary: model/train/lm_data.py), so these are the exact tokens the served decoder voices.
Random words alone left short numbers blurred ("four" heard as "five" through the codec, where
espeak-ng's own "four" is heard right); crops of the answers spend capacity where serving needs it.
"""
from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from tqdm import tqdm

from antiphon.codec.architecture import CONFIGS, build_modules
from antiphon.codec.checkpoint import load_checkpoint as load_codec_checkpoint, read_meta, save_checkpoint

from ..data.augment import augment
from ..data.skills import all_answers, vocabulary
from ..data.speech import AGENT_VOICE, WordBank, user_voices
from ..data.utterances import UtteranceMaker, held_out_speech
from .bundle import token_source
from .lm_data import LEAD
from .run import RUNS, TrainRun, distributed

DEFAULTS = dict(config="small", steps=20000, batch=16, seconds=1.0, lr=1e-3, seed=0, voices=48,
                mel_scales=[256, 512, 1024, 2048], codebook_choices=[2, 4, 4, 4, 4, 8, 8],
                autoencoder_steps=1500, quantize_prob=0.75, eval_every=500, agent_decoder=False,
                decoder_filters=None, answers=0.0)
AGENT_DECODER = dict(lr=3e-4, autoencoder_steps=0, quantize_prob=1.0, steps=3000)


class SpeechSegments:
    """Batches of random speech crops: user voices with augmentation, and the agent's voice clean;
    for the agent's decoder, a share `answers` of whole answers as the model says them."""

    def __init__(self, rate: int, frame_size: int, voices: int, seed: int, agent_only: bool = False,
                 answers: float = 0.0):
        self.rate, self.frame_size = rate, frame_size
        self.bank = WordBank(rate)
        self.words = vocabulary()
        self.voices = [AGENT_VOICE] if agent_only else user_voices("train", voices, seed) + [AGENT_VOICE]
        self.seed, self.answers = seed, answers
        self.maker = UtteranceMaker(rate, frame_size, self.bank)
        self.answer_texts = all_answers()

    def answer(self, rng: random.Random, samples: int) -> np.ndarray:
        """A whole answer after LEAD frames of silence, at the level the model's data encodes it
        (model/train/lm_data.py): its tokens are the ones served. Cut at `samples`, which keeps the
        tokens of what is left (the encoder is causal)."""
        pcm, _ = self.maker.agent_utterance(rng.choice(self.answer_texts))
        clip = np.zeros(samples, np.float32)
        at = LEAD * self.frame_size
        clip[at: at + len(pcm)] = pcm[: max(samples - at, 0)]
        return clip

    def batch(self, step: int, rank: int, size: int, samples: int) -> torch.Tensor:
        rng = random.Random(f"{self.seed}-{step}-{rank}")
        np_rng = np.random.default_rng(rng.randrange(2**32))
        out = np.zeros((size, 1, samples), np.float32)
        for i in range(size):
            if self.answers and rng.random() < self.answers:
                out[i, 0] = self.answer(rng, samples)
                continue
            voice = rng.choice(self.voices)
            words = " ".join(rng.choice(self.words) for _ in range(rng.randint(3, 6)))
            gaps = [int(rng.uniform(0.0, 0.15) * self.rate) for _ in words.split()]
            pcm, _ = self.bank.say(words, voice, self.words, gaps)
            if voice is not AGENT_VOICE:
                pcm = augment(pcm, self.rate, np_rng)
            else:
                pcm = pcm / max(float(np.abs(pcm).max()), 1e-6) * 0.7
            start = rng.randint(-samples // 4, max(len(pcm) - samples * 3 // 4, 0))
            seg = pcm[max(start, 0): max(start, 0) + samples - max(-start, 0)]
            out[i, 0, max(-start, 0): max(-start, 0) + len(seg)] = seg
        return torch.from_numpy(out)


class SpectralLoss(torch.nn.Module):
    def __init__(self, rate: int, scales: list[int], eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.mels = torch.nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(rate, n_fft=n, hop_length=n // 4, n_mels=min(80, n // 8),
                                                 power=1.0, normalized=False) for n in scales)

    def forward(self, x, y):
        total = 0.0
        for mel in self.mels:
            mx, my = mel(x), mel(y)
            total = total + F.l1_loss(mx, my) + F.l1_loss(torch.log(mx + self.eps), torch.log(my + self.eps))
        return total / len(self.mels)


class CodecTrainer(torch.nn.Module):
    """The codec's modules with the training forward (encode, quantize with n_q codebooks, decode)."""

    def __init__(self, config, seed: int):
        super().__init__()
        self.config = config
        self.codec = build_modules(config, seed=seed, kmeans_init=True)

    def forward(self, wav, n_q: int):
        """n_q = 0: no quantizer (the continuous embedding goes to the decoder)."""
        emb = self.codec.encoder(wav)
        if n_q == 0:
            return self.codec.decoder(emb), emb.new_zeros(())
        quantized, _, commit = self.codec.quantizer.vq(emb, n_q=n_q)
        return self.codec.decoder(quantized), commit.mean()


@torch.no_grad()
def held_out_stoi(trainer: CodecTrainer, wav: torch.Tensor, n_q: int) -> float:
    """Mean STOI of the codec at n_q codebooks (offline encode/decode) on a fixed batch."""
    from pystoi import stoi

    trainer.eval()
    device = next(trainer.parameters()).device
    emb = trainer.codec.encoder(wav.to(device))
    codes = trainer.codec.quantizer.vq.encode(emb, n_q=n_q)
    out = trainer.codec.decoder(trainer.codec.quantizer.vq.decode(codes)).cpu()
    trainer.train()
    rate = trainer.config.sample_rate
    return float(sum(stoi(w[0].numpy(), o[0].numpy(), rate) for w, o in zip(wav, out)) / len(wav))


def init_from(trainer: CodecTrainer, path: str, config) -> None:
    """A fresh run starts from a trained codec's weights and codebooks (the bundle's, say); the
    optimizer starts anew. A decoder of another width keeps its random start."""
    found, modules = load_codec_checkpoint(path)
    same_but_decoder = dataclasses.replace(found, decoder_filters=config.decoder_filters)
    if same_but_decoder.to_dict() != config.to_dict():
        raise ValueError(f"--init {path} is a {found.name} codec; this run trains {config.name}")
    parts = ("encoder", "quantizer", "decoder") if found == config else ("encoder", "quantizer")
    for part in parts:  # float32: the checkpoint loader built them so
        getattr(trainer.codec, part).load_state_dict(getattr(modules, part).state_dict())


def sync_codebooks(trainer: CodecTrainer) -> None:
    """EMA codebook statistics averaged over ranks (encodec leaves them per rank); EMA is linear in
    the batch statistics, so the average is the EMA of the whole distributed batch."""
    if not torch.distributed.is_initialized():
        return
    world = torch.distributed.get_world_size()
    for layer in trainer.codec.quantizer.vq.layers:
        cb = layer._codebook
        for buf in (cb.cluster_size, cb.embed_avg, cb.embed):
            torch.distributed.all_reduce(buf)
            buf /= world


def train(out=None, steps=None, device="cpu", save_seconds=1.0, every_rank_saves=False, **overrides) -> dict:
    given = {k: v for k, v in overrides.items() if v is not None}
    settings = {**DEFAULTS, **(AGENT_DECODER if given.get("agent_decoder") else {}), **given}
    settings["steps"] = steps or settings["steps"]
    settings["device"] = device
    if settings["agent_decoder"] and not settings.get("init"):
        raise ValueError("--agent-decoder fine-tunes the decoder of a trained codec: pass it with --init DIR")
    if settings["answers"] and not settings["agent_decoder"]:
        raise ValueError("--answers trains the agent's decoder on its answers: use it with --agent-decoder")
    if not 0 <= settings["answers"] <= 1:
        raise ValueError(f"--answers is the share of a batch that is answers, in [0, 1]; got {settings['answers']}")
    rank, world = distributed()
    torch.manual_seed(settings["seed"])
    config = CONFIGS[settings["config"]]
    if settings["decoder_filters"]:
        if not settings["agent_decoder"]:
            raise ValueError("--decoder-filters sizes the agent's decoder: use it with --agent-decoder")
        config = dataclasses.replace(config, decoder_filters=settings["decoder_filters"])
    elif settings.get("init"):  # going on from a codec keeps its decoder's width (the bundle's is wider)
        found = read_meta(Path(settings["init"]), "antiphon-codec", 1, "codec")["config"]
        config = dataclasses.replace(config, decoder_filters=found.get("decoder_filters"))
    run = TrainRun(out or RUNS / f"codec-{settings['config']}-seed{settings['seed']}", settings, rank, world)
    trainer = CodecTrainer(config, settings["seed"]).to(device)
    losses = SpectralLoss(config.sample_rate, settings["mel_scales"]).to(device)
    if settings["agent_decoder"]:
        for part in (trainer.codec.encoder, trainer.codec.quantizer):
            part.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in trainer.parameters() if p.requires_grad], lr=settings["lr"],
                                 betas=(0.5, 0.9))
    start = run.resume(trainer, optimizer)
    if start == 0 and settings.get("init"):
        init_from(trainer, settings["init"], config)
    model = torch.nn.parallel.DistributedDataParallel(trainer) if world > 1 else trainer
    data = SpeechSegments(config.sample_rate, config.frame_size, settings["voices"], settings["seed"],
                          settings["agent_decoder"], settings["answers"])
    samples = int(settings["seconds"] * config.sample_rate) // config.frame_size * config.frame_size
    held_out = torch.from_numpy(held_out_speech(config.sample_rate, settings["seed"],
                                                agent=settings["agent_decoder"]))[:, None]
    restore_signals = run.begin(save_seconds)
    bar = tqdm(total=settings["steps"], initial=start, disable=not run.main, desc="codec", unit="step")
    step = start
    while step < settings["steps"] and not run.stopping:
        wav = data.batch(step, rank, settings["batch"], samples).to(device)
        pick = random.Random(f"nq-{settings['seed']}-{step}")
        n_q = pick.choice(settings["codebook_choices"])
        if step < settings["autoencoder_steps"] or pick.random() >= settings["quantize_prob"]:
            n_q = 0
        trainer.train()
        if settings["agent_decoder"]:  # the tokens stay: no EMA codebook updates, the LM's codebook count
            trainer.codec.encoder.eval()
            trainer.codec.quantizer.eval()
            n_q = config.num_codebooks
        out_wav, commit = model(wav, n_q)
        l1 = F.l1_loss(out_wav, wav)
        spec = losses(out_wav.squeeze(1), wav.squeeze(1))
        loss = 0.1 * l1 + spec + commit
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.parameters(), 1.0)
        optimizer.step()
        sync_codebooks(trainer)
        step += 1
        values = {k: round(v.item(), 5) for k, v in dict(loss=loss, l1=l1, spectral=spec, commit=commit).items()}
        if step % settings["eval_every"] == 0 and step > settings["autoencoder_steps"] and run.main:
            values["stoi"] = round(held_out_stoi(trainer, held_out, config.num_codebooks), 4)
        run.step_done(step, values, trainer, optimizer, last=step == settings["steps"])
        bar.update(1)
        bar.set_postfix(loss=values["loss"], spec=values["spectral"])
    bar.close()
    restore_signals()
    equal = run.finish(trainer, optimizer, step)
    export = run.out / "codec"
    extra = {"trained_steps": step}
    if settings["agent_decoder"]:
        extra["tokens_from"] = token_source(settings["init"])  # the init's own source, if it has one
    if run.main:
        save_checkpoint(trainer.codec, config, export, extra=extra)
    if every_rank_saves:
        save_checkpoint(trainer.codec, config, run.out / f"codec-rank{rank}", extra=extra)
    return {"out": str(run.out), "step": step, "checkpoint": str(export), "ranks_equal": equal}
