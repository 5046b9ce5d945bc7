"""`antiphon eval`: held-out spoken questions through a real server, in real time, with the
agent's spoken answers judged by an independent recognizer.

The questions come from the synthetic data's held-out voices and paraphrases (model/data), never
seen in training; this tool shares the skill set with the data, not the model or the server.
"""
from __future__ import annotations

import asyncio
import collections
import json
import random
from pathlib import Path

import numpy as np

from model.data import INTENTS, UtteranceMaker, all_answers, held_out_speech, sample_exchange, user_voices

from . import barge_in, turns
from .bench_stats import percentiles
from .connection import AntiphonClient
from .exchange import LEAD_S, SPEECH_RMS, TAIL_S, converse, gathered, spoken
from .judge import AnswerJudge
from .spawn import ServerProcess


def add_arguments(p):
    p.add_argument("--url", help="evaluate a running server instead of spawning one")
    p.add_argument("--model", default="bundled", help="spawned server's model (default: bundled)")
    p.add_argument("--codec", help="codec checkpoint for the STOI measure (default: the served model's)")
    p.add_argument("--served-codec", help="the codec the agent speaks through: the spawned server's (default: the "
                                          "model's own), or with --url the running server's, for the answers heard "
                                          "through it alone (default: the name the server reports, if it is a path here)")
    p.add_argument("--per-intent", type=int, default=4, help="held-out questions per intent")
    p.add_argument("--parallel", type=int, default=4, help="sessions at once")
    p.add_argument("--paraphrases", choices=["eval", "train"], default="eval",
                   help="held-out paraphrases (default), or the training ones (still in held-out voices): "
                        "separates generalising to new voices from generalising to new phrasings")
    p.add_argument("--barge-in", type=int, default=8, metavar="N",
                   help="trials where the user talks over the agent's answer and asks something else (default 8)")
    p.add_argument("--turns", type=int, default=0, metavar="K",
                   help="also ask the same questions in sessions of K, one after another (default: not)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampling", type=json.loads, help="sampling settings as JSON (default: the model's), e.g. "
                   "'{\"audio_temperature\": 0.5, \"text_temperature\": 0}'")
    p.add_argument("--out", default="eval-out", help="directory for the JSON, markdown and recordings")
    p.set_defaults(func=main)


def questions(rate: int, frame_size: int, per_intent: int, seed: int, paraphrases: str = "eval") -> list[dict]:
    """Questions in held-out voices (with held-out paraphrases unless told otherwise), each with
    silence before and after, balanced over intents."""
    maker = UtteranceMaker(rate, frame_size)
    voices = user_voices("eval", 10, seed)
    rng = random.Random(seed)
    out = []
    for i in range(per_intent):
        for intent in INTENTS:
            ex = sample_exchange(rng, paraphrases, intent.name)
            voice = voices[len(out) % len(voices)]
            pcm = spoken(maker, ex.user, voice, rng)
            lead = int(LEAD_S * rate) // frame_size * frame_size
            audio = np.concatenate([np.zeros(lead, np.float32), pcm, np.zeros(int(TAIL_S * rate), np.float32)])
            out.append({"intent": ex.intent, "user": ex.user, "expected": ex.agent, "voice": voice.key(),
                        "audio": audio.astype(np.float32), "speech": (lead, lead + len(pcm))})
    return out


async def ask(url: str, q: dict, sampling: dict | None = None) -> dict:
    """One question in one session: the agent's audio per input frame and the response latency."""
    audio = q["audio"]
    rec = await converse(url, lambda i, n: audio[i * n:(i + 1) * n] if (i + 1) * n <= len(audio) else None,
                         sampling)
    n = rec.frame
    start_f, end_f = q["speech"][0] // n, -(-q["speech"][1] // n)
    agent, rms = rec.agent(), rec.rms()
    speaking = [(t, i) for t, i in rec.arrivals if i >= end_f and rms[i] > SPEECH_RMS]
    latency = speaking[0][0] - rec.sent_at[end_f - 1] if speaking and end_f - 1 in rec.sent_at else None
    return {"agent": agent, "rate": rec.rate, "response_latency_s": latency, "text": rec.said(),
            "talk_over": float((rms[start_f:end_f] > SPEECH_RMS).mean()), "answer_audio": agent[end_f * n:]}


def intent_of(answer: str | None, expected_intent: str) -> str:
    """Which intent could have produced `answer` (the expected one when it could)."""
    if answer is None:
        return "(nothing)"
    from model.data.skills import INTENT_NAMES, answer as make_answer

    def could(intent):
        if intent in ("add", "subtract", "multiply"):
            return answer.startswith("that is ")
        if intent == "count":
            return answer.startswith("one two")
        if intent == "spell":
            return len(answer.split()) > 1 and all(len(w) == 1 for w in answer.split())
        if intent == "repeat":
            return len(answer.split()) == 1
        return make_answer(intent) == answer
    if could(expected_intent):
        return expected_intent
    return next((i for i in INTENT_NAMES if could(i)), "(other)")


def served_codec(model_name: str | None, hello: dict) -> str:
    """The codec a model was trained with (from its checkpoint), else what the server reports."""
    if model_name is not None:
        from model import load_model

        return load_model(model_name).codec_name
    return hello["codec"]


def _round_trip(codec_name: str, measure: str):
    """(codec, PCM -> PCM encoded and decoded offline), or None, said, when the codec cannot load."""
    import torch

    from codec import load_codec

    try:
        codec = load_codec(codec_name)
    except (ValueError, FileNotFoundError) as e:
        print(f"{measure} skipped: {e}")
        return None
    return codec, lambda pcm: codec.decode(codec.encode(torch.from_numpy(pcm)[None, None]))[0, 0].numpy()


def _stoi_through(codec_name: str, clips: list[np.ndarray]) -> float | None:
    """Mean STOI of each clip against itself encoded and decoded by the codec (offline)."""
    from pystoi import stoi

    if not (loaded := _round_trip(codec_name, "STOI")):
        return None
    codec, through = loaded
    scores = []
    for x in clips:
        x = np.concatenate([x, np.zeros(-len(x) % codec.frame_size, np.float32)])
        scores.append(stoi(x, through(x), codec.sample_rate))
    return float(np.mean(scores))


def stoi_of_codec(codec_name: str, qs: list[dict]) -> float | None:
    """The codec on the held-out users' speech: how much of a question its tokens keep."""
    return _stoi_through(codec_name, [q["audio"][slice(*q["speech"])] for q in qs])


def stoi_agent_voice(codec_name: str, rate: int) -> float | None:
    """The codec on new phrases in the agent's voice (not its answers): how clearly the served
    decoder speaks, which is what a listener hears of it."""
    return _stoi_through(codec_name, list(held_out_speech(rate, seed=0, agent=True)))


def _judged_answers(judge: AnswerJudge, rate: int, frame_size: int, voice, shift: int = 0) -> dict:
    """Every answer the judge knows, rendered in the agent's voice, passed through `voice` (float32
    PCM in and out) with a second of silence either side, as the served agent's answers come (through
    a codec that silence is the decoder's, not zeros), and judged: {"heard": the share heard right,
    "lost": {answer: heard instead}}. `shift` samples more before each answer move it within a codec
    frame, which gives the same sound other tokens than the model says."""
    maker = UtteranceMaker(rate, frame_size)
    pad = np.zeros(rate // frame_size * frame_size, np.float32)
    lost = {}
    for answer in judge.answers:
        pcm, _ = maker.agent_utterance(answer)
        pcm = np.concatenate([np.zeros(shift, np.float32), pcm,
                              np.zeros(-(shift + len(pcm)) % frame_size, np.float32)])
        heard = judge.hear(voice(np.concatenate([pad, pcm, pad])), rate)
        if heard != answer:
            lost[answer] = heard
    return {"heard": 1 - len(lost) / len(judge.answers), "lost": lost}


def answers_in_agent_voice(judge: AnswerJudge, rate: int, frame_size: int) -> dict:
    """The judge on espeak-ng's own rendering of every answer: the instrument's ceiling, whatever the
    codec and the model (pocketsphinx's acoustic model mishears some of the agent's voice)."""
    return _judged_answers(judge, rate, frame_size, lambda pcm: pcm)


def answers_through_codec(codec_name: str, judge: AnswerJudge, shift: int = 0) -> dict | None:
    """Every answer the judge knows, in the agent's voice, encoded and decoded by the codec, then
    judged: the most the judged accuracy can be with this decoder, however well the model answers.
    At `shift` 0 the answers start on a frame boundary, with the tokens the model says."""
    if not (loaded := _round_trip(codec_name, "answers through the codec")):
        return None
    codec, through = loaded
    return _judged_answers(judge, codec.sample_rate, codec.frame_size, through, shift)


async def run_all(url: str, qs: list[dict], parallel: int, progress, sampling: dict | None = None) -> list[dict]:
    async def one(i):
        result = await ask(url, qs[i], sampling)
        progress.update(1)
        return result
    return await gathered(len(qs), parallel, one)


def report(qs, results, heard, stoi_score, hello, through_codec=None, in_agent_voice=None) -> dict:
    by_intent = collections.defaultdict(lambda: [0, 0])
    confusion = collections.defaultdict(collections.Counter)
    for q, h in zip(qs, heard):
        by_intent[q["intent"]][0] += h == q["expected"]
        by_intent[q["intent"]][1] += 1
        confusion[q["intent"]][intent_of(h, q["intent"])] += 1
    lat = [r["response_latency_s"] for r in results if r["response_latency_s"] is not None]
    correct = sum(h == q["expected"] for q, h in zip(qs, heard))
    # what the agent meant (its inner monologue) against what it said: tells understanding from voicing
    meant = sum(" ".join(r.get("text", "").split()) == q["expected"] for q, r in zip(qs, results))
    return {"model": hello["model"], "codec": hello["codec"], "questions": len(qs),
            "accuracy": correct / len(qs), "text_accuracy": meant / len(qs),
            "accuracy_by_intent": {k: v[0] / v[1] for k, v in sorted(by_intent.items())},
            "response_latency_s": percentiles(lat, qs=(50, 95)), "answered": len(lat),
            "talk_over_rate": float(np.mean([r["talk_over"] for r in results])), "stoi": stoi_score,
            "answers_through_codec": through_codec, "answers_in_agent_voice": in_agent_voice,
            "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
            "items": [{"intent": q["intent"], "user": q["user"], "voice": q["voice"], "expected": q["expected"],
                       "heard": h, "agent_text": r.get("text", ""), "response_latency_s": r["response_latency_s"]}
                      for q, r, h in zip(qs, results, heard)]}


def markdown(rep: dict) -> str:
    lat = rep["response_latency_s"]
    fmt = lambda v: "n/a" if v is None else f"{v * 1000:.0f} ms"  # noqa: E731
    stoi = lambda key: "n/a" if rep.get(key) is None else f"{rep[key]:.3f}"  # noqa: E731
    share = lambda key: "n/a" if rep.get(key) is None else f"{rep[key]['heard']:.1%}"  # noqa: E731
    phr = "held-out" if rep.get("paraphrases", "eval") == "eval" else "training"
    lines = [f"Model `{rep['model']}`, codec `{rep['codec']}`, {rep['questions']} questions in held-out voices "
             f"with {phr} paraphrases.", "",
             "| measure | value |", "|---|---|",
             f"| answer accuracy (judged from the audio) | {rep['accuracy']:.1%} |",
             f"| inner monologue exactly the answer | {rep['text_accuracy']:.1%} |",
             f"| response latency p50 / p95 | {fmt(lat['p50'])} / {fmt(lat['p95'])} ({rep['answered']} answered) |",
             f"| agent talking while the user talks | {rep['talk_over_rate']:.1%} of user-speech frames |",
             f"| codec STOI, held-out users' speech | {stoi('stoi')} |",
             f"| codec STOI, new phrases in the agent's voice (the served decoder) | {stoi('stoi_agent_voice')} |",
             "| answers the judge hears in espeak-ng's agent voice (its ceiling) | "
             f"{share('answers_in_agent_voice')} |",
             f"| answers the judge hears through the served codec alone | {share('answers_through_codec')} |",
             "", "| intent | accuracy | heard as |", "|---|---|---|"]
    for intent, acc in rep["accuracy_by_intent"].items():
        heard = ", ".join(f"{k} {v}" for k, v in sorted(rep["confusion"][intent].items(), key=lambda kv: -kv[1]))
        lines.append(f"| {intent} | {acc:.0%} | {heard} |")
    if rep.get("conversation"):
        lines += turns.markdown(rep["conversation"])
    if rep.get("barge_in"):
        lines += barge_in.markdown(rep["barge_in"])
    return "\n".join(lines) + "\n"


def main(args) -> int:
    from tqdm import tqdm
    import soundfile as sf

    codec = ["--codec", args.served_codec] if args.served_codec else []
    server = None if args.url else ServerProcess("--model", args.model, *codec)
    url = args.url or server.url
    try:
        hello = asyncio.run(_hello(url))
        qs = questions(hello["sample_rate"], hello["frame_size"], args.per_intent, args.seed, args.paraphrases)
        with tqdm(total=len(qs), desc="questions", unit="q") as bar:
            results = asyncio.run(run_all(url, qs, args.parallel, bar, args.sampling))
        ts = barge_in.trials(hello["sample_rate"], hello["frame_size"], args.barge_in, args.seed, args.paraphrases)
        with tqdm(total=2 * len(ts), desc="barge-in, and the same left alone", unit="trial") as bar:
            interrupted = asyncio.run(barge_in.run_trials(url, ts, args.parallel, bar, args.sampling))
            alone = asyncio.run(barge_in.run_trials(url, ts, args.parallel, bar, args.sampling, talk=False))
        talked = []
        if args.turns > 1:
            with tqdm(total=len(qs), desc=f"in sessions of {args.turns}", unit="q") as bar:
                talked = asyncio.run(turns.run_conversations(url, qs, hello["sample_rate"], args.turns, args.parallel,
                                                             bar, args.sampling))
    finally:
        if server:
            server.stop()
    judge = AnswerJudge(all_answers())
    heard = [judge.hear(r["answer_audio"], r["rate"]) for r in results]
    served = args.served_codec or served_codec(args.model if not args.url else None, hello)
    stoi_score = stoi_of_codec(args.codec or served, qs)
    rep = report(qs, results, heard, stoi_score, hello, answers_through_codec(served, judge),
                 answers_in_agent_voice(judge, hello["sample_rate"], hello["frame_size"]))
    rep["stoi_agent_voice"] = stoi_agent_voice(served, hello["sample_rate"])
    if ts:
        second = [judge.hear(r["second_audio"], r["rate"]) if len(r["second_audio"]) else None for r in interrupted]
        rep["barge_in"] = barge_in.summary(ts, interrupted, second, alone)
    if talked:
        rep["conversation"] = turns.summary(qs, [judge.hear(r["answer_audio"], r["rate"]) for r in talked], heard,
                                            args.turns)
    rep["sampling"], rep["paraphrases"] = args.sampling, args.paraphrases
    out = Path(args.out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    for i, (q, r) in enumerate(zip(qs, results)):
        sf.write(out / "audio" / f"{i:03d}-{q['intent']}.wav", np.stack([q["audio"][:len(r["agent"])],
                 r["agent"][:len(q["audio"])]], 1), r["rate"])
    for i, r in enumerate(interrupted):
        sf.write(out / "audio" / f"barge-in-{i:03d}.wav", np.stack([r["user"], r["agent"]], 1), r["rate"])
    (out / "eval.json").write_text(json.dumps(rep, indent=2))
    (out / "eval.md").write_text(markdown(rep))
    print(markdown(rep))
    return 0


async def _hello(url):
    client = await AntiphonClient.connect(url)
    await client.close()
    return client.hello
