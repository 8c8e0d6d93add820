"""awaitest: run async tests and fixtures with pytest, and catch the mistakes async code makes."""

from ._collect import is_async_test
from ._fixture_specs import fixture
from .clock import VirtualClock

__version__ = "0.1.0"

__all__ = [
    "VirtualClock",
    "__version__",
    "fixture",
    "is_async_test",
]
