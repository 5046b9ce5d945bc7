"""Prometheus metrics, one registry per server."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self, frame_seconds: float):
        r = self.registry = CollectorRegistry()
        self.sessions = Gauge("antiphon_sessions", "Connected sessions", registry=r)
        buckets = [frame_seconds * f for f in (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2, 4)]
        self.tick = Histogram("antiphon_tick_seconds", "Engine tick duration", buckets=buckets, registry=r)
        self.late_ticks = Counter("antiphon_late_ticks", "Ticks that took longer than a frame", registry=r)
        self.underruns = Counter("antiphon_input_underruns", "Frames fed as silence for lack of input", registry=r)
        self.bytes_in = Counter("antiphon_bytes_in", "Audio bytes received", registry=r)
        self.bytes_out = Counter("antiphon_bytes_out", "Audio bytes sent", registry=r)
        self.session_faults = Counter("antiphon_session_faults", "Sessions the engine ended for a fault of their own",
                                      registry=r)
        self.rejected = Counter("antiphon_rejected_connections", "Connections refused", ["reason"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
