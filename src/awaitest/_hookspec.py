"""The hook awaitest adds to pytest, with pytest-asyncio's name and meaning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import pytest

from ._loops.factories import LoopFactory

#: The hook's arguments and ``firstresult``: pytest-asyncio declares it the same way, and when
#: its plugin was loaded first its declaration is the one that stays (see ``plugin``).
SIGNATURE: Final = (("config", "item"), True)


@pytest.hookspec(firstresult=True)
def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, LoopFactory] | None:
    """Return the loop factories, by name, that the async test ``item`` runs on.

    Each async test runs once per factory (ids ``[name]`` when there is more than one); a
    marker's ``loop_factories=[...]`` picks a subset. ``None`` defers to the next
    implementation and then to the ``asyncio_loop_factories`` ini key.
    """
