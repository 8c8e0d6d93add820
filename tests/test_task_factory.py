"""The tasks of awaitest's loops: named as asyncio names them, and started eagerly where the
configuration asks for it (``NAME-eager`` factories, ``asyncio_eager_tasks``, the marker's
``eager_tasks``), with the checks' task tracking still on."""

from __future__ import annotations

import sys

import pytest

#: Why a test is exempt from AWAITEST_SUITE_CONCURRENCY (see tests/conftest.py).
OUTPUT_BEFORE_ITS_LINE = (
    "asserts -s output right after its file's progress line; a concurrent test's call, "
    "and its output, comes before that line"
)

EAGER = sys.version_info >= (3, 12)
needs_eager = pytest.mark.skipif(not EAGER, reason="eager tasks are new in Python 3.12")
before_eager = pytest.mark.skipif(EAGER, reason="the error of Pythons without eager tasks")

#: What each variant prints: whether a new task ran before create_task() returned.
ORDER = """
import asyncio
import pytest

async def record_order():
    ran = []

    async def child():
        ran.append("child")

    task = asyncio.create_task(child())
    ran.append("parent")
    await task
    return ran

@pytest.mark.asyncio
async def test_order():
    print("order:", *await record_order())
"""

LAZY = "order: parent child"
EAGERLY = "order: child parent"


def ini(pytester: pytest.Pytester, *lines: str) -> None:
    pytester.makeini("\n".join(["[pytest]", *lines]) + "\n")


# -- task names ------------------------------------------------------------------------------

NAMES = """
import asyncio
import pytest

@pytest.mark.asyncio
async def test_names():
    unnamed = asyncio.create_task(asyncio.sleep(0))
    named = asyncio.create_task(asyncio.sleep(0), name="worker")
    async with asyncio.TaskGroup() as group:
        grouped = group.create_task(asyncio.sleep(0))
    await asyncio.gather(unnamed, named)
    print("names:", unnamed.get_name(), named.get_name(), grouped.get_name())
    print("repr:", repr(unnamed).split()[0])
"""


@pytest.mark.serial_only(OUTPUT_BEFORE_ITS_LINE)
@pytest.mark.parametrize(
    "factories", ["asyncio", "uvloop", pytest.param("asyncio-eager", marks=needs_eager)]
)
def test_tasks_keep_asyncio_names(pytester: pytest.Pytester, factories: str) -> None:
    """CPython 3.13.0 to 3.13.2 name every task a task factory makes 'None'
    (python/cpython#130033); awaitest's factory, on every test's loop, keeps 'Task-N'."""
    if factories == "uvloop":
        pytest.importorskip("uvloop")
    ini(pytester, f"asyncio_loop_factories = {factories}")
    pytester.makepyfile(NAMES)
    result = pytester.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r".* names: Task-\d+ worker Task-\d+$"])
    if factories != "uvloop":
        result.stdout.fnmatch_lines(["repr: <Task"])


# -- the ways to ask for eager tasks ---------------------------------------------------------


def run_orders(
    pytester: pytest.Pytester,
    ini_lines: list[str],
    lines: list[str],
    *,
    passed: int,
    marker: str = "@pytest.mark.asyncio",
    more_tests: str = "",
) -> None:
    """Run ORDER's test (under ``marker``) and ``more_tests``; each line of ``lines`` must be
    in the verbose output, in that order."""
    ini(pytester, *ini_lines)
    test_order = ORDER.replace("@pytest.mark.asyncio\n", f"{marker}\n")
    pytester.makepyfile(test_order=test_order + more_tests)
    result = pytester.runpytest("-v", "-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=passed)
    result.stdout.fnmatch_lines(lines, consecutive=False)


@needs_eager
def test_eager_factory_name_runs_each_test_both_ways(pytester: pytest.Pytester) -> None:
    run_orders(
        pytester,
        ["asyncio_loop_factories = asyncio asyncio-eager"],
        [
            f"test_order.py::test_order[[]asyncio[]] {LAZY}",
            f"test_order.py::test_order[[]asyncio-eager[]] {EAGERLY}",
        ],
        passed=2,
    )


@needs_eager
def test_uvloop_eager(pytester: pytest.Pytester) -> None:
    pytest.importorskip("uvloop")
    run_orders(
        pytester,
        ["asyncio_loop_factories = uvloop uvloop-eager"],
        [
            f"test_order.py::test_order[[]uvloop[]] {LAZY}",
            f"test_order.py::test_order[[]uvloop-eager[]] {EAGERLY}",
            "test_order.py::test_on_uvloop[[]uvloop-eager[]] PASSED",
        ],
        passed=4,
        more_tests="""
@pytest.mark.asyncio
async def test_on_uvloop():
    assert type(asyncio.get_running_loop()).__module__ == "uvloop"
""",
    )


SCOPED = """
import asyncio
import pytest
import pytest_asyncio
from test_order import record_order

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_order():
    return await record_order()

@pytest.mark.asyncio(loop_scope="module")
async def test_module(module_order):
    print("module fixture", "order:", *module_order)
    print("module test", "order:", *await record_order())
"""


@needs_eager
def test_ini_key_makes_every_loop_eager(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_scoped=SCOPED)
    run_orders(
        pytester,
        ["asyncio_eager_tasks = true"],
        [
            f"test_order.py::test_order {EAGERLY}",
            f"test_scoped.py::test_module module fixture {EAGERLY}",
            f"module test {EAGERLY}",
        ],
        passed=2,
    )


@needs_eager
def test_marker_keyword_chooses_per_test(pytester: pytest.Pytester) -> None:
    run_orders(
        pytester,
        ["asyncio_loop_factories = asyncio asyncio-eager"],
        [
            f"test_order.py::test_order[[]asyncio[]] {LAZY}",
            f"test_order.py::test_order[[]asyncio-eager[]] {EAGERLY}",
            f"test_order.py::test_always_lazy[[]asyncio[]] {LAZY}",
            f"test_order.py::test_always_lazy[[]asyncio-eager[]] {LAZY}",
            f"test_order.py::test_eager_only {EAGERLY}",
        ],
        passed=5,
        more_tests="""
@pytest.mark.asyncio(eager_tasks=False)
async def test_always_lazy():
    print("order:", *await record_order())

@pytest.mark.asyncio(loop_factories=["asyncio-eager"])
async def test_eager_only():
    print("order:", *await record_order())
""",
    )


@needs_eager
def test_marker_keyword_under_lazy_defaults(pytester: pytest.Pytester) -> None:
    run_orders(
        pytester,
        [],
        [f"test_order.py::test_order {EAGERLY}", f"test_order.py::test_default {LAZY}"],
        passed=2,
        marker="@pytest.mark.asyncio(eager_tasks=True)",
        more_tests="""
@pytest.mark.asyncio
async def test_default():
    print("order:", *await record_order())
""",
    )


HOOK = """
import asyncio

class HookLoop(asyncio.SelectorEventLoop):
    pass

def pytest_asyncio_loop_factories(config, item):
    return {"hooked": HookLoop}
"""


@needs_eager
def test_ini_key_applies_to_a_hook_s_factories(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(HOOK)
    run_orders(
        pytester,
        ["asyncio_eager_tasks = true"],
        [f"test_order.py::test_order {EAGERLY}", "test_order.py::test_loop_class loop: HookLoop"],
        passed=2,
        more_tests="""
@pytest.mark.asyncio
async def test_loop_class():
    print("loop:", type(asyncio.get_running_loop()).__name__)
""",
    )


@needs_eager
def test_virtual_clock_on_an_eager_loop(pytester: pytest.Pytester) -> None:
    run_orders(
        pytester,
        ["asyncio_loop_factories = asyncio-eager"],
        [f"test_order.py::test_order {EAGERLY}", "test_order.py::test_sleeps PASSED"],
        passed=2,
        more_tests="""
@pytest.mark.asyncio
async def test_sleeps(virtual_clock):
    async def nap():
        await asyncio.sleep(60)
        return virtual_clock.time()

    task = asyncio.create_task(nap())
    assert not task.done()
    assert await task == 60
""",
    )


# -- the checks under eager tasks ------------------------------------------------------------

LEAKS = """
import asyncio
import pytest

async def poll_forever():
    while True:
        await asyncio.sleep(1)

async def finish_at_once():
    return 1

@pytest.mark.asyncio
async def test_leaks():
    asyncio.create_task(finish_at_once())
    asyncio.create_task(poll_forever())
    await asyncio.sleep(0)
"""


@pytest.mark.parametrize("factory", ["asyncio", pytest.param("asyncio-eager", marks=needs_eager)])
def test_leaked_task_is_reported_on_eager_loops_too(
    pytester: pytest.Pytester, factory: str
) -> None:
    ini(pytester, f"asyncio_loop_factories = {factory}")
    pytester.makepyfile(test_leak=LEAKS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= awaitest advisories =*",
            "test_leak.py::test_leaks: test_leaks left 1 task pending after its teardown; "
            "awaitest cancelled it (asyncio_task_leaks = warn):",
            "  Task 'Task-*' running poll_forever(), created at test_leak.py:14 "
            "(in test_leaks), waiting at test_leak.py:6 (in poll_forever)",
            "Await each task before the test ends, or cancel and await it in a fixture's teardown.",
        ]
    )


@needs_eager
def test_unawaited_coroutine_in_an_eager_task_is_reported(pytester: pytest.Pytester) -> None:
    ini(pytester, "asyncio_eager_tasks = true")
    pytester.makepyfile(
        test_unawaited="""
        import asyncio
        import pytest

        async def save():
            pass

        async def worker():
            save()

        @pytest.mark.asyncio
        async def test_forgets():
            await asyncio.create_task(worker())
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "coroutine save() was never awaited; dropped at test_unawaited.py:8 (in worker), "
            "usually the line that called it.",
        ]
    )


# -- configuration errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ini_lines", "message", "fix"),
    [
        pytest.param(
            ["asyncio_eager_tasks = true"],
            "ERROR: asyncio_eager_tasks = true: running tasks eagerly needs "
            "asyncio.eager_task_factory, new in Python 3.12 (this is Python 3.11.*). Remove the "
            "key, or turn it off on this Python: -o asyncio_eager_tasks=false",
            "asyncio_eager_tasks=false",
            marks=before_eager,
            id="ini-key-before-3.12",
        ),
        pytest.param(
            ["asyncio_loop_factories = asyncio asyncio-eager uvloop"],
            "ERROR: asyncio_loop_factories: 'asyncio-eager' runs tasks eagerly, which needs "
            "asyncio.eager_task_factory, new in Python 3.12 (this is Python 3.11.*). Remove "
            "'asyncio-eager' from asyncio_loop_factories, or leave eager tasks out on this "
            "Python: -o asyncio_loop_factories='asyncio uvloop'",
            "asyncio_loop_factories=asyncio uvloop",
            marks=before_eager,
            id="factory-name-before-3.12",
        ),
        pytest.param(
            ["asyncio_eager_tasks = true", "asyncio_loop_factories = asyncio asyncio-eager"],
            "ERROR: asyncio_eager_tasks = true makes every loop factory's tasks eager, so "
            "'asyncio' and 'asyncio-eager' in asyncio_loop_factories would run each test twice "
            "the same way. Remove asyncio_eager_tasks, or 'asyncio-eager'.",
            "asyncio_eager_tasks=false",
            marks=needs_eager,
            id="ini-key-beside-both-twins",
        ),
    ],
)
def test_usage_errors_name_the_key_and_the_fix(
    pytester: pytest.Pytester, ini_lines: list[str], message: str, fix: str
) -> None:
    pytest.importorskip("uvloop")
    ini(pytester, *ini_lines)
    pytester.makepyfile(test_order=ORDER)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", fix)
    assert result.ret == pytest.ExitCode.OK


@before_eager
def test_marker_keyword_needs_python_3_12(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_order=ORDER.replace(
            "@pytest.mark.asyncio\n", "@pytest.mark.asyncio(eager_tasks=True)\n"
        )
        + """
import sys


@pytest.mark.asyncio(eager_tasks=sys.version_info >= (3, 12))
async def test_eager_where_it_can():
    print("order:", *await record_order())
"""
    )
    result = pytester.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_order*",
            "test_order.py::test_order: mark.asyncio(eager_tasks=True): running tasks eagerly "
            "needs asyncio.eager_task_factory, new in Python 3.12 (this is Python 3.11.*). To "
            "run the test eagerly where it can, write eager_tasks=sys.version_info >= (3, 12)",
        ]
    )


def test_marker_keyword_takes_a_bool(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_order=ORDER.replace(
            "@pytest.mark.asyncio\n", '@pytest.mark.asyncio(eager_tasks="yes")\n'
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "test_order.py::test_order: mark.asyncio 'eager_tasks' must be True or False, "
            "but got 'yes'"
        ]
    )
