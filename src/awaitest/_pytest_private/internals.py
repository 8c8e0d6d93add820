"""Every use of a private pytest attribute, one function each, with the reason (but the one
in the package's ``__init__``, which must run before this module is imported).

pytest 8.4 and 9 both have these; if a future pytest moves them, this package is the only place
to change.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final, Literal

import pytest
from _pytest.logging import LogCaptureHandler
from _pytest.runner import call_and_report
from _pytest.warnings import catch_warnings_for_item

if TYPE_CHECKING:
    from .._scopes import Node


def closure_fixturedefs(item: pytest.Function) -> Iterator[pytest.FixtureDef[Any]]:
    """The fixture definitions a test will use, the closest override of each name.

    pytest has no public way to list them before setup; we need them at collection to decide
    which loop the test runs on.
    """
    name2defs = item._fixtureinfo.name2fixturedefs
    for name in item.fixturenames:
        defs = name2defs.get(name)
        if defs:
            yield defs[-1]


#: The kinds of xunit-style setup and teardown pytest calls from a fixture of its own.
XunitKind = Literal["method", "class", "function", "module"]

#: Each kind's fixture name prefix in pytest, and the names its fixture function's closure
#: gives the setup and teardown functions.
_XUNIT_FIXTURES: Final[tuple[tuple[str, XunitKind, str, str], ...]] = (
    ("_xunit_setup_method_fixture_", "method", "setup_method", "teardown_method"),
    ("_xunit_setup_class_fixture_", "class", "setup_class", "teardown_class"),
    ("_xunit_setup_function_fixture_", "function", "setup_function", "teardown_function"),
    ("_xunit_setup_module_fixture_", "module", "setup_module", "teardown_module"),
)


def xunit_functions(
    fixturedef: pytest.FixtureDef[Any],
) -> tuple[XunitKind, Callable[..., Any] | None, Callable[..., Any] | None] | None:
    """When ``fixturedef`` is the fixture pytest calls a class's or module's xunit-style setup
    and teardown from (``setup_method`` and ``teardown_method``, ...): their kind and the two
    functions as pytest found them (either may be None); else None.

    pytest registers one autouse fixture per class and module that has them. Its name prefix,
    and the closure of its function holding the two functions pytest picked (skipping any
    declared as a fixture), are how it does so in 8.4 and 9, not API. Without them this
    answers None, and pytest calls the methods itself.
    """
    name = fixturedef.argname
    if not name.startswith("_xunit_setup_"):
        return None
    for prefix, kind, setup, teardown in _XUNIT_FIXTURES:
        if not name.startswith(prefix):
            continue
        code = getattr(fixturedef.func, "__code__", None)
        cells = getattr(fixturedef.func, "__closure__", None)
        if code is None or cells is None:
            return None
        found = dict(zip(code.co_freevars, cells, strict=True))
        if setup not in found or teardown not in found:
            return None
        return kind, _cell_value(found[setup]), _cell_value(found[teardown])
    return None


def _cell_value(cell: Any) -> Callable[..., Any] | None:
    try:
        value = cell.cell_contents
    except ValueError:  # an empty cell
        return None
    return value if callable(value) else None


def active_fixturedef(request: pytest.FixtureRequest, name: str) -> pytest.FixtureDef[Any]:
    """The definition of fixture ``name`` that ``request`` has set up (or sets up now).

    ``getfixturevalue`` gives only the value; we need the definition to hang a finalizer on.
    """
    fixturedef = request._get_active_fixturedef(name)
    assert isinstance(fixturedef, pytest.FixtureDef)  # pytest 8.4 may also name a pseudo-def
    return fixturedef


def only_ours(node: Node, names: tuple[str, ...]) -> bool:
    """True when none of the fixtures ``names`` is defined anywhere but by awaitest, so no test
    sees a user's override: the common case, answered by a global count, not a lookup.

    pytest has no public count of a fixture's definitions. From 9.2 its fixture manager keeps
    them in ``_arg2node2fixturedefs`` and ``_arg2nodeid2fixturedefs`` (name -> node or node
    id -> definitions), before 9.2 in ``_arg2fixturedefs`` (name -> definitions). Without
    either the answer is False: callers then look it up (``getfixturedefs``, about 700 Python
    bytecodes per test). perf: the newest layout is tried first (a ``getattr`` that misses
    raises and catches an ``AttributeError`` inside).
    """
    manager = node.session._fixturemanager
    by_node = getattr(manager, "_arg2node2fixturedefs", None)
    if by_node is not None:
        by_nodeid = getattr(manager, "_arg2nodeid2fixturedefs", None)
        if by_nodeid is None:
            return False
        for name in names:
            if by_nodeid.get(name):
                return False  # defined through the deprecated node-id API: not ours
            table = by_node.get(name)  # ours is under the session node
            if table:
                if len(table) > 1:
                    return False
                for defs in table.values():
                    if len(defs) > 1:
                        return False
        return True
    every = getattr(manager, "_arg2fixturedefs", None)
    if every is None:
        return False
    for name in names:  # noqa: SIM110 - perf: a plain loop
        if len(every.get(name, ())) > 1:
            return False
    return True


def visible_fixturedefs(node: pytest.Item, name: str) -> Sequence[pytest.FixtureDef[Any]] | None:
    """The definitions of fixture ``name`` that ``node`` would get if it requested it, or None
    when only awaitest's own exists (the common case: then there is no lookup per test).

    A test that doesn't request ``event_loop`` still runs on the loop of a user's ``event_loop``
    fixture visible to it (pytest-asyncio < 1.0 did so); pytest has no public way to ask which
    definition a test would get for a name it doesn't request.
    """
    if only_ours(node, (name,)):
        return None
    defs = node.session._fixturemanager.getfixturedefs(name, node)
    return defs if defs and len(defs) > 1 else None


def visible_fixturedef(item: pytest.Item, name: str) -> pytest.FixtureDef[Any] | None:
    defs = visible_fixturedefs(item, name)
    return defs[-1] if defs else None


def request_while_generating(
    metafunc: pytest.Metafunc, name: str, defs: Sequence[pytest.FixtureDef[Any]]
) -> None:
    """Make the test being generated request fixture ``name``, before pytest parametrizes its
    fixtures: a parametrized ``event_loop_policy`` override then makes one test per policy.

    ``metafunc.fixturenames`` is public and mutable, but pytest parametrizes only the fixtures
    it found for the test's own closure, kept in a private mapping.
    """
    if name not in metafunc.fixturenames:
        also_request(metafunc, name)
    metafunc._arg2fixturedefs.setdefault(name, defs)


def finish_at(
    owner: pytest.FixtureDef[Any] | Node,
    fixturedef: pytest.FixtureDef[Any],
    request: pytest.FixtureRequest,
) -> None:
    """Tear ``fixturedef`` down whenever ``owner`` (another fixture's definition, or a node) is
    torn down, as if it depended on it.

    pytest only does this for fixtures a fixture requests by name; ``FixtureDef.finish`` and
    ``FixtureDef.addfinalizer`` are what it uses itself, and not promised API. (The request
    ``pytest_fixture_setup`` gets is always a ``SubRequest``, a type pytest keeps private.)
    """
    owner.addfinalizer(functools.partial(fixturedef.finish, request))  # type: ignore[arg-type]


def forget_setup_error(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
    """Drop the error pytest cached for the setup of ``fixturedef`` that just failed, so the
    next request sets it up again.

    pytest caches a setup's error for the fixture's scope, and every later request re-raises
    it. ``FixtureDef.finish``, what pytest itself calls to drop a cached value (when a
    parametrized fixture's parameter changes), is not promised API.
    """
    fixturedef.finish(request)  # type: ignore[arg-type]


def set_up_first(item: pytest.Item, name: str) -> None:
    """Make fixture ``name`` the first one pytest sets up for ``item``.

    ``Function.fixturenames`` is the private ``FuncFixtureInfo.names_closure`` list, and pytest
    sets a test's fixtures up in its order (``_fillfixtures``); reordering it is the only way to
    choose what is set up first.
    """
    names = item.fixturenames  # type: ignore[attr-defined]
    if name in names:
        names.remove(name)
    names.insert(0, name)


def also_request(metafunc: pytest.Metafunc, name: str) -> None:
    """Make the test being generated request fixture ``name``, which its own closure has (it is
    one of awaitest's), so that ``metafunc.parametrize(name, indirect=True)`` accepts it.

    ``metafunc.fixturenames`` is a plain list and pytest reads it after generation, but changing
    it is not documented use.
    """
    metafunc.fixturenames.append(name)


def log_section_formatter(config: pytest.Config) -> logging.Formatter | None:
    """The formatter pytest's logging plugin writes the "Captured log" sections with, or None
    when the plugin is off (``-p no:logging``: a serial run has no log section then).

    A concurrent test's records are kept apart from whatever phase pytest captures meanwhile
    and formatted when its report is made; with this same object its section reads as a serial
    run's (``log_format``, ``log_date_format``, ``log_auto_indent``, coloured level names).
    pytest has no public way to it: the plugin's class and its ``formatter`` are private.
    """
    plugin = config.pluginmanager.get_plugin("logging-plugin")
    formatter = getattr(plugin, "formatter", None)
    return formatter if isinstance(formatter, logging.Formatter) else None


def log_level(config: pytest.Config) -> int | None:
    """The level pytest's logging plugin captures a phase's records at (``log_level``, ini or
    flag, a name or a number), None when it is not set or the plugin is off.

    Read from the plugin (a private attribute) rather than parsed again, so the level names
    and numbers pytest accepts are the ones it accepts, in one place.
    """
    level = getattr(config.pluginmanager.get_plugin("logging-plugin"), "log_level", None)
    return level if isinstance(level, int) else None


def is_log_capture(handler: logging.Handler) -> bool:
    """Whether ``handler`` is one of pytest's captures of a phase's records (the report's
    "Captured log" and ``caplog``'s), as opposed to its log file, live logging or a user's.

    A record a concurrent test logs while another test's phase runs must be kept from that
    phase's captures, and from no other handler. Their class is private (the same in 8.4 to
    9.2); the live-logging and file handlers are not subclasses of it.
    """
    return isinstance(handler, LogCaptureHandler)


def caught_warnings(
    config: pytest.Config, item: pytest.Item | None, *, record: bool
) -> AbstractContextManager[None]:
    """pytest's own capture of warnings, as its warnings plugin wraps each test's protocol:
    the filters of the run (``filterwarnings`` ini, ``-W``) and, with ``item``, its
    ``filterwarnings`` marks; with ``record``, every warning shown inside is reported through
    ``pytest_warning_recorded`` under the item's node id (``when="runtest"``) at the end.

    A concurrent test's call report and teardown run inside a later test's protocol call,
    whose capture would report their warnings under the later test's node id.
    ``catch_warnings_for_item`` is what pytest uses itself; its module is private (same
    signature in 8.4 to 9.2).
    """
    hook = config.hook if item is None else item.ihook
    return catch_warnings_for_item(config, hook, "runtest", item, record=record)


def debugging_requested(config: pytest.Config) -> bool:
    """``--pdb`` or ``--trace`` on the command line: a stop at a breakpoint is not a hang.

    ``usepdb`` and ``trace`` are the option names of pytest's own debugging plugin, not
    documented ones (pytest-timeout reads them the same way).
    """
    return bool(config.getoption("usepdb", False) or config.getoption("trace", False))


def test_argnames(item: pytest.Function) -> tuple[str, ...]:
    """The arguments the test function itself takes, as pytest's own ``pytest_pyfunc_call``
    reads them; ``item.funcargs`` also holds autouse and indirectly requested fixtures."""
    return tuple(item._fixtureinfo.argnames)


def swap_fixture_function(
    fixturedef: pytest.FixtureDef[Any], func: Callable[..., Any]
) -> Callable[..., Any]:
    """Let pytest's own ``pytest_fixture_setup`` call ``func`` instead of the fixture function;
    return the function to put back (perf: a plain swap, not a context manager).

    pytest offers no public way to run a fixture function differently, only to replace
    ``pytest_fixture_setup`` whole -- and with it the caching, skip locations and finalizer
    handling that we want to stay pytest's. ``FixtureDef.func`` is a documented attribute, but
    assigning it is not a promised use, so it lives here.
    """
    original = fixturedef.func
    fixturedef.func = func  # type: ignore[misc]
    return original


def forget_registration(pluginmanager: pytest.PytestPluginManager, plugin: object) -> None:
    """Make an unregistered plugin as if it had never been registered.

    ``pytest_plugin_registered`` is a historic hook: pluggy replays every registration to
    plugins registered later, and pytest's fixture manager, registered at session start, parses
    the fixtures of each plugin it is told of, unregistered or not (pytest-asyncio's autouse
    ``event_loop_policy`` would then be requested by every test). The replayed calls are kept in
    the hook caller's private ``_call_history``; pluggy has no public way to drop one.
    """
    history = pluginmanager.hook.pytest_plugin_registered._call_history
    if history is not None:
        history[:] = [call for call in history if call[0].get("plugin") is not plugin]


def hookspec_of(
    pluginmanager: pytest.PytestPluginManager, name: str
) -> tuple[tuple[str, ...], bool, str] | None:
    """The arguments, ``firstresult`` and declaring module of hook ``name``'s specification,
    or None when nothing declares it.

    ``HookCaller.has_spec()`` is public; the spec it has is a type pluggy doesn't export, and its
    fields (``argnames``, ``opts``, ``namespace``) are not documented.
    """
    caller = getattr(pluginmanager.hook, name, None)
    if caller is None or not caller.has_spec():
        return None
    spec = caller.spec
    namespace = spec.namespace
    module = getattr(namespace, "__module__", None) or getattr(namespace, "__name__", "?")
    return tuple(spec.argnames), bool(spec.opts.get("firstresult")), str(module)


def setup_show_requested(config: pytest.Config) -> bool:
    """``--setup-show`` (or ``--setup-only``, which implies it), fixtures really set up: not
    ``--setup-plan``, under which none runs and no loop is made.

    ``setupshow`` and ``setupplan`` are the option names of pytest's setuponly and setupplan
    plugins, not documented ones.
    """
    return bool(config.getoption("setupshow", False) and not config.getoption("setupplan", False))


def write_on_setup_show_line(config: pytest.Config, text: str, *, captured: bool) -> None:
    """Add ``text`` to the line ``--setup-show`` just wrote (a fixture's ``SETUP`` line, or the
    test's line before its verdict), past output capturing when ``captured``.

    pytest's setuponly plugin writes those lines the same way: on the terminal reporter's
    writer, with the capture manager's global capture suspended around it. Neither the writer's
    type nor the capture manager's methods are public API.
    """
    if not config.pluginmanager.has_plugin("terminalreporter"):
        return  # -p no:terminal: there are no lines to add to
    capman = config.pluginmanager.getplugin("capturemanager") if captured else None
    if capman is not None:
        capman.suspend_global_capture()
    try:
        writer = config.get_terminal_writer()
        writer.write(text)
        writer.flush()
    finally:
        if capman is not None:
            capman.resume_global_capture()


# -- concurrent tests (see docs/design/concurrency.md, "pytest internals relied on") ----------


def run_phase(
    item: pytest.Item, when: Literal["setup", "call", "teardown"], **kwds: Any
) -> pytest.TestReport:
    """Run one phase of ``item``'s protocol the way pytest's ``runtestprotocol`` does (its
    ``CallInfo``, ``pytest_runtest_makereport``, ``pytest_exception_interact``) but without
    logging the report: a concurrent test's reports are held and emitted in collection order.

    ``call_and_report`` is what ``runtestprotocol`` uses itself; pytest has no public way to run
    one phase (same signature in 8.4 to 9.2).
    """
    return call_and_report(item, when, log=False, **kwds)


def setup_stack(session: pytest.Session) -> dict[Any, Any]:
    """pytest's ``SetupState`` stack, node -> (finalizers, error): the nodes set up now.

    ``SetupState`` asserts that every stacked node is a parent of the test being set up, so
    the other tests in flight are taken off it around one test's setup and teardown and put
    back after. ``Session._setupstate`` and ``SetupState.stack`` are private (same in 8.4 to
    9.2).
    """
    stack: dict[Any, Any] = session._setupstate.stack
    return stack


@contextlib.contextmanager
def finalizers_kept_for(session: pytest.Session, kept: dict[Any, Any]) -> Iterator[None]:
    """While other tests' ``SetupState`` entries are off the stack (``kept``: node ->
    (finalizers, error), taken from :func:`setup_stack`), a finalizer added to one of their
    nodes (``request.addfinalizer`` from a test's task running during a loop step of another
    test's setup) goes into its kept entry instead of failing ``SetupState.addfinalizer``'s
    assertion that the node is stacked. No public API adds to a node not set up; the method is
    replaced on the run's ``SetupState`` object for the time, and ``stack[node][0]`` is the
    list the method appends to (same in 8.4 to 9.2)."""
    state = session._setupstate
    original = state.addfinalizer

    def addfinalizer(finalizer: Callable[[], object], node: Any) -> None:
        entry = kept.get(node)
        if entry is None:
            original(finalizer, node)
        else:
            entry[0].append(finalizer)

    state.addfinalizer = addfinalizer  # type: ignore[method-assign]
    try:
        yield
    finally:
        del state.addfinalizer


def finalize_last(item: pytest.Item, finalizer: Callable[[], object]) -> None:
    """Run ``finalizer`` at ``item``'s teardown after every other finalizer of it (its
    function-scoped fixtures' included), as the finalizer of a loop made at its setup would.

    ``item.addfinalizer`` appends, and pytest runs the list from the end, so a finalizer added
    at teardown runs first; there is no public way to add one that runs last. The list is the
    item's entry of ``SetupState.stack`` (see :func:`setup_stack`; same in 8.4 to 9.2).
    """
    entry = item.session._setupstate.stack.get(item)
    if entry is None:
        return  # never set up (skipped by a mark before pytest's setup): nothing to tear down
    finalizers: list[Callable[[], object]] = entry[0]
    finalizers.insert(0, finalizer)


def function_fixturedefs(item: pytest.Item) -> list[pytest.FixtureDef[Any]]:
    """The function-scoped fixture definitions ``item`` has set up now (not ``request``).

    A function-scoped ``FixtureDef`` caches one value and keeps one finalizer list, for one
    test at a time; a concurrent test's are parked between its phases. ``Function._request``
    and ``FixtureRequest._fixture_defs`` are private (same in 8.4 to 9.2).
    """
    request = getattr(item, "_request", None)
    if not request:
        return []
    return [
        fixturedef
        for fixturedef in request._fixture_defs.values()
        if isinstance(fixturedef, pytest.FixtureDef) and fixturedef.scope == "function"
    ]


#: A fixture definition's per-test state: its cached result and its finalizers.
Parked = tuple[Any, list[Any]]


def park_fixture(fixturedef: pytest.FixtureDef[Any]) -> Parked:
    """Take ``fixturedef``'s state for one test (cached result and finalizers) and leave it
    clean, so the next test's setup executes it afresh instead of hitting the cache (its key,
    the request's ``param``, is ``None`` for every test of an unparametrized fixture).

    ``cached_result`` is documented as read-only and ``_finalizers`` is private; pytest only
    empties the list and never replaces it (8.4 to 9.2).
    """
    parked: Parked = (fixturedef.cached_result, list(fixturedef._finalizers))
    fixturedef.cached_result = None
    fixturedef._finalizers.clear()
    return parked


def restore_fixture(fixturedef: pytest.FixtureDef[Any], parked: Parked) -> None:
    """Give ``fixturedef`` back one test's state taken by :func:`park_fixture`, right before
    pytest's teardown of that test runs its finalizers. It must be clean: another test's state
    in it would be lost."""
    assert fixturedef.cached_result is None, fixturedef
    assert not fixturedef._finalizers, fixturedef
    fixturedef.cached_result = parked[0]
    fixturedef._finalizers.extend(parked[1])


def forget_request(item: pytest.Item) -> None:
    """Drop ``item``'s request and fixture values after its teardown, as ``runtestprotocol``
    does at its end (``Function._request``, ``funcargs``): held by a concurrent test's parked
    state, they would otherwise keep every fixture value alive until the run ends."""
    if getattr(item, "_request", None):
        item._request = False  # type: ignore[attr-defined]
        item.funcargs = None  # type: ignore[attr-defined]


def session_stopping(session: pytest.Session) -> bool:
    """``-x``/``--maxfail`` reached or a plugin asked to stop (``--sw``): ``shouldfail`` and
    ``shouldstop`` are what pytest's own main loop reads, not documented API."""
    return bool(session.shouldfail or session.shouldstop)


def fixture_params_of(item: pytest.Item) -> tuple[tuple[str, int], ...]:
    """The params (their ids) of ``item``'s fixtures wider than function (and of wider-scoped direct
    parametrization), by name: a concurrent test may join a batch only when these are the
    batch's, or its setup would finish a wider fixture another test in flight still uses.
    ``Function.callspec`` is documented; the scopes come from the closure's definitions."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or not isinstance(item, pytest.Function):
        return ()
    params = callspec.params
    # by identity, as pytest compares a fixture's cache key: ``==`` fails on a numpy array
    return tuple(
        (fixturedef.argname, id(params[fixturedef.argname]))
        for fixturedef in closure_fixturedefs(item)
        if fixturedef.argname in params and fixturedef.scope != "function"
    )


def concurrency_off_reason(config: pytest.Config) -> str | None:
    """Why tests can't run concurrently in this run at all, or None: a debugger (``--pdb``,
    ``--trace``) or ``--setup-show``/``--setup-only``/``--setup-plan`` (each writes a test's
    lines between its phases) or live logging (``log_cli``, which writes between them too).
    These are the private option names of pytest's debugging, setuponly/setupplan and logging
    plugins."""
    for option, flag in (
        ("usepdb", "--pdb"),
        ("trace", "--trace"),
        ("setuponly", "--setup-only"),
        ("setupplan", "--setup-plan"),
        ("setupshow", "--setup-show"),
    ):
        if config.getoption(option, False):
            return flag
    live = config.getoption("log_cli_level", None) or config.getini("log_cli")
    if live:
        return "log_cli"
    return None


def guard_getfixturevalue(before: Callable[[str], None]) -> Callable[[], None]:
    """Have ``before(argname)`` called (it may raise) at the start of every
    ``request.getfixturevalue(argname)`` until the returned function is called. For the time a
    batch of concurrent tests runs: a test's call asking for a fixture by name while others are
    in flight would set it up on definitions another test is about to use. No hook runs before
    pytest looks a fixture up (``pytest_fixture_setup`` comes after its cache, and only for a
    fixture not set up), so ``pytest.FixtureRequest.getfixturevalue`` (defined on that base
    class in 8.4 to 9.2) is replaced on the class meanwhile."""
    cls = pytest.FixtureRequest
    original = cls.__dict__["getfixturevalue"]

    @functools.wraps(original)
    def getfixturevalue(self: pytest.FixtureRequest, argname: str) -> Any:
        __tracebackhide__ = True
        before(argname)
        return original(self, argname)

    setattr(cls, "getfixturevalue", getfixturevalue)  # noqa: B010 (mypy: method assignment)
    return lambda: setattr(cls, "getfixturevalue", original)


def keep_parked_finalizers(
    parked_list: Callable[[pytest.FixtureDef[Any], pytest.Item], list[Any] | None],
) -> Callable[[], None]:
    """Until the returned function is called, a fixture's own ``request.addfinalizer(f)`` (a
    ``SubRequest``'s, which appends to its definition's ``_finalizers``) goes to
    ``parked_list(fixturedef, item)`` when that gives a list: the finalizers parked for the
    test, whose definition is clean or holds another test's state while the test's call runs.
    No public API says which test a fixture definition's finalizer is for; ``SubRequest``
    (private class, ``_fixturedef``, ``_pyfuncitem``: same in 8.4 to 9.2) is replaced on the
    class for the time a batch runs."""
    from _pytest.fixtures import SubRequest

    original = SubRequest.__dict__["addfinalizer"]

    def addfinalizer(self: Any, finalizer: Callable[[], object]) -> None:
        kept = parked_list(self._fixturedef, self._pyfuncitem)
        if kept is None:
            original(self, finalizer)
        else:
            kept.append(finalizer)

    SubRequest.addfinalizer = addfinalizer  # type: ignore[method-assign]
    return lambda: setattr(SubRequest, "addfinalizer", original)
