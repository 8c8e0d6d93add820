"""awaitest: run async tests and fixtures with pytest, and catch the mistakes async code makes."""

from ._collect import is_async_test
from ._errors import (
    AwaitestDeprecationWarning,
    AwaitestWarning,
    LoopErrorWarning,
    TaskLeakWarning,
    UnawaitedCoroutineWarning,
)
from ._fixture_specs import fixture
from .clock import VirtualClock

__version__ = "0.1.0"

__all__ = [
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
