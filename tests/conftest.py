"""Shared test fixtures: where the real datasets are."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets() -> Path:
    assert DATASETS.is_dir(), f"the shared datasets are expected at {DATASETS}"
    return DATASETS
