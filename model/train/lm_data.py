"""Tokenized utterances for the language model, and conversations assembled from them.

Each training voice asks its questions once, rendered, augmented and encoded by the trained codec;
the agent's answers are encoded once. Training assembles new conversations from these tokens at
every step (model/data/conversations.py), so the data does not run out, and encoding (the cost on
a CPU) is paid once per question rather than once per conversation. Cached on disk per voice: a
kill loses at most the voice being encoded.
"""
from __future__ import annotations

import copy
import random
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data import TokenBank, UtteranceMaker, all_answers, answer, assemble, sample_exchange, user_voices
from ..data.augment import augment, tape_speed
from ..data.conversations import AGENT_GAP
from ..data.dectalk import dectalk_voices
from ..data.flite import flite_voices
from ..data.nonsense import nonsense_text, say_whole
from ..layout import IGNORE
from antiphon.codec.checkpoint import weights_sha1
from antiphon.common.atomic import write_atomically

DATA_VERSION = 6  # bump when the utterances change
LEAD = 6  # frames of silence encoded before an utterance: the encoder has settled after 5
TAIL = 20  # frames encoded after speech: the encoder settles into its silence after about 17
ENCODE_BATCH = 32
MAX_ANSWERS = 16  # answer starts kept per held-out conversation
NO_WORD = IGNORE  # "heard" where no word ends: ignored by the loss, as the layout's missing targets


def codec_digest(codec_dir: Path) -> str:
    return weights_sha1(codec_dir)[:12]


class Float32Encoder:
    """The codec's encoder and quantizer in float32: 1.4x faster than the float64 streaming path,
    and training data does not need bit-exact agreement with a stream."""

    def __init__(self, codec):
        self.encoder = copy.deepcopy(codec.modules.encoder).float()
        self.quantizer = copy.deepcopy(codec.modules.quantizer).float()
        self.num_codebooks = codec.num_codebooks

    @torch.no_grad()
    def __call__(self, pcm: list) -> torch.Tensor:
        emb = self.encoder(torch.from_numpy(np.stack(pcm))[:, None])
        return self.quantizer.vq.encode(emb, n_q=self.num_codebooks).transpose(0, 1).to(torch.int16)


def encode_utterances(encode: Float32Encoder, pcms: list[np.ndarray], shifts: list[int], frame_size: int,
                      augment_seeds: list[int] | None, rate: int,
                      channel: float = 0.0) -> tuple[list[np.ndarray], list[int]]:
    """Each utterance after LEAD frames of silence and `shift` samples, optionally augmented (level,
    room, noise over the whole clip, a microphone path with probability `channel`): (codes
    [K, speech + TAIL] from the utterance's first frame, speech frames)."""
    clips, speech = [], []
    for i, (pcm, shift) in enumerate(zip(pcms, shifts)):
        n = -(-(shift + len(pcm)) // frame_size)
        clip = np.zeros((LEAD + n + TAIL) * frame_size, np.float32)
        clip[LEAD * frame_size + shift: LEAD * frame_size + shift + len(pcm)] = pcm
        if augment_seeds is not None:
            clip = augment(clip, rate, np.random.default_rng(augment_seeds[i]), channel)
        clips.append(clip)
        speech.append(n)
    codes: list[np.ndarray | None] = [None] * len(clips)
    order = sorted(range(len(clips)), key=lambda i: len(clips[i]))  # similar lengths pad little
    for first in range(0, len(order), ENCODE_BATCH):
        group = order[first: first + ENCODE_BATCH]
        longest = max(len(clips[i]) for i in group)
        # the codec is causal: zeros after a clip do not change its codes
        out = encode([np.pad(clips[i], (0, longest - len(clips[i]))) for i in group]).numpy()
        for row, i in enumerate(group):
            codes[i] = out[row, :, LEAD: LEAD + speech[i] + TAIL]
    return codes, speech


def _save(obj, file: Path) -> None:
    write_atomically(file, lambda tmp: torch.save(obj, tmp))  # ranks may write the same shard at once


def _draw_questions(rng: random.Random, maker: UtteranceMaker, voice, split: str, count: int, fs: int,
                    tape: float = 0.0, sentences: float = 0.0):
    """What a voice asks, rendered: (exchanges, pcms, word spans in samples, shifts), a share
    `sentences` of them spoken whole, each question played at a tape speed drawn from 1 +- `tape`
    when `tape` is set. The order of draws from `rng` is part of the cache format: the cached
    shards are replayed through it."""
    asked = [sample_exchange(rng, split) for _ in range(count)]
    whole = [rng.random() < sentences for _ in asked] if sentences else [False] * count
    said = [maker.user_utterance(ex.user, voice, rng, w) for ex, w in zip(asked, whole)]
    shifts = [rng.randrange(fs) for _ in asked]
    if tape:
        said = [tape_speed(pcm, spans, maker.rate, rng.uniform(1 - tape, 1 + tape)) for pcm, spans in said]
    return asked, [p for p, _ in said], [w for _, w in said], shifts


def _cached_shard(file: Path, voice) -> dict | None:
    """The shard in `file` if it was encoded from `voice`. Shards are named by family and index, so
    a change to a family's draws would otherwise reuse another voice's questions silently; shards
    from before voices were recorded take the voice they are replayed with."""
    if not file.is_file():
        return None
    shard = torch.load(file, weights_only=False)
    if "voice" not in shard:
        shard["voice"] = voice.key()
        _save(shard, file)
    return shard if shard["voice"] == voice.key() else None


def _save_sorry(file: Path, voice, codes: list, frames: list) -> dict:
    """A shard of utterances from `voice`, each answered "sorry i did not understand" with no word heard."""
    shard = {"codes": codes, "frames": frames, "answers": [answer("unknown")] * len(codes),
             "heard": [[] for _ in codes], "voice": voice.key()}
    _save(shard, file)
    return shard


def _backwards_shard(file: Path, maker: UtteranceMaker, encode, voice, name: str, split: str, count: int,
                     seed: int, tape: float, sentences: float, channel: float) -> dict:
    """`count` of a voice's questions played backwards, each answered "sorry i did not understand":
    the voice's own sound, no words in it. Every foreign voice's question the agent cannot make out
    would otherwise get the answer whose sound is nearest, said as surely as a right one."""
    shard = _cached_shard(file, voice)
    if shard is not None:
        return shard
    rng = random.Random(f"{seed}-{split}-{name}-backwards")
    fs = maker.frame_size
    asked, pcms, _, shifts = _draw_questions(rng, maker, voice, split, count, fs, tape, sentences)
    codes, frames = encode_utterances(encode, [p[::-1].copy() for p in pcms], shifts, fs,
                                      [rng.randrange(2**31) for _ in asked], maker.rate, channel)
    return _save_sorry(file, voice, codes, frames)


def _nonsense_shard(file: Path, maker: UtteranceMaker, encode, voice, name: str, split: str, count: int,
                    seed: int, tape: float, channel: float) -> dict:
    """`count` sentences of words no question uses, spoken whole by the voice, each answered "sorry
    i did not understand" (model/data/nonsense.py)."""
    shard = _cached_shard(file, voice)
    if shard is not None:
        return shard
    rng = random.Random(f"{seed}-{split}-{name}-nonsense")
    pcms = [say_whole(nonsense_text(rng), voice, maker.rate) for _ in range(count)]
    if tape:
        pcms = [tape_speed(pcm, [], maker.rate, rng.uniform(1 - tape, 1 + tape))[0] for pcm in pcms]
    shifts = [rng.randrange(maker.frame_size) for _ in pcms]
    codes, frames = encode_utterances(encode, pcms, shifts, maker.frame_size, [rng.randrange(2**31) for _ in pcms],
                                      maker.rate, channel)
    return _save_sorry(file, voice, codes, frames)


def heard_words(spans: list[tuple[str, int, int]], shift: int, fs: int) -> list[tuple[str, int]]:
    """(word, frame) for each word of a question: the frame after the one its sound ends in,
    counted from the question's first frame (the utterance starts `shift` samples into it)."""
    return [(w, (shift + end - 1) // fs + 1) for w, _, end in spans]


def build_bank(codec, codec_dir: Path, silence: np.ndarray, questions_per_voice: int, seed: int, voices: int,
               split: str, root: Path, show: bool = True, tape: float = 0.0, sentences: float = 0.0,
               channel: float = 0.0, flite: int = 0, dectalk: int = 0, backwards: float = 0.0,
               nonsense: float = 0.0) -> TokenBank:
    """The answers and `questions_per_voice` questions from each of `voices` espeak-ng voices,
    `flite` flite voices and `dectalk` DECtalk voices of `split` (at tape speeds 1 +- `tape`, a
    share `sentences` of espeak-ng's spoken whole, a share `channel` through a microphone path),
    and after them, with `backwards`, that share more from each voice played backwards and, with
    `nonsense`, that share more of sentences no question's words make (both answered "sorry"),
    from the cache when it is there."""
    folder = root / f"v{DATA_VERSION}-{codec_digest(codec_dir)}"
    folder.mkdir(parents=True, exist_ok=True)
    fs, rate = codec.frame_size, codec.sample_rate
    maker = UtteranceMaker(rate, fs)
    encode = Float32Encoder(codec)
    answers = all_answers()
    file = folder / "answers.pt"
    if file.is_file():
        ans = torch.load(file, weights_only=False)
    else:
        said = [maker.agent_utterance(a) for a in answers]
        codes, frames = encode_utterances(encode, [p for p, _ in said], [0] * len(said), fs, None, rate)
        ans = {"codes": codes, "frames": frames, "texts": [maker.answer_text(w) for _, w in said]}
        _save(ans, file)
    questions, speech, answer_of, heard = [], [], [], []
    shards, sorry_shards = [], []
    word_id = {w: i for i, w in enumerate(maker.words)}
    pool = user_voices(split, voices, seed) + flite_voices(split, flite, seed) + dectalk_voices(split, dectalk, seed)
    # espeak-ng's shards keep their first names; each family's shards are counted from 0
    names = ([f"voice{v:04d}" for v in range(voices)] + [f"flite{v:04d}" for v in range(flite)]
             + [f"dectalk{v:04d}" for v in range(dectalk)])
    for v in tqdm(range(len(pool)), desc=f"encode {split} questions", unit="voice", disable=not show):
        variant_key = ((f"-tape{tape:g}" if tape else "") + (f"-sent{sentences:g}" if sentences else "")
                    + (f"-chan{channel:g}" if channel else ""))
        name = names[v]
        file = folder / f"{split}-s{seed}-{name}-{questions_per_voice}q{variant_key}.pt"
        shard = _cached_shard(file, pool[v])
        if shard is None or "heard" not in shard:
            rng = random.Random(f"{seed}-{split}-{name if v >= voices else v}")
            asked, pcms, spans, shifts = _draw_questions(rng, maker, pool[v], split, questions_per_voice, fs, tape,
                                                         sentences)
            said = [heard_words(w, shift, fs) for w, shift in zip(spans, shifts)]
            if shard is None:
                codes, frames = encode_utterances(encode, pcms, shifts, fs,
                                                  [rng.randrange(2**31) for _ in asked], rate, channel)
                shard = {"codes": codes, "frames": frames, "answers": [ex.agent for ex in asked], "voice": pool[v].key()}
            elif shard["answers"] != [ex.agent for ex in asked]:
                raise RuntimeError(f"{file} does not match its draws; delete it to encode it again")
            shard["heard"] = said  # shards from before word targets get them by replaying the draws
            _save(shard, file)
        shards.append(shard)
        if backwards:
            sorry_shards.append(_backwards_shard(file.with_name(f"{file.stem}-back{backwards:g}.pt"), maker, encode,
                                                 pool[v], name, split, round(backwards * questions_per_voice),
                                                 seed, tape, sentences, channel))
        if nonsense:
            sorry_shards.append(_nonsense_shard(file.with_name(f"{file.stem}-nonsense{nonsense:g}.pt"), maker,
                                                encode, pool[v], name, split, round(nonsense * questions_per_voice),
                                                seed, tape, channel))
    for shard in shards + sorry_shards:
        questions += shard["codes"]
        speech += shard["frames"]
        answer_of += [answers.index(a) for a in shard["answers"]]
        heard += [[(word_id[w], f) for w, f in q] for q in shard["heard"]]
    return TokenBank(silence=silence, questions=questions, speech_frames=speech, answer_of=answer_of,
                     answers=ans["codes"], answer_speech_frames=ans["frames"], answer_texts=ans["texts"],
                     answer_words=[len(a.split()) for a in answers], frame_rate=codec.frame_rate, heard=heard)


def noisy_user(user: torch.Tensor, p: float, cardinality: int, rng: random.Random) -> torch.Tensor:
    """The user's codes, each replaced by a random code with probability `p`. The bank holds each
    rendered question once, and a model trained on it learns the token sequences of its questions
    by heart rather than their words (docs/history.md); with noise no question arrives twice the same."""
    if p <= 0:
        return user
    gen = torch.Generator().manual_seed(rng.randrange(2**62))
    flip = torch.rand(user.shape, generator=gen) < p
    return torch.where(flip, torch.randint(0, cardinality, user.shape, generator=gen), user)


def conversations(bank: TokenBank, count: int, frames: int, rng: random.Random, barge_in: float,
                  agent_gap: tuple[float, float] = AGENT_GAP) -> dict:
    """{"text": [N,T], "agent": [N,K,T], "user": [N,K,T] int64; "answer_starts": [N, MAX_ANSWERS] (-1
    past the last answer); "speaking": [N,T] bool, where the agent's speech is; "heard": [N,T] the id
    of the word the user has just finished saying, NO_WORD elsewhere}, freshly assembled."""
    convs = [assemble(bank, frames, rng, barge_in, agent_gap) for _ in range(count)]
    starts = torch.full((count, MAX_ANSWERS), -1, dtype=torch.int64)
    speaking = torch.zeros(count, frames, dtype=torch.bool)
    heard = torch.full((count, frames), NO_WORD, dtype=torch.int64)
    for row, c in enumerate(convs):
        found = c.answer_starts()[:MAX_ANSWERS]
        starts[row, :len(found)] = torch.tensor(found, dtype=torch.int64)
        for t in c.turns:
            speaking[row, t.agent_start: t.agent_end] = True
            for word, frame in (bank.heard[t.question] if bank.heard else ()):
                if t.user_start + frame < frames:
                    heard[row, t.user_start + frame] = word
    return {"text": torch.from_numpy(np.stack([c.text for c in convs])),
            "user": torch.from_numpy(np.stack([c.user for c in convs])),
            "agent": torch.from_numpy(np.stack([c.agent for c in convs])), "answer_starts": starts,
            "speaking": speaking, "heard": heard}
