"""The barge-in trials' arithmetic on synthetic timelines, and the trials themselves (what the user
says, and when). Real runs: tests/test_eval.py (smoke, through a spawned server) and
tests/test_bundle.py (the bundled agent stops when talked over)."""
import dataclasses

import numpy as np
import pytest

from antiphon.harness.barge_in import QUIET_RUN, markdown, measure, stop_frame, summary, trials
from antiphon.harness.records import TrialResult
from antiphon.common.audio import SPEECH_RMS

LOUD, QUIET = 10 * SPEECH_RMS, SPEECH_RMS / 2


def timeline(loud_spans, frames=60):
    rms = np.full(frames, QUIET)
    for a, b in loud_spans:
        rms[a:b] = LOUD
    return rms


def test_stop_is_the_first_frame_of_a_quiet_run_after_the_onset():
    # the agent talks 10-30 with a gap between words at 20: a gap is not a stop
    rms = timeline([(10, 20), (20 + QUIET_RUN - 1, 30)])
    assert stop_frame(rms, onset=15, end=50) == 30
    assert stop_frame(rms, onset=15, end=30) is None  # still talking when the second question ended
    assert stop_frame(timeline([(10, 20), (20 + QUIET_RUN, 30)]), onset=15, end=50) == 20
    assert stop_frame(rms, onset=40, end=50) == 40  # already silent


def text_at(pairs):
    return lambda start=-1, end=None: "".join(t for i, t in pairs if i >= start and (end is None or i < end))


def test_measure_splits_the_agents_words_at_the_end_of_the_second_question():
    rms = timeline([(12, 24), (40, 50)])
    said = text_at([(11, "i "), (14, "can "), (41, "that "), (43, "is "), (45, "two ")])
    r = measure(rms, np.zeros(60 * 4, np.float32), 4, said, asked=10, agent_at=12, onset=18, second_frames=12,
                period=0.04)
    assert r.talking_at_onset and r.stop_s == pytest.approx(6 * 0.04)  # silent from frame 24
    assert r.delay_s == pytest.approx(6 * 0.04)
    assert r.first_said == "i can " and r.second_said == "that is two "
    assert len(r.second_audio) == (60 - 30) * 4  # from the end of the second question on
    silent_before = measure(timeline([(5, 9)]), np.zeros(240, np.float32), 4, said, 10, 12, 18, 12, 0.04)
    assert not silent_before.talking_at_onset  # the agent had stopped by itself: not a barge-in
    alone = measure(rms, np.zeros(240, np.float32), 4, said, 10, 12, 18, 12, 0.04, talk=False)
    assert alone.first_said == "i can that is two " and alone.second_said == ""  # the control: all of it
    never = measure(timeline([]), np.zeros(240, np.float32), 4, said, 10, None, None, 12, 0.04)
    assert not never.answered_first and not never.talking_at_onset and never.stop_s is None


def test_summary_counts_stops_only_where_the_agent_was_talking():
    ts = trials(16000, 640, 3, seed=0)
    first, second = [t.first.agent for t in ts], [t.second.agent for t in ts]
    nothing = np.zeros(0, np.float32)
    results = [TrialResult(True, True, 0.2, first[0].split()[0], second[0], nothing),
               TrialResult(True, True, None, first[1], "", nothing),
               TrialResult(True, False, 0.0, first[2], "that is one", nothing)]
    s = summary(ts, results, [second[0], None, second[2]])
    assert (s["trials"], s["answered_first"], s["talking_at_onset"]) == (3, 3, 2)
    assert s["stopped"] == 0.5 and s["stop_latency_s"]["p50"] == pytest.approx(0.2)
    full = [len(a.split()) for a in first]
    assert s["first_answer_words_said"] == pytest.approx((1 + full[1]) / 2)  # one cut at its first word
    assert s["first_answer_words"] == pytest.approx((full[0] + full[1]) / 2)
    assert s["second_judged_right"] == pytest.approx(2 / 3)
    assert s["second_meant_right"] == pytest.approx((1 + (second[2] == "that is one")) / 3)
    assert s["left_alone"] is None and "left alone" not in "\n".join(markdown(s))
    alone = [dataclasses.replace(r, talking_at_onset=True, stop_s=0.8, first_said=f) for r, f in zip(results, first)]
    s = summary(ts, results, [second[0], None, second[2]], alone)
    assert s["left_alone"]["talking_at_onset"] == 3 and s["left_alone"]["stopped"] == 1.0
    assert s["left_alone"]["first_answer_words_said"] == pytest.approx(sum(full) / 3)
    md = "\n".join(markdown(s))
    said = f"| words of the first answer said (its text; {(full[0] + full[1]) / 2:.1f} in it) | "
    assert said + f"{(1 + full[1]) / 2:.1f} | {sum(full) / 3:.1f} |" in md
    assert "| frames of input until silent, p50 / p95 | 200 ms / 200 ms | 800 ms / 800 ms |" in md


def test_trials_interrupt_long_answers_with_held_out_questions_in_one_voice():
    import re

    from antiphon.model.data import INTENTS

    ts = trials(16000, 640, 12, seed=1)
    held_out = {i.name: [re.sub(r"\\\{\w\\\}", r"\\w+", re.escape(p)) for p in i.held_out] for i in INTENTS}
    for t in ts:
        assert len(t.first.agent.split()) >= 4
        for ex in (t.first, t.second):  # a held-out phrasing, its slots filled
            assert any(re.fullmatch(p, ex.user) for p in held_out[ex.intent]), ex
        assert t.asked * 640 >= len(t.first_audio) > (t.asked - 1) * 640
        assert np.abs(t.first_audio[:9600]).max() == 0 and np.abs(t.second_audio).max() == pytest.approx(0.3)
    again = trials(16000, 640, 12, seed=1)
    assert all(np.array_equal(a.second_audio, b.second_audio) and a.delay == b.delay
               for a, b in zip(ts, again))
