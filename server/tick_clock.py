"""When the engine's next tick runs. Pure arithmetic on times, so it is tested on synthetic timelines.

A tick runs as soon as every active session's next input frame is in, so a frame does not wait for a
fixed clock (up to a whole frame: that wait was most of the frame latency). Around a schedule:
- not more than EARLY periods before it (with a backlog the engine then runs at up to twice real
  time, never faster, so a client sending ahead cannot race it);
- not later than LATE periods after it: a frame still missing then is an underrun (fed as silence).
The schedule follows the clients' phase: at once when their frames come later than it, by DRIFT a
tick when earlier, so that a message carrying two frames cannot pull the clock ahead of the next.
A tick started by the clock keeps the schedule: after a stall the ticks run back to back until the
engine is on time again, or every session's input would queue up for good. Only beyond the input buffer (MAX_CATCH_UP_S) is the
schedule restarted: that audio has been dropped anyway.
"""
from __future__ import annotations

EARLY = 0.5
LATE = 0.25
DRIFT = 0.025
MAX_CATCH_UP_S = 2.0


class TickClock:
    def __init__(self, period: float):
        self.period = period
        self.scheduled: float | None = None
        self._waited = False  # a poll since the last tick found an input missing

    def restart(self) -> None:
        """No session is active: the next tick starts a new schedule."""
        self.scheduled = None

    def poll(self, now: float, inputs_ready: bool) -> tuple[str | None, float]:
        """(cause, 0) when a tick should run now: "ready" (the inputs were there), "arrived" (the
        tick waited past its schedule for an input that then came) or "clock" (an input is missing).
        (None, seconds) when it should wait that long at most, or until an input arrives."""
        if self.scheduled is None:
            self.scheduled = now
        earliest = self.scheduled - EARLY * self.period
        deadline = self.scheduled + LATE * self.period
        if now >= earliest and inputs_ready:
            cause = "arrived" if self._waited and now > self.scheduled else "ready"
        elif now >= deadline:
            cause = "clock"
        else:
            self._waited = self._waited or not inputs_ready
            return None, (earliest if now < earliest else deadline) - now
        self._waited = False
        return cause, 0.0

    def ticked(self, cause: str, started: float, now: float) -> None:
        """The tick polled as `cause` ran from `started` to `now`."""
        if cause == "arrived":
            self.scheduled = started
        elif cause == "ready" and started < self.scheduled:
            self.scheduled -= min(self.scheduled - started, DRIFT * self.period)
        self.scheduled += self.period
        if now - self.scheduled > MAX_CATCH_UP_S:
            self.scheduled = now
