from __future__ import annotations

import pytest
from _helpers import ini

pytest_plugins = ["pytester"]


@pytest.fixture(params=["strict", "auto"])
def mode(request: pytest.FixtureRequest, pytester: pytest.Pytester) -> str:
    """Run a plugin test once per mode; in strict mode async tests carry the marker."""
    value: str = request.param
    ini(pytester, asyncio_mode=value)
    return value
