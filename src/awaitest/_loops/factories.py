"""Where event loops come from: loop factories by name, and loops with a virtual clock.

A loop factory is a zero-argument callable returning a new loop. Names are resolved once per
run: ``asyncio`` (``asyncio.new_event_loop``), ``uvloop`` and ``module:callable`` paths, each
also with ``-eager`` after it (:func:`key_of`: the same loops, running tasks with
``asyncio.eager_task_factory``); the ``event_loop_policy`` ini key makes a factory out of a
policy class. A :class:`LoopKey` names a factory in the run's registry (``_registry``).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable
from typing import Final, NamedTuple

from ..clock import VirtualClock, VirtualClockError
from . import recycling, tasks
from .current import foreign_policy

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class LoopKey(NamedTuple):
    """Which factory a loop comes from, as the run's registry (``_registry``) keys it.

    perf: a NamedTuple, not a dataclass, nor a ``_record.Record`` like the other value classes:
    it is in keys looked up for every test (the runners', about 7 hashes per test), and a
    NamedTuple's hash and ``==`` are C code, where a Record's are Python calls (about 2,400
    instructions more per hash, against about 0.9 M once at import).
    """

    #: As users name it: an ini or marker name (``asyncio``, ``uvloop``, ``module:callable``)
    #: or a name a ``pytest_asyncio_loop_factories`` hook offered.
    name: str
    #: The loops come from the ini ``event_loop_policy`` (see :data:`POLICY`).
    policy: bool = False
    #: The n-th different factory registered under ``name`` (two conftests' hooks may offer
    #: different factories under one name).
    n: int = 1
    #: Each loop gets a fresh :class:`~awaitest.clock.VirtualClock` (a test's own loop only).
    virtual: bool = False
    #: Tasks on these loops start eagerly (``asyncio.eager_task_factory``, Python 3.12+).
    eager: bool = False

    @property
    def label(self) -> str:
        """The factory's name in messages and test ids."""
        name = f"{self.name}{EAGER_SUFFIX}" if self.eager else self.name
        return name if self.n == 1 else f"{name}#{self.n}"

    @property
    def real(self) -> LoopKey:
        """The same factory's loops with a real clock."""
        return self._replace(virtual=False) if self.virtual else self

    def with_clock(self) -> LoopKey:
        return self._replace(virtual=True)


#: The loops of the ini key ``event_loop_policy``, which replaces the ``asyncio`` factory.
POLICY: Final = LoopKey("policy", policy=True)

#: After a factory name: that factory's loops with eager tasks (``asyncio-eager``).
EAGER_SUFFIX: Final = "-eager"
#: Why eager tasks can't run here (before Python 3.12), for the messages that refuse them.
NO_EAGER_TASKS: Final = (
    None
    if tasks.EAGER
    else "needs asyncio.eager_task_factory, new in Python 3.12 (this is Python "
    + ".".join(map(str, sys.version_info[:3]))
    + ")"
)


def key_of(name: str) -> LoopKey:
    """The key of a factory name from the ini or a marker: ``NAME-eager`` is NAME's loops with
    eager tasks. (Module paths can't contain ``-``, so the suffix is never part of a path.)"""
    if name.endswith(EAGER_SUFFIX) and len(name) > len(EAGER_SUFFIX):
        return LoopKey(name.removesuffix(EAGER_SUFFIX), eager=True)
    return LoopKey(name)


class FactoryError(Exception):
    """A loop factory name that can't be turned into a callable; the message says why."""


def _asyncio_loop() -> asyncio.AbstractEventLoop:
    """The ``asyncio`` factory: ``asyncio.new_event_loop()``, made cheaply (``recycling``)
    unless an event loop policy (``uvloop.install()``, a conftest's ``set_event_loop_policy``)
    replaced asyncio's default one."""
    if foreign_policy():
        return asyncio.new_event_loop()
    return recycling.new_event_loop()


def load_factory(name: str) -> LoopFactory:
    if name == "asyncio":
        return _asyncio_loop
    if name == "uvloop":
        module = _import(name, "uvloop", "install it with 'pip install uvloop'")
        factory: LoopFactory = getattr(module, "new_event_loop")  # noqa: B009 - untyped module
        return factory
    target = _import_object(name)
    if not callable(target):
        raise FactoryError(f"loop factory {name!r} is not callable")
    return target


def policy_factory(path: str) -> LoopFactory:
    """Loops from an event loop policy class, the form older tutorials teach."""
    policy_class = _import_object(path)
    if not callable(policy_class):
        raise FactoryError(f"event loop policy {path!r} is not a class")
    try:
        policy = policy_class()
        make: LoopFactory = policy.new_event_loop
    except Exception as exc:
        raise FactoryError(f"can't create event loop policy {path!r}: {exc!r}") from exc
    return make


def _import_object(path: str) -> object:
    module_name, sep, attribute = path.replace(":", ".").rpartition(".")
    if not sep or not module_name or not attribute:
        raise FactoryError(
            f"{path!r} is not a known loop factory; use 'asyncio', 'uvloop' or a "
            "'module:callable' path"
        )
    module = _import(path, module_name, "check the spelling and that it is installed")
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise FactoryError(
            f"can't import {path!r}: module {module_name!r} has no attribute {attribute!r}"
        ) from None


def _import(path: str, module_name: str, hint: str) -> object:  # -> module
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise FactoryError(f"can't import {path!r} ({exc}); {hint}") from None


def eager(factory: LoopFactory, label: str) -> LoopFactory:
    """``factory`` with an eager task factory set on every loop it makes (as
    ``asyncio.eager_task_factory`` would be): a task's coroutine runs from ``create_task()``
    until it first suspends, and one that never suspends is done when ``create_task()``
    returns, instead of starting on a later loop iteration."""
    if NO_EAGER_TASKS:
        raise FactoryError(f"{label!r} runs tasks eagerly, which {NO_EAGER_TASKS}")

    def new_eager_loop() -> asyncio.AbstractEventLoop:
        loop = factory()
        loop.set_task_factory(tasks.new_eager_task)
        return loop

    return new_eager_loop


class NoVirtualClock(VirtualClockError):
    """A factory's loop can't take a virtual clock (uvloop's keeps its clock in C)."""

    def __init__(self, problem: str, loop_type: str) -> None:
        super().__init__(problem)
        #: The type of loop the factory made, as ``module.Class``.
        self.loop_type = loop_type


def clocked(factory: LoopFactory, label: str) -> LoopFactory:
    """``factory`` with a fresh :class:`VirtualClock` attached to every loop it makes; a loop
    that can't take one is closed and :class:`NoVirtualClock` says why."""

    def new_virtual_loop() -> asyncio.AbstractEventLoop:
        loop = factory()
        try:
            VirtualClock().attach(loop, factory_name=label)
        except VirtualClockError as exc:
            loop.close()
            kind = type(loop)
            raise NoVirtualClock(str(exc), f"{kind.__module__}.{kind.__qualname__}") from None
        return loop

    return new_virtual_loop


def clock_of(loop: asyncio.AbstractEventLoop) -> VirtualClock | None:
    owner = getattr(loop.time, "__self__", None)
    return owner if isinstance(owner, VirtualClock) else None


def detach(loop: asyncio.AbstractEventLoop) -> None:
    """Give a closed (or closing) loop its real clock back; nothing for real-time loops."""
    clock = clock_of(loop)
    if clock is not None:
        clock.detach()
