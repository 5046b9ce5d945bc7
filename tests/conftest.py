import pytest


@pytest.fixture(scope="session")
def tiny_codec():
    from codec import load_codec

    return load_codec("random:tiny")
