from __future__ import annotations

import os

import pytest
from _helpers import ini

pytest_plugins = ["pytester"]


@pytest.fixture(params=["strict", "auto"])
def mode(request: pytest.FixtureRequest, pytester: pytest.Pytester) -> str:
    """Run a plugin test once per mode; in strict mode async tests carry the marker."""
    value: str = request.param
    ini(pytester, asyncio_mode=value)
    return value


@pytest.fixture(autouse=True)
def _suite_concurrency(request: pytest.FixtureRequest) -> None:
    """``AWAITEST_SUITE_CONCURRENCY=N``: every pytester run of this suite gets
    ``asyncio_concurrency = N`` and ``asyncio_concurrent_tests = all``, so each async test that is
    eligible runs concurrently; issue 18 asks the suite to pass that way too. pytester clears
    ``PYTEST_ADDOPTS`` when it starts, so it is set again after; ``AWAITEST_SUITE_ADDOPTS`` adds
    more options (a plugin counting what ran concurrently, say)."""
    value = os.environ.get("AWAITEST_SUITE_CONCURRENCY")
    if not value or "pytester" not in request.fixturenames:
        return
    request.getfixturevalue("pytester")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    extra = os.environ.get("AWAITEST_SUITE_ADDOPTS", "")
    addopts = f"-o asyncio_concurrency={value} -o asyncio_concurrent_tests=all {extra}"
    monkeypatch.setenv("PYTEST_ADDOPTS", addopts.strip())
