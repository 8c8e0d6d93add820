"""The run's loops: which factory a :class:`LoopKey` names, and the runner of each live loop.

Loops are keyed by the node that bounds their scope and by their :class:`LoopKey`. A loop is
made on first use and closed by a finalizer registered on that node at creation, so it closes
after every fixture that used it (pytest runs a node's finalizers last-in, first-out).
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from typing import Any

import pytest

from ._config import Settings
from ._loops.current import restore_policy, swap_policy
from ._loops.factories import (
    NO_EAGER_TASKS,
    POLICY,
    FactoryError,
    LoopFactory,
    LoopKey,
    NoVirtualClock,
    clocked,
    detach,
    eager,
    key_of,
    load_factory,
    policy_factory,
)
from ._loops.flight import BatchRunner
from ._loops.runner import Runner
from ._record import Record
from ._scopes import Node, Scope, scope_node, wider
from .clock import VirtualClockError


class UserLoop(Record):
    """A user's own ``event_loop`` (the loop) or ``event_loop_policy`` (the policy loops come
    from) fixture is visible to a test: the old pytest-asyncio ways to choose the loop."""

    __slots__ = ("fixture", "scope")

    def __init__(self, fixture: str, scope: Scope) -> None:
        self.fixture = fixture
        self.scope = scope


def _ini_key(name: str, settings: Settings) -> LoopKey:
    """The key of a name in ``asyncio_loop_factories``: ``event_loop_policy`` replaces
    ``asyncio``, and ``asyncio_eager_tasks`` makes every factory's tasks eager."""
    key = key_of(name)
    if key.name == "asyncio" and settings.event_loop_policy:
        key = POLICY._replace(eager=key.eager)
    return key._replace(eager=True) if settings.eager_tasks else key


class LoopRegistry:
    __slots__ = ("borrowed", "default_key", "factories", "ini_keys", "runners", "settings")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        names = settings.loop_factories
        #: The factories async tests run on when no hook decides (``event_loop_policy``
        #: replaces ``asyncio``), and the first of them.
        self.ini_keys: tuple[LoopKey, ...] = tuple(_ini_key(name, settings) for name in names)
        self.default_key = self.ini_keys[0]
        if settings.event_loop_policy is not None:
            self.default_key = POLICY._replace(eager=self.default_key.eager)
        self.factories: dict[LoopKey, LoopFactory] = {}
        self.runners: dict[tuple[Node, LoopKey], Runner] = {}
        #: Runners around loops users' fixtures own, by loop; never closed by us.
        self.borrowed: dict[asyncio.AbstractEventLoop, Runner] = {}

    # -- factories -----------------------------------------------------------------------------

    def register(self, name: str, factory: LoopFactory) -> LoopKey:
        """The key of a factory a hook returned; names from different conftests may clash."""
        key = LoopKey(name)
        while self.factories.setdefault(key, factory) != factory:
            key = key._replace(n=key.n + 1)
        return key

    def factory(self, key: LoopKey) -> LoopFactory:
        factory = self.factories.get(key)
        if factory is None:
            if key.virtual:
                factory = clocked(self.factory(key.real), key.label)
            elif key.eager:
                factory = eager(self.factory(key._replace(eager=False)), key.label)
            elif key.policy:
                assert self.settings.event_loop_policy is not None
                factory = policy_factory(self.settings.event_loop_policy)
            else:  # a name from the ini or a marker: registered ones are found above
                factory = load_factory(key.name)
            self.factories[key] = factory
        return factory

    def check_factories(self) -> None:
        """Import every configured factory now, so a typo is a usage error, not 500 failures."""
        keys = list(self.ini_keys)
        if self.settings.event_loop_policy is not None:
            keys.append(POLICY)
        for key in keys:
            try:
                self.factory(key)
            except FactoryError as exc:
                ini = "event_loop_policy" if key.policy else "asyncio_loop_factories"
                fix = ""
                if key.eager and NO_EAGER_TASKS:
                    lazy = " ".join(
                        dict.fromkeys(key_of(n).name for n in self.settings.loop_factories)
                    )
                    fix = (
                        f". Remove {key.label!r} from asyncio_loop_factories, or leave eager "
                        f"tasks out on this Python: -o asyncio_loop_factories='{lazy}'"
                    )
                raise pytest.UsageError(f"{ini}: {exc}{fix}") from None
        if self.settings.clock == "virtual":
            for key in dict.fromkeys(keys):
                self._check_clock(key)

    def _check_clock(self, key: LoopKey) -> None:
        """``asyncio_clock = virtual``: a configured factory whose loops can't take a virtual
        clock would fail every function-loop test on it; one usage error now instead."""
        try:
            loop = self.factory(key.with_clock())()
        except NoVirtualClock as exc:
            if key.policy:
                source = f"event_loop_policy = {self.settings.event_loop_policy}"
                drop = "remove event_loop_policy"
            else:
                source = f"loop factory {key.label!r} of asyncio_loop_factories"
                drop = f"remove {key.label!r} from asyncio_loop_factories"
            raise pytest.UsageError(
                f"asyncio_clock = virtual can't be used with {source}: its loops are "
                f"{exc.loop_type}, whose clock awaitest can't replace (time can only be "
                "virtual on a selector-based asyncio loop). Fix: set asyncio_clock = real "
                "and request the virtual_clock fixture in tests marked "
                f'@pytest.mark.asyncio(loop_factories=["asyncio"]), or {drop}.'
            ) from None
        loop.close()
        detach(loop)

    # -- runners -------------------------------------------------------------------------------

    def runner(self, node: Node, scope: Scope, key: LoopKey) -> Runner:
        """The runner of the ``scope`` loop from ``key``'s factory, seen from ``node``."""
        __tracebackhide__ = True
        if scope != "function" and key.virtual:
            key = key.real  # only a test's own loop is virtual
        owner = scope_node(node, scope)
        runner = self.runners.get((owner, key))
        if runner is None:
            problem = None
            try:
                runner = Runner.open(self.factory(key), debug=self.settings.debug)
            except NoVirtualClock as exc:
                problem = self._no_clock(owner, key, exc.loop_type)  # failed below
            except VirtualClockError as exc:
                problem = str(exc)  # failed below, outside this except block
            if problem is not None:
                pytest.fail(problem, pytrace=False)
            assert runner is not None
            self.runners[owner, key] = runner
            owner.addfinalizer(functools.partial(self._close, (owner, key), runner))
        return runner

    def _no_clock(self, owner: Node, key: LoopKey, loop_type: str) -> str:
        """Why a test's virtual loop can't be made, in the words the user configured it with."""
        if key.policy:
            source = f"event_loop_policy = {self.settings.event_loop_policy}"
        else:
            source = f"loop factory {key.label!r}"
        if "virtual_clock" in getattr(owner, "fixturenames", ()):
            why, other = "requests virtual_clock", "don't request virtual_clock"
        else:
            why, other = "has a virtual clock (asyncio_clock = virtual)", "set asyncio_clock = real"
        return (
            f"{owner.nodeid} {why}, but its loop comes from {source}, which makes "
            f"{loop_type}, whose clock awaitest can't replace: time can only be virtual on a "
            'selector-based asyncio loop. Fix: @pytest.mark.asyncio(loop_factories=["asyncio"]) '
            f"on the test, or {other}."
        )

    def user_runner(
        self, item: pytest.Item, node: Node, scope: Scope, cache_scope: Scope, user: UserLoop
    ) -> Runner:
        """The loop of ``item`` (or of a fixture it sets up, cached at ``cache_scope``) when a
        user's fixture chooses it. That fixture is set up first (``_compat.user_loop``)."""
        __tracebackhide__ = True  # making it runs the user's policy's new_event_loop
        if wider(cache_scope, user.scope):
            # The user's loop (or policy) ends before this fixture does; pytest-asyncio refused
            # this with a ScopeMismatch. Run it on a loop of its own scope instead.
            return self.runner(node, scope, self.default_key)
        value: Any = item.funcargs[user.fixture]  # type: ignore[attr-defined]
        if user.fixture == "event_loop":
            return self.borrow(value)
        key = self.register(f"policy {type(value).__qualname__}", value.new_event_loop)
        owner = scope_node(node, scope)
        if (owner, key) not in self.runners:
            # Loops of this policy run with it installed, as pytest-asyncio ran them; registered
            # before the runner's own finalizer, the old policy comes back after the loop closed.
            owner.addfinalizer(functools.partial(restore_policy, swap_policy(value)))
        return self.runner(node, scope, key)

    def borrow(self, loop: asyncio.AbstractEventLoop) -> Runner:
        """A runner around a loop a user's ``event_loop`` fixture owns: we never close it."""
        runner = self.borrowed.get(loop)
        if runner is None:
            for old in [old for old in self.borrowed if old.is_closed()]:
                del self.borrowed[old]
            runner = self.borrowed[loop] = Runner(loop, owned=False)
        return runner

    def runner_of(self, loop: asyncio.AbstractEventLoop) -> Runner | None:
        """The live runner of ``loop``, ours or borrowed; None for a loop we don't run. (A
        search: only ``awaitest.getfixturevalue`` asks, once per call.)"""
        for live in self.runners.values():
            if live.loop is loop:
                return live
        return self.borrowed.get(loop)

    def origin(self, runner: Runner) -> tuple[Node, LoopKey] | None:
        """The node that owns ``runner``'s loop and the key of its factory; None for a loop a
        user's fixture owns. (A search: only ``--setup-show`` asks, once per line.)"""
        for found, live in self.runners.items():
            if live is runner:
                return found
        return None

    def forget_if_closed_unused(self, runner: Runner) -> None:
        """A sync fixture was given ``runner``'s loop as the current one before anything ran
        on it, and closed it (``asyncio.get_event_loop().close()``, to start afresh with
        ``asyncio.run``): the loop was not wanted. The next user of that scope and factory gets
        a new one, and nothing warns about the closed one."""
        if runner.ran or not runner.loop.is_closed():
            return
        for key, found in list(self.runners.items()):
            if found is runner:
                del self.runners[key]
        runner.closed = True  # its finalizer has nothing left to do

    # -- a batch's shared loop (concurrent tests, see _batches) ---------------------------------

    def open_shared(self, key: LoopKey) -> BatchRunner:
        """A loop from ``key``'s factory for a batch of concurrent tests, lent to each of them as
        its function loop (:meth:`lend`) and closed by :meth:`close_shared` when the batch ends."""
        __tracebackhide__ = True  # a user's loop factory may fail
        runner = BatchRunner.open(self.factory(key), debug=self.settings.debug)
        assert isinstance(runner, BatchRunner)
        return runner

    def lend(self, item: pytest.Item, key: LoopKey, runner: Runner) -> None:
        """``item``'s function loop (for ``key``) is ``runner``'s: no loop of its own is made,
        and no finalizer closes it at the item's teardown."""
        self.runners[item, key] = runner

    def take_back(self, item: pytest.Item, key: LoopKey) -> None:
        self.runners.pop((item, key), None)

    def close_shared(self, owner: Node, runner: Runner) -> None:
        """The batch is over: close its loop, warning as a test's own loop would (at the node
        of the batch's first test)."""
        self._close((owner, LoopKey("batch")), runner)

    def _close(self, key: tuple[Node, LoopKey], runner: Runner) -> None:
        __tracebackhide__ = True
        if self.runners.get(key) is runner:
            del self.runners[key]
        try:
            problem = runner.close()
        finally:
            detach(runner.loop)
        if problem is not None:
            # pytest-asyncio warns here too, with this class; an error under -W error, as there.
            # Shown at the test (or file) whose loop it was, not at a line of awaitest.
            owner = key[0]
            line = owner.location[1] if isinstance(owner, pytest.Item) else None
            warnings.warn_explicit(
                problem, RuntimeWarning, str(owner.path), 1 if line is None else line + 1
            )
