"""Questions asked one after another in one session, as a person talks to the agent: each as soon as
the agent's previous answer is over. The eval asks the same questions in fresh sessions too, so the
report shows side by side whether a longer conversation costs the agent its answers."""
from __future__ import annotations

import numpy as np

from antiphon.common.audio import QUIET_RUN, SPEECH_RMS, frame_rms

from .exchange import LEAD_S, TAIL_S, converse, framed, gathered
from .records import Answer, Question

PAUSE_S = 0.4  # after the agent's answer is over (QUIET_RUN quiet frames), before the next question


async def conversation(url: str, qs: list[Question], rate: int, sampling: dict | None = None,
                       steady: bool = False) -> list[Answer]:
    """Ask `qs` (eval questions, at the server's `rate`) in one session; per question, the agent's
    audio and text from the end of the question to the start of the next."""
    st = {"k": 0, "j": 0, "phase": "pause", "until": None, "spoke": False, "quiet": 0}
    starts, ends = [], []

    def on_output(index, pcm):
        if st["phase"] == "wait":
            loud = frame_rms(pcm) > SPEECH_RMS
            st["spoke"] |= loud
            st["quiet"] = 0 if loud else st["quiet"] + 1

    def next_frame(i, n):
        if st["until"] is None:
            st["until"] = frames(LEAD_S, n)
        if st["phase"] == "pause" and i >= st["until"]:
            st["phase"], st["j"] = "ask", 0
            starts.append(i)
        if st["phase"] == "ask":
            q = qs[st["k"]]
            pcm = framed(q.words_audio(), st["j"], n)
            if pcm is not None:
                st["j"] += 1
                return pcm
            ends.append(i)
            st.update(phase="wait", spoke=False, quiet=0, since=i)
        over = st["spoke"] and st["quiet"] >= QUIET_RUN
        if st["phase"] == "wait" and (over or i - st["since"] >= frames(TAIL_S, n)):  # no answer
            st["k"] += 1
            if st["k"] == len(qs):
                return None
            st.update(phase="pause", until=i + frames(PAUSE_S, n))
        return np.zeros(n, np.float32)

    frames = lambda seconds, n: round(seconds * rate / n)  # noqa: E731
    rec = await converse(url, next_frame, sampling, on_output, steady)
    agent, n = rec.agent(), rec.frame
    bounds = starts[1:] + [rec.sent]
    return [Answer(agent, rec.rate, agent[e * n: b * n], rec.said(e, b)) for e, b in zip(ends, bounds)]


async def run_conversations(url: str, qs: list[Question], rate: int, turns: int, parallel: int, progress,
                            sampling: dict | None = None) -> list[Answer]:
    """`qs` in sessions of `turns` questions, in order; one result per question."""
    groups = [qs[i:i + turns] for i in range(0, len(qs), turns)]

    async def one(i):
        result = await conversation(url, groups[i], rate, sampling)
        progress.update(len(groups[i]))
        return result
    return [r for group in await gathered(len(groups), parallel, one) for r in group]


def summary(qs: list[Question], heard: list[str | None], alone: list[str | None], turns: int) -> dict:
    """`heard`: the judge on each question asked in a conversation; `alone`: on the same question
    asked in a fresh session."""
    right = np.array([h == q.expected for q, h in zip(qs, heard)])
    right_alone = np.array([h == q.expected for q, h in zip(qs, alone)])
    by_turn = lambda r: [float(r[k::turns].mean()) for k in range(min(turns, len(qs)))]  # noqa: E731
    return {"turns": turns, "sessions": -(-len(qs) // turns), "accuracy": float(right.mean()),
            "accuracy_alone": float(right_alone.mean()), "accuracy_by_turn": by_turn(right),
            "accuracy_alone_by_turn": by_turn(right_alone)}


def markdown(t: dict) -> list[str]:
    turns = lambda key: " / ".join(f"{a:.0%}" for a in t[key])  # noqa: E731
    return ["", f"The same questions in {t['sessions']} sessions of {t['turns']}, each asked once the previous "
                "answer was over:", "",
            "| asked | judged right | by turn (the same questions alone: by their place in the list) |",
            "|---|---|---|",
            f"| alone, a fresh session each | {t['accuracy_alone']:.1%} | {turns('accuracy_alone_by_turn')} |",
            f"| in conversation | {t['accuracy']:.1%} | {turns('accuracy_by_turn')} |"]
