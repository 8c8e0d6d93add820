from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(params=["strict", "auto"])
def mode(request: pytest.FixtureRequest, pytester: pytest.Pytester) -> str:
    """Run a plugin test once per mode; in strict mode async tests carry the marker."""
    value: str = request.param
    pytester.makeini(f"[pytest]\nasyncio_mode = {value}\n")
    return value
