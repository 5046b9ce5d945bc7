"""What both training recipes share: the run directory, its recorded settings, checkpoints with
exact resume, the loss log and plot, the progress bar, and DistributedDataParallel set-up.

Exact resume rests on one rule: the batch of step `s` is a pure function of (seed, s, rank), so a
checkpoint needs only the weights, the optimizer, the step and the torch RNG state.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import torch
import torch.distributed as dist
from antiphon.common.atomic import write_atomically
from antiphon.common.paths import cache_root

RUNS = cache_root() / "runs"


def distributed() -> tuple[int, int]:
    """(rank, world size), initialising the process group when run under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("ANTIPHON_DDP_BACKEND") != "gloo" \
            else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


class TrainRun:
    """A run directory: settings.json (every setting), checkpoint.pt (atomic), losses.jsonl, loss.png."""

    def __init__(self, out: Path, settings: dict, rank: int = 0, world: int = 1):
        self.out = Path(out)
        self.rank, self.world = rank, world
        self.settings = settings
        self.main = rank == 0
        self._stop = False
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            recorded = self.out / "settings.json"
            if recorded.is_file():
                old = json.loads(recorded.read_text())
                if settings.get("init") is None and old.get("init"):  # --init only matters at step 0
                    settings["init"] = old["init"]
                # a setting added since the run began matches when it is off (0, None, False)
                changed = {k: (old.get(k), v) for k, v in settings.items()
                           if k not in ("steps", "device") and (old[k] != v if k in old else bool(v))}
                if changed:
                    raise ValueError(f"{self.out} holds a run with other settings {changed}; "
                                     "resume with the same settings or choose another --out")
            _atomic_write(recorded, json.dumps(settings, indent=2).encode())
        self.ckpt = self.out / "checkpoint.pt"
        self.log_file = self.out / "losses.jsonl"

    def begin(self, save_seconds: float):
        """Start the loop's bookkeeping: checkpoint pacing, the clock of the log, signal handling.
        Returns a function that puts the previous signal handlers back."""
        self._clock = Clock(save_seconds)
        self._t0 = time.monotonic()
        return self.stop_on_signals()

    def step_done(self, step: int, values: dict, model, optimizer, last: bool) -> None:
        """After a step: its losses into the log, and a checkpoint when one is due."""
        self.log(step, **values, seconds=round(time.monotonic() - self._t0, 3))
        if self._clock.due() or last or self.stopping:
            self.save(model, optimizer, step)

    def finish(self, model, optimizer, step: int) -> bool:
        """The last checkpoint and the loss plot; whether every rank holds the same weights (a
        collective: every rank calls it)."""
        self.save(model, optimizer, step)
        equal = all_ranks_equal(model)
        self.plot()
        return equal

    def stop_on_signals(self):
        """SIGTERM/SIGINT finish the current step, checkpoint, and end the run. Returns a function
        that puts the previous handlers back (the recipes run in process in the tests)."""
        def handler(signum, frame):
            self._stop = True
        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        return lambda: [signal.signal(s, h) for s, h in previous.items()]

    @property
    def stopping(self) -> bool:
        return self._stop

    def resume(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
        """Loads the checkpoint if there is one; returns the step to start from."""
        if not self.ckpt.is_file():
            return 0
        state = torch.load(self.ckpt, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if self.main:
            self._truncate_log(state["step"])
        return state["step"]

    def save(self, model, optimizer, step: int) -> None:
        if not self.main:
            return
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                 "torch_rng": torch.get_rng_state(), "settings": self.settings}
        write_atomically(self.ckpt, lambda tmp: torch.save(state, tmp))

    def log(self, step: int, **values) -> None:
        if self.main:
            with open(self.log_file, "a") as f:
                f.write(json.dumps({"step": step, **values}) + "\n")

    def _truncate_log(self, step: int) -> None:
        """Drop log lines past the checkpoint (they will be trained again)."""
        if self.log_file.is_file():
            lines = [ln for ln in self.log_file.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
            _atomic_write(self.log_file, "".join(ln + "\n" for ln in lines).encode())

    def plot(self) -> Path | None:
        if not self.main or not self.log_file.is_file():
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [json.loads(ln) for ln in self.log_file.read_text().splitlines() if ln]
        scores = {"stoi", "heldout_text_acc", "heldout_audio0_acc", "heldout_answer_exact", "heldout_word_acc"}  # higher is better: right axis
        keys = sorted({k for r in rows for k in r} - {"step", "seconds"} - scores)
        fig, ax = plt.subplots(figsize=(7, 4))
        for k in keys:
            ax.plot([r["step"] for r in rows if k in r], [r[k] for r in rows if k in r], label=k, linewidth=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.set_title(self.out.name)
        ax.legend(loc="upper left")
        present = sorted({k for r in rows for k in r} & scores)
        if present:  # held-out measures on their own axis
            right = ax.twinx()
            for k in present:
                right.plot([r["step"] for r in rows if k in r], [r[k] for r in rows if k in r], ".-", label=k)
            right.set_ylabel("held-out score")
            right.legend(loc="upper right")
        fig.tight_layout()
        png = self.out / "loss.png"
        fig.savefig(png, dpi=100)
        plt.close(fig)
        return png


class Clock:
    """Checkpoint pacing: at most `seconds` of training is lost to a kill."""

    def __init__(self, seconds: float):
        self.seconds, self.last = seconds, time.monotonic()

    def due(self) -> bool:
        if time.monotonic() - self.last >= self.seconds:
            self.last = time.monotonic()
            return True
        return False


def _atomic_write(path: Path, data: bytes) -> None:
    write_atomically(path, lambda tmp: tmp.write_bytes(data))


def all_ranks_equal(model: torch.nn.Module) -> bool:
    """Whether every rank holds the same weights (a checksum compared across ranks)."""
    if not dist.is_initialized():
        return True
    total = torch.stack([p.detach().double().sum() for p in model.state_dict().values()
                         if p.is_floating_point()]).sum().reshape(1)
    gathered = [torch.zeros_like(total) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, total)
    return all(torch.equal(g, gathered[0]) for g in gathered)
