"""The tasks of awaitest's loops: asyncio's own, named as asyncio names them, and started
eagerly where a loop factory asks for it (``NAME-eager``, ``asyncio_eager_tasks``)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Final

#: The task class awaitest's task factories make (``_checks`` puts one on every test's loop).
Task: type[asyncio.Task[Any]] = asyncio.Task

if (3, 13) <= sys.version_info < (3, 14):

    class _Task(asyncio.Task):  # type: ignore[type-arg]
        """A task that keeps its name. CPython 3.13.0 to 3.13.2 rename every task a task
        factory makes: ``loop.create_task(coro)`` then calls ``task.set_name(None)``, so it is
        called 'None' instead of 'Task-N' (python/cpython#130033). Harmless on the 3.13
        releases that pass the name to the factory instead."""

        def set_name(self, value: object) -> None:
            if value is not None:
                super().set_name(value)

    _Task.__name__ = _Task.__qualname__ = "Task"  # its repr: <Task pending name='Task-3' ...>
    Task = _Task

#: Eager tasks exist: ``Task(..., eager_start=True)``, new in Python 3.12.
EAGER: Final = sys.version_info >= (3, 12)


def new_eager_task(
    loop: asyncio.AbstractEventLoop, coro: Any, *, eager_start: bool | None = None, **kwargs: Any
) -> asyncio.Task[Any]:
    """The task factory of eager loops: ``asyncio.eager_task_factory`` with our :data:`Task`,
    and ``eager_start=None`` taken as "eager" (uvloop passes it to every task factory on
    Python 3.13, which asyncio's own eager factory refuses on 3.13.0 to 3.13.2 and takes for
    "lazy" from 3.13.3 on)."""
    return Task(coro, loop=loop, eager_start=eager_start is not False, **kwargs)  # type: ignore[call-arg]
