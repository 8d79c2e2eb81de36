"""Shared fixtures: synthetic GoogLeNets written once per session (seeded, nothing downloaded).
Helpers that are not fixtures live in tests/support/."""
import pytest

from classviz.testing import FLAVOURS, write_googlenet


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    """model_path(flavour, width=1) -> path of a synthetic GoogLeNet ONNX file (cached)."""
    root = tmp_path_factory.mktemp("models")
    made = {}

    def get(flavour, width=1):
        key = (flavour, width)
        if key not in made:
            made[key] = str(write_googlenet(root / f"{flavour}_w{width}.onnx", flavour, width=width, seed=7))
        return made[key]
    return get


@pytest.fixture(params=FLAVOURS)
def flavour(request):
    return request.param
