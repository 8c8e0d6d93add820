"""awaitest: run async tests and fixtures with pytest, and catch the mistakes async code makes."""

# First, before any other module of the package is imported: see the function.
from ._pytest_private import keep_own_modules_unrewritten

keep_own_modules_unrewritten()

from ._by_name import getfixturevalue  # noqa: E402
from ._collect import is_async_test  # noqa: E402
from ._fixture_specs import fixture  # noqa: E402
from .clock import VirtualClock  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "VirtualClock",
    "__version__",
    "fixture",
    "getfixturevalue",
    "is_async_test",
]
