"""pytest-xdist's worker, seen from concurrent tests (``_batches``).

An xdist worker sends each report with the index of the test whose protocol it is running
(``WorkerInteractor.item_index``) and asserts that the report is that test's. A concurrent
test's reports are emitted later, inside a later test's protocol, so while they are emitted
the worker's index is the reported test's own. ``item_index`` is the worker's private
attribute (pytest-xdist 3.x); without a worker (no ``-n``) this does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest


class Worker:
    """The run's xdist worker plugin, if this process is one, and the index of each item."""

    __slots__ = ("config", "indices", "interactor")

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        #: Looked up at the first report (the worker registers itself after configuring).
        self.interactor: object | None = None
        self.indices: dict[pytest.Item, int] | None = None

    def _find(self) -> object | None:
        if not hasattr(self.config, "workerinput"):
            return None
        for plugin in self.config.pluginmanager.get_plugins():
            if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "item_index"):
                found: object = plugin
                return found
        return None

    @contextlib.contextmanager
    def reporting(self, item: pytest.Item) -> Iterator[None]:
        """Around the emission of ``item``'s reports."""
        if self.indices is None:
            self.interactor = self._find()
        interactor = self.interactor
        if interactor is None:
            self.indices = {}
            yield
            return
        if not self.indices:
            self.indices = {found: n for n, found in enumerate(item.session.items)}
        running = getattr(interactor, "item_index")  # noqa: B009 - the worker's own
        setattr(interactor, "item_index", self.indices[item])  # noqa: B010
        try:
            yield
        finally:
            setattr(interactor, "item_index", running)  # noqa: B010
