"""Barge-in trials for `antiphon eval`: the user asks something with a long answer and, a few frames
after the agent starts answering, asks something else over it. Full duplex means the agent falls
silent within a few frames and then answers the new question; a half-duplex agent talks on.

The second question starts a drawn number of frames after the agent's first sound reaches the
client, so every trial interrupts the answer itself, not the silence before it. Times are counted in
input frames: the agent's output for input frame i is what it says once it has heard frame i.
"""
from __future__ import annotations

import random

import numpy as np

from antiphon.model.data import UtteranceMaker, sample_exchange, user_voices

from .bench_stats import percentiles
from antiphon.common.audio import QUIET_RUN, SPEECH_RMS, frame_rms

from .exchange import LEAD_S, TAIL_S, converse, framed, gathered, spoken
from .records import Trial, TrialResult

LONG_ANSWERS = ("count", "abilities", "unknown", "name", "how_are_you", "goodbye")  # answers of 4+ words
DELAY = (3, 16)  # frames after the agent's first sound that the user starts talking over it (0.12-0.64 s)
WAIT_S = 3.0  # longest wait for the agent to start answering the first question


def trials(rate: int, frame_size: int, count: int, seed: int, paraphrases: str = "eval") -> list[Trial]:
    """`count` pairs of held-out questions, each pair in one held-out voice: the first with an answer
    of at least four words, the second of any intent."""
    maker = UtteranceMaker(rate, frame_size)
    voices = user_voices("eval", 10, seed)
    rng = random.Random(f"barge-in-{seed}")
    out = []
    for k in range(count):
        first = sample_exchange(rng, paraphrases, rng.choice(LONG_ANSWERS))
        while len(first.agent.split()) < 4:  # counting to two or three is over too soon
            first = sample_exchange(rng, paraphrases, first.intent)
        second = sample_exchange(rng, paraphrases)
        voice = voices[k % len(voices)]
        lead = np.zeros(int(LEAD_S * rate) // frame_size * frame_size, np.float32)
        first_audio = np.concatenate([lead, spoken(maker, first.user, voice, rng)])
        second_audio = spoken(maker, second.user, voice, rng)
        out.append(Trial(first, second, voice.key(), rng.randint(*DELAY), first_audio, second_audio,
                         asked=-(-len(first_audio) // frame_size), second_frames=-(-len(second_audio) // frame_size),
                         wait=round(WAIT_S * rate / frame_size), tail=round(TAIL_S * rate / frame_size)))
    return out


def stop_frame(rms: np.ndarray, onset: int, end: int) -> int | None:
    """The first frame from `onset` on that starts QUIET_RUN silent frames, if one does before `end`."""
    loud = rms > SPEECH_RMS
    return next((i for i in range(onset, end) if not loud[i:i + QUIET_RUN].any()), None)


async def interrupt(url: str, trial: Trial, sampling: dict | None = None, talk: bool = True) -> TrialResult:
    """One trial in one session (the trial's audio at the server's rate). `talk=False` is the
    control: the same trial with the user silent where the second question would be."""
    asked, state, sent = trial.asked, {"agent_at": None, "onset": None}, []

    def on_output(index, pcm):
        if state["agent_at"] is None and index >= asked and frame_rms(pcm) > SPEECH_RMS:
            state["agent_at"] = index

    def next_frame(i, n):
        pcm = user_frame(i, n)
        if pcm is not None:
            sent.append(pcm)
        return pcm

    def user_frame(i, n):
        if i < asked:
            return framed(trial.first_audio, i, n)
        if state["onset"] is None:
            if state["agent_at"] is not None and i >= state["agent_at"] + trial.delay:
                state["onset"] = i
            elif i >= asked + trial.wait:
                return None  # the agent never answered the first question
            else:
                return np.zeros(n, np.float32)
        j = i - state["onset"]
        if j < trial.second_frames:
            return framed(trial.second_audio, j, n) if talk else np.zeros(n, np.float32)
        return np.zeros(n, np.float32) if j < trial.second_frames + trial.tail else None

    rec = await converse(url, next_frame, sampling, on_output)
    agent = rec.agent()
    result = measure(rec.rms(), agent, rec.frame, rec.said, asked, state["agent_at"], state["onset"],
                     trial.second_frames, rec.period, talk)
    result.user, result.agent, result.rate = np.concatenate(sent), agent, rec.rate
    return result


def measure(rms, agent, n, said, asked, agent_at, onset, second_frames, period, talk=True) -> TrialResult:
    """What one trial shows: whether the agent was talking when interrupted, when it stopped, what
    it had said of the first answer, and its audio and words after the second question (with
    `talk=False`, the control, all it said is the first answer)."""
    if onset is None:
        return TrialResult(False, False, None, said(), "", np.zeros(0, np.float32))
    end = onset + second_frames
    stop = stop_frame(rms, onset, end)
    return TrialResult(answered_first=True,
                       talking_at_onset=bool((rms[max(onset - QUIET_RUN, 0):onset] > SPEECH_RMS).any()),
                       stop_s=None if stop is None else (stop - onset) * period,
                       first_said=said(asked, end if talk else None), second_said=said(end) if talk else "",
                       second_audio=agent[end * n:] if talk else np.zeros(0, np.float32),
                       delay_s=(onset - agent_at) * period)


async def run_trials(url: str, ts: list[Trial], parallel: int, progress, sampling: dict | None = None,
                     talk: bool = True) -> list[TrialResult]:
    async def one(i):
        result = await interrupt(url, ts[i], sampling, talk)
        progress.update(1)
        return result
    return await gathered(len(ts), parallel, one)


def _words(text: str) -> str:
    return " ".join(text.split())


def _share(k: int, of: int) -> float | None:
    return k / of if of else None


def stops(ts: list[Trial], results: list[TrialResult]) -> dict:
    """Among the trials that caught the agent talking: how many fell silent in the window of the
    second question, how soon, and how many words of its first answer it said (its text)."""
    talking = [(t, r) for t, r in zip(ts, results) if r.talking_at_onset]
    quiet = [r.stop_s for _, r in talking if r.stop_s is not None]
    mean = lambda xs: float(np.mean(xs)) if xs else None  # noqa: E731
    return {"talking_at_onset": len(talking), "stopped": _share(len(quiet), len(talking)),
            "stop_latency_s": percentiles(quiet, qs=(50, 95)),
            "first_answer_words_said": mean([len(r.first_said.split()) for _, r in talking]),
            "first_answer_words": mean([len(t.first.agent.split()) for t, _ in talking])}


def summary(ts: list[Trial], results: list[TrialResult], heard: list[str | None],
            alone: list[TrialResult] | None = None) -> dict:
    """`heard`: the judge on each trial's audio after the second question; `alone`: the same trials
    with the user silent instead (the control), if run."""
    return {"trials": len(ts), "answered_first": sum(r.answered_first for r in results), **stops(ts, results),
            "second_judged_right": _share(sum(h == t.second.agent for t, h in zip(ts, heard)), len(ts)),
            "second_meant_right": _share(sum(_words(r.second_said) == t.second.agent
                                             for t, r in zip(ts, results)), len(ts)),
            "left_alone": stops(ts, alone) if alone is not None else None,
            "items": [{"first": t.first.user, "first_answer": t.first.agent, "second": t.second.user,
                       "second_answer": t.second.agent, "voice": t.voice, "delay_s": r.delay_s,
                       "talking_at_onset": r.talking_at_onset, "stop_s": r.stop_s,
                       "first_said": _words(r.first_said), "second_said": _words(r.second_said), "heard": h}
                      for t, r, h in zip(ts, results, heard)]}


def markdown(b: dict) -> list[str]:
    pct = lambda v: "n/a" if v is None else f"{v:.1%}"  # noqa: E731
    ms = lambda v: "n/a" if v is None else f"{v * 1000:.0f} ms"  # noqa: E731
    num = lambda v: "n/a" if v is None else f"{v:.1f}"  # noqa: E731
    arms = [b] + ([b["left_alone"]] if b.get("left_alone") else [])

    def row(name, cell):
        return f"| {name} | " + " | ".join(cell(a) for a in arms) + " |"
    return ["", f"Barge-in: {b['trials']} trials, the user asking something else over the agent's answer"
                + (", and the same trials with the user silent instead" if len(arms) > 1 else "") + ".", "",
            "| measure | talked over" + (" | left alone" if len(arms) > 1 else "") + " |",
            "|---|---|" + ("---|" if len(arms) > 1 else ""),
            row("trials that caught the agent talking", lambda a: str(a["talking_at_onset"])),
            row(f"of those, agent silent ({QUIET_RUN} frames) within the second question", lambda a: pct(a["stopped"])),
            row("frames of input until silent, p50 / p95",
                lambda a: f"{ms(a['stop_latency_s']['p50'])} / {ms(a['stop_latency_s']['p95'])}"),
            row(f"words of the first answer said (its text; {num(b['first_answer_words'])} in it)",
                lambda a: num(a["first_answer_words_said"])),
            f"| second question answered right (judged / monologue) | {pct(b['second_judged_right'])} / "
            f"{pct(b['second_meant_right'])} |" + (" |" if len(arms) > 1 else "")]
