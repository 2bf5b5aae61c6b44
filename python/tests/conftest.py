"""Fixtures shared by the Python suite: bundles packed from the repository's fixtures with
``ferry.pack`` itself, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

import ferry

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bundles")


def _packed(bundles: Path, name: str) -> str:
    out = bundles / f"{name}.ferry"
    if not out.exists():
        ferry.pack(FIXTURES / name, out)
    return str(out)


@pytest.fixture(scope="session")
def credit_risk_bundle(bundles) -> str:
    return _packed(bundles, "credit-risk")


@pytest.fixture(scope="session")
def credit_application_bundle(bundles) -> str:
    return _packed(bundles, "credit-application")


@pytest.fixture(scope="session")
def text_embedding_bundle(bundles) -> str:
    return _packed(bundles, "text-embedding")
