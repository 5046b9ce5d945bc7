"""The engine's threads: with the codec and the model in ONNX Runtime they are its split calls and
torch runs its glue on one thread; with a torch step they are torch's."""
from __future__ import annotations

import pytest
import torch

from antiphon.codec import onnx_backend
from antiphon.server.serve import load, use_threads


@pytest.fixture
def restore_threads(monkeypatch):
    threads = torch.get_num_threads()
    monkeypatch.setattr(onnx_backend, "_workers", onnx_backend._workers)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_threads_go_where_the_work_is(restore_threads, tmp_path, monkeypatch, backend):
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    codec, model = load("random:tiny", None, "cpu", backend, backend)
    assert use_threads(codec, model, 3) == 3
    if backend == "onnx":
        assert (torch.get_num_threads(), onnx_backend._workers) == (1, 3)
    else:
        assert torch.get_num_threads() == 3


def test_the_default_is_torchs_own_however_often_it_is_set(restore_threads, tmp_path, monkeypatch):
    """A second server in one process (the tests, a notebook) gets the same default: not the one
    thread the first left torch with."""
    monkeypatch.setenv("ANTIPHON_CACHE", str(tmp_path))
    codec, model = load("random:tiny", None, "cpu", "onnx", "onnx")
    first = use_threads(codec, model, None)
    assert torch.get_num_threads() == 1
    assert use_threads(codec, model, None) == first == onnx_backend._workers
