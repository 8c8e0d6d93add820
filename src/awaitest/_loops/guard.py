"""Concurrent tests, what a test may not start while other tests are in flight beside it: a
``mock.patch`` (every test in flight would see the patched target) or, through the pytest side's
hook, a fixture set up from a running test (``docs/design/concurrency.md``, "Refused at run
time").

A :class:`Guard` is entered when a batch opens and left when it closes: only then are
``unittest.mock``'s patch entries wrapped, so a run without concurrency, and the tests between
batches, run ``unittest.mock`` untouched. A patch entered while the batch holds only the test
entering it is allowed and remembered (:meth:`Guard.patched`): the next test must not take off
beside it.
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

from .flight import CURRENT, Flight

#: The fix every refusal names.
FIX: Final = "run it alone: @pytest.mark.awaitest(concurrent=False)"


def _name_of(target: object) -> str:
    if isinstance(target, types.ModuleType):
        return target.__name__
    if isinstance(target, type):
        return f"{target.__module__}.{target.__qualname__}"
    if target is os.environ:
        return "os.environ"
    return f"a {type(target).__name__} object"


def _patch_target(patcher: Any) -> str:
    """``mock.patch('pkg.mod.name')`` or ``mock.patch.object(pkg.mod.Class, 'name')``, as
    readable as the patcher allows (its getter imports the target, which ``__enter__`` is about
    to do anyway)."""
    try:
        target = patcher.getter()
    except Exception:  # the patch itself will say what is wrong with its target
        return f"mock.patch(..., {patcher.attribute!r})"
    return f"mock.patch('{_name_of(target)}.{patcher.attribute}')"


def _dict_target(patcher: Any) -> str:
    in_dict = patcher.in_dict
    return f"mock.patch.dict({in_dict if isinstance(in_dict, str) else _name_of(in_dict)!r})"


class Guard:
    """The refusals of one batch, whose tests in flight are ``flights`` (the batch's own list,
    oldest first). ``name(flight)`` is how a refusal names a test, ``fail(message)`` how it
    fails it (the pytest side's ``pytest.fail``: not an ``Exception``, so a test's
    ``except Exception`` doesn't hide it); ``phase`` is the flight whose pytest phase (setup,
    teardown) runs now, set by the pytest side."""

    def __init__(
        self,
        flights: Sequence[Flight],
        name: Callable[[Flight], str],
        fail: Callable[[str], NoReturn],
    ) -> None:
        self.flights = flights
        self.name = name
        self.fail = fail
        self.phase: Flight | None = None
        #: the patchers entered in this batch and not left yet (identity: a patcher is not
        #: hashable the same way across versions)
        self._active: dict[int, object] = {}
        self._undo: list[Callable[[], None]] = []

    # -- who, and beside whom ----------------------------------------------------------

    def refuse(self, what: str, why: str, *, calls_only: bool = False) -> None:
        """Fail (``self.fail``) if another test is in flight beside the one doing
        ``what``; nothing when it is alone in the batch. ``calls_only``: only from a running
        test (its task), not from a test's pytest phase."""
        __tracebackhide__ = True
        who = CURRENT.get()
        if who is None:
            if calls_only:
                return
            who = self.phase
        others = [self.name(f) for f in self.flights if f is not who]
        if not others:
            return
        doer = "code of no test" if who is None else self.name(who)
        self.fail(
            f"{doer} called {what} while other tests ran beside it ({', '.join(others)}): "
            f"{why}; {FIX}"
        )

    def patched(self) -> bool:
        """A patch entered in this batch is still in place: no test may take off beside it."""
        return bool(self._active)

    # -- unittest.mock's entries, wrapped while the batch runs -------------------------

    def __enter__(self) -> Guard:
        from unittest import mock  # imported by then in any suite that patches

        self._wrap(mock._patch, "__enter__", _patch_target, enters=True)
        self._wrap(mock._patch, "__exit__", _patch_target, enters=False)
        self._wrap(mock._patch_dict, "_patch_dict", _dict_target, enters=True)
        self._wrap(mock._patch_dict, "_unpatch_dict", _dict_target, enters=False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._undo:
            self._undo.pop()()
        self._active.clear()

    def _wrap(
        self, cls: type, attribute: str, target: Callable[[Any], str], *, enters: bool
    ) -> None:
        original = cls.__dict__[attribute]
        active = self._active

        if enters:

            @functools.wraps(original)
            def wrapper(patcher: Any, *args: Any, **kwargs: Any) -> Any:
                __tracebackhide__ = True
                self.refuse(target(patcher), "every test in flight would see the patch")
                result = original(patcher, *args, **kwargs)
                active[id(patcher)] = patcher
                return result

        else:

            @functools.wraps(original)
            def wrapper(patcher: Any, *args: Any, **kwargs: Any) -> Any:
                active.pop(id(patcher), None)
                return original(patcher, *args, **kwargs)

        setattr(cls, attribute, wrapper)
        self._undo.append(lambda: setattr(cls, attribute, original))
