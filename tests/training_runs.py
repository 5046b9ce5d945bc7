"""What the training tests share besides their fixtures (conftest.py): the command line, its
environment, and reading a run's weights."""
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from antiphon.common.command import antiphon_command


def train_cli(*args):
    return antiphon_command("train", *args)


def run_env(cache):
    return {**os.environ, "ANTIPHON_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def weights(path):
    return load_file(str(Path(path) / "model.safetensors"))


def same(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
