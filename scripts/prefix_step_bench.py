"""The bundled agent's model step for one session in slot 0 (one row computed) against slot 7
(eight rows: what every step cost when all slots were stepped), side by side in one run."""
import time

import torch

from antiphon.server.serve import load

codec, model = load("bundled", None, "cpu", "auto", "auto")
s = model.stream(8)
K = model.cfg.num_codebooks
user = torch.zeros(8, K, dtype=torch.long)
def run(slot, n=300):
    active = torch.zeros(8, dtype=torch.bool); active[slot] = True
    for _ in range(20): s.step(user, active)
    t = time.perf_counter()
    for _ in range(n): s.step(user, active)
    return (time.perf_counter() - t) / n * 1000
torch.set_num_threads(2)
for rep in range(2):
    a, b = run(0), run(7)
    print(f"one session in slot 0 (1 row computed): {a:.2f} ms/step; in slot 7 (8 rows, as every step before): {b:.2f} ms/step; ratio {b/a:.2f}")
