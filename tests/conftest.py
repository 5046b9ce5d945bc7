import os

import pytest


@pytest.fixture(scope="session")
def tiny_codec():
    from antiphon.codec import load_codec

    return load_codec("random:tiny")


@pytest.fixture(scope="session")
def tiny_pair():
    from antiphon.codec import load_codec
    from antiphon.model import load_model

    return load_codec("random:tiny"), load_model("random:tiny")


@pytest.fixture
async def server_factory(tiny_pair):
    """Start real servers (random tiny model) on ephemeral loopback ports; shut them down after."""
    from antiphon.server.app import AntiphonServer

    started = []

    async def make(**kwargs):
        codec, model = tiny_pair
        kwargs.setdefault("grace_seconds", 0.5)
        srv = await AntiphonServer(codec, model, random_weights=True, **kwargs).start("127.0.0.1", 0)
        started.append(srv)
        srv.url = f"ws://127.0.0.1:{srv.port}/ws"
        srv.http = f"http://127.0.0.1:{srv.port}"
        return srv

    yield make
    for srv in started:
        await srv.shutdown()


def speech_like(seconds: float, rate: int, seed: int = 0):
    """A deterministic voiced signal (harmonics with a syllable envelope) as float32."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t)) * (t % 1.0 < 0.7)
    return (0.2 * x * env + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def training_cache(tmp_path_factory):
    """Rendered speech and datasets in a private cache, shared by one test module's runs."""
    path = tmp_path_factory.mktemp("antiphon-cache")
    old = os.environ.get("ANTIPHON_CACHE")
    os.environ["ANTIPHON_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("ANTIPHON_CACHE")
    else:
        os.environ["ANTIPHON_CACHE"] = old


@pytest.fixture(scope="module")
def tiny_codec_dir(training_cache):
    from antiphon.codec.architecture import CONFIGS as CODEC_CONFIGS, build_modules
    from antiphon.codec.checkpoint import save_checkpoint

    return save_checkpoint(build_modules(CODEC_CONFIGS["tiny"], seed=0), CODEC_CONFIGS["tiny"], training_cache / "codec")
