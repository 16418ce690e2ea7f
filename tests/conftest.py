from __future__ import annotations

import os

import pytest
import torch

# Tests share two cores with the encoder and each other: keep torch from oversubscribing.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `cuda` tests without a GPU; VSR_REQUIRE_CUDA=1 turns the skip into a failure."""
    if torch.cuda.is_available():
        return
    if os.environ.get("VSR_REQUIRE_CUDA") == "1":
        return  # let them run and fail loudly
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
