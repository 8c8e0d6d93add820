"""How many inner async tests ran concurrently: ``tests/conftest.py`` loads this plugin into each
pytester run (``-p _suite_count``) when ``AWAITEST_SUITE_COUNT`` names a file. The workers of
an inner ``-n`` run count their own tests (its controller runs none)."""

from __future__ import annotations

import json
import os

import pytest


def pytest_sessionfinish(session: pytest.Session) -> None:
    """One JSON line per run: the tests that ran in a batch, and the reason of each test that
    opted in and ran alone, read from awaitest's own summary counts."""
    path = os.environ.get("AWAITEST_SUITE_COUNT")
    plugin = session.config.pluginmanager.get_plugin("awaitest-concurrency")
    if not path or plugin is None:
        return  # not counting, or concurrency off for this run (asyncio_concurrency = 0)
    batches = plugin.batches
    alone = [reason for _, reason in batches.alone]
    with open(path, "a") as out:  # one short append per run: xdist's workers don't interleave
        out.write(json.dumps({"ran": batches.ran, "alone": alone}) + "\n")
