"""The measurement harness: end-to-end benchmarks, the judged evaluation, barge-in and conversation
trials, and the local demo. It may use every layer; no layer uses it."""
