"""The public surface is exactly what docs/configuration.md lists; anything new is a deliberate
change."""

from __future__ import annotations

import awaitest


def test_all_names_are_public_and_present() -> None:
    assert sorted(awaitest.__all__) == [
        "VirtualClock",
        "__version__",
        "fixture",
        "is_async_test",
    ]
    for name in awaitest.__all__:
        assert hasattr(awaitest, name)
