"""What many plugin tests do the same way, written once."""

from __future__ import annotations

import pytest


def ini(pytester: pytest.Pytester, **keys: str) -> None:
    """Write the run's ini file, one ``key = value`` line per keyword, in order:
    ``ini(pytester, asyncio_mode="auto", asyncio_timeout="0.2")``. It replaces the previous
    one, the ``mode`` fixture's included: pass ``asyncio_mode=mode`` to keep the mode."""
    lines = [f"{key} = {value}" for key, value in keys.items()]
    pytester.makeini("\n".join(["[pytest]", *lines]) + "\n")
