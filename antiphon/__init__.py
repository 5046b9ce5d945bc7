"""Antiphon: a real-time, full-duplex speech-to-speech voice agent server.

The data path: client -> (wire) -> server -> codec, model -> kernels. The harness (bench, eval,
the judge) and the command line sit above them all; `antiphon.common` holds what several layers
share (the wire constants, the speech level, the cache root, atomic writes)."""
