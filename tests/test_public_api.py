"""The public surface is exactly what docs/configuration.md lists; anything new is a deliberate
change."""

from __future__ import annotations

import awaitest


def test_all_names_are_public_and_present() -> None:
    assert sorted(awaitest.__all__) == [
        "AwaitestDeprecationWarning",
        "AwaitestWarning",
        "LoopErrorWarning",
        "TaskLeakWarning",
        "UnawaitedCoroutineWarning",
        "VirtualClock",
        "__version__",
        "fixture",
        "is_async_test",
    ]
    for name in awaitest.__all__:
        assert hasattr(awaitest, name)


def test_every_warning_derives_from_the_one_base_class() -> None:
    assert issubclass(awaitest.AwaitestDeprecationWarning, awaitest.AwaitestWarning)
    assert issubclass(awaitest.AwaitestDeprecationWarning, DeprecationWarning)
    for check in (
        awaitest.UnawaitedCoroutineWarning,
        awaitest.TaskLeakWarning,
        awaitest.LoopErrorWarning,
    ):
        assert issubclass(check, awaitest.AwaitestWarning)
