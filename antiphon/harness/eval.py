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

import jiwer
import numpy as np

from antiphon.model.data import INTENTS, UtteranceMaker, all_answers, sample_exchange, user_voices

from . import barge_in, eval_voices, turns
from .bench_stats import percentiles
from antiphon.client.connection import AntiphonClient
from antiphon.common.audio import SPEECH_RMS
from antiphon.server.serve import MODEL_BACKENDS

from .exchange import LEAD_S, TAIL_S, converse, gathered, spoken
from .codec_checks import answers_in_agent_voice, answers_through_codec, served_codec, stoi_agent_voice, stoi_of_codec
from .judge import AnswerJudge
from .records import Answer, Question
from .spawn import ServerProcess


def add_arguments(p):
    p.add_argument("--url", help="evaluate a running server instead of spawning one")
    p.add_argument("--model", default="bundled", help="spawned server's model (default: bundled)")
    p.add_argument("--codec", help="codec checkpoint for the STOI measure (default: the served model's)")
    p.add_argument("--served-codec", help="the codec the agent speaks through: the spawned server's (default: the "
                                          "model's own), or with --url the running server's, for the answers heard "
                                          "through it alone (default: the name the server reports, if it is a path here)")
    p.add_argument("--model-backend", default="auto", choices=MODEL_BACKENDS,
                   help="the spawned server's model step, as for antiphon serve (onnx-int8: int8 weights)")
    p.add_argument("--per-intent", type=int, default=4, help="held-out questions per intent")
    p.add_argument("--parallel", type=int, default=4, help="sessions at once")
    p.add_argument("--paraphrases", choices=["eval", "train"], default="eval",
                   help="held-out paraphrases (default), or the training ones (still in held-out voices): "
                        "separates generalising to new voices from generalising to new phrasings")
    p.add_argument("--voices", metavar="FAMILY[,FAMILY...]",
                   help="ask the questions spoken whole by these synthesizer families (espeak, flite, festival, sam; "
                        "festival and sam are never trained on, espeak and flite in voices training never "
                        "uses), reported per family; default: espeak-ng's "
                        "held-out voices word by word, as the training data is rendered")
    p.add_argument("--barge-in", type=int, default=8, metavar="N",
                   help="trials where the user talks over the agent's answer and asks something else (default 8)")
    p.add_argument("--turns", type=int, default=0, metavar="K",
                   help="also ask the same questions in sessions of K, one after another (default: not)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampling", type=json.loads, help="sampling settings as JSON (default: the model's), e.g. "
                   "'{\"audio_temperature\": 0.5, \"text_temperature\": 0}'")
    p.add_argument("--out", default="eval-out", help="directory for the JSON, markdown and recordings")
    p.set_defaults(func=main)


def questions(rate: int, frame_size: int, per_intent: int, seed: int, paraphrases: str = "eval") -> list[Question]:
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
            out.append(Question(ex.intent, ex.user, ex.agent, voice.key(), audio.astype(np.float32),
                                (lead, lead + len(pcm))))
    return out


async def ask(url: str, q: Question, sampling: dict | None = None, steady: bool = False) -> Answer:
    """One question in one session: the agent's audio per input frame and the response latency
    (`steady`: see exchange.converse)."""
    audio = q.audio
    rec = await converse(url, lambda i, n: audio[i * n:(i + 1) * n] if (i + 1) * n <= len(audio) else None,
                         sampling, steady=steady)
    n = rec.frame
    start_f, end_f = q.speech[0] // n, -(-q.speech[1] // n)
    agent, rms = rec.agent(), rec.rms()
    speaking = [(t, i) for t, i in rec.arrivals if i >= end_f and rms[i] > SPEECH_RMS]
    latency = speaking[0][0] - rec.sent_at[end_f - 1] if speaking and end_f - 1 in rec.sent_at else None
    return Answer(agent, rec.rate, agent[end_f * n:], rec.said(), latency,
                  float((rms[start_f:end_f] > SPEECH_RMS).mean()), " ".join(rec.user_words))


def intent_of(answer: str | None, expected_intent: str) -> str:
    """Which intent could have produced `answer` (the expected one when it could)."""
    if answer is None:
        return "(nothing)"
    from antiphon.model.data.skills import INTENT_NAMES, answer as make_answer

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


async def run_all(url: str, qs: list[Question], parallel: int, progress,
                  sampling: dict | None = None) -> list[Answer]:
    async def one(i):
        result = await ask(url, qs[i], sampling)
        progress.update(1)
        return result
    return await gathered(len(qs), parallel, one)


def report(qs: list[Question], results: list[Answer], heard: list[str | None], stoi_score, hello: dict,
           through_codec=None, in_agent_voice=None) -> dict:
    by_intent = collections.defaultdict(lambda: [0, 0])
    confusion = collections.defaultdict(collections.Counter)
    for q, h in zip(qs, heard):
        by_intent[q.intent][0] += h == q.expected
        by_intent[q.intent][1] += 1
        confusion[q.intent][intent_of(h, q.intent)] += 1
    lat = [r.response_latency_s for r in results if r.response_latency_s is not None]
    correct = sum(h == q.expected for q, h in zip(qs, heard))
    # what the agent meant (its inner monologue) against what it said: tells understanding from voicing
    meant = sum(" ".join(r.text.split()) == q.expected for q, r in zip(qs, results))
    # the user's transcript (the model's word head, where it has one) against the question's words
    words = 1.0 - jiwer.wer([q.user for q in qs], [r.user_heard for r in results]) \
        if hello.get("user_text") else None
    return {"model": hello["model"], "codec": hello["codec"], "questions": len(qs),
            "accuracy": correct / len(qs), "text_accuracy": meant / len(qs), "user_word_accuracy": words,
            "accuracy_by_intent": {k: v[0] / v[1] for k, v in sorted(by_intent.items())},
            "response_latency_s": percentiles(lat, qs=(50, 95)), "answered": len(lat),
            "talk_over_rate": float(np.mean([r.talk_over for r in results])), "stoi": stoi_score,
            "answers_through_codec": through_codec, "answers_in_agent_voice": in_agent_voice,
            "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
            "items": [{"intent": q.intent, "user": q.user, "voice": q.voice, "expected": q.expected,
                       "heard": h, "agent_text": r.text, "user_heard": r.user_heard,
                       "response_latency_s": r.response_latency_s}
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
             "| the user's words the model named (1 - word error rate of `user_text`) | "
             f"{'n/a' if rep.get('user_word_accuracy') is None else format(rep['user_word_accuracy'], '.1%')} |",
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
    if rep.get("by_family"):
        lines += eval_voices.markdown(rep["by_family"])
    if rep.get("conversation"):
        lines += turns.markdown(rep["conversation"])
    if rep.get("barge_in"):
        lines += barge_in.markdown(rep["barge_in"])
    return "\n".join(lines) + "\n"


def main(args) -> int:
    from tqdm import tqdm
    import soundfile as sf

    codec = ["--codec", args.served_codec] if args.served_codec else []
    server = None if args.url else ServerProcess("--model", args.model, "--model-backend", args.model_backend, *codec)
    url = args.url or server.url
    try:
        hello = asyncio.run(_hello(url))
        if args.voices:
            qs = eval_voices.questions(hello["sample_rate"], hello["frame_size"], args.per_intent, args.seed,
                                       args.voices.split(","), args.paraphrases)
        else:
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
    heard = [judge.hear(r.answer_audio, r.rate) for r in results]
    served = args.served_codec or served_codec(args.model if not args.url else None, hello)
    stoi_score = stoi_of_codec(args.codec or served, qs)
    rep = report(qs, results, heard, stoi_score, hello, answers_through_codec(served, judge),
                 answers_in_agent_voice(judge, hello["sample_rate"], hello["frame_size"]))
    rep["stoi_agent_voice"] = stoi_agent_voice(served, hello["sample_rate"])
    if ts:
        second = [judge.hear(r.second_audio, r.rate) if len(r.second_audio) else None for r in interrupted]
        rep["barge_in"] = barge_in.summary(ts, interrupted, second, alone)
    if talked:
        rep["conversation"] = turns.summary(qs, [judge.hear(r.answer_audio, r.rate) for r in talked], heard,
                                            args.turns)
    rep["sampling"], rep["paraphrases"] = args.sampling, args.paraphrases
    if args.voices:
        rep["by_family"] = eval_voices.summary(qs, heard)
    out = Path(args.out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    for i, (q, r) in enumerate(zip(qs, results)):
        sf.write(out / "audio" / f"{i:03d}-{q.intent}.wav", np.stack([q.audio[:len(r.agent)],
                 r.agent[:len(q.audio)]], 1), r.rate)
    for i, r in enumerate(interrupted):
        sf.write(out / "audio" / f"barge-in-{i:03d}.wav", np.stack([r.user, r.agent], 1), r.rate)
    (out / "eval.json").write_text(json.dumps(rep, indent=2))
    (out / "eval.md").write_text(markdown(rep))
    print(markdown(rep))
    return 0


async def _hello(url):
    client = await AntiphonClient.connect(url)
    await client.close()
    return client.hello
