"""Async xunit-style methods: ``setup_method``/``teardown_method``, ``setup_class``/
``teardown_class``, ``setup_function``/``teardown_function``, ``setup_module``/
``teardown_module`` written as ``async def``: where they run, when, and the mistakes."""

from __future__ import annotations

import os
import textwrap

import pytest
from _helpers import ini

#: The ways a class's tests, and so its async xunit methods, are awaitest's: auto mode, or in
#: strict mode a marker on the class or the module's ``pytestmark``. Each: the mode, the line
#: that goes at the top of the module and the one that goes above the class.
ENABLED = {
    "auto": ("auto", "", ""),
    "class-marker": ("strict", "", "@pytest.mark.asyncio"),
    "pytestmark": ("strict", "pytestmark = pytest.mark.asyncio", ""),
}

#: looptime (installed for its own tests) wraps every fixture setup; its frames are its own.
NOT_OURS = ("-p", "no:looptime_plugin")
#: A traceback entry in one of our modules, wherever the package is installed.
OUR_FRAME = f"*{os.sep}awaitest{os.sep}*.py:*"


@pytest.fixture(params=list(ENABLED))
def enabled(request: pytest.FixtureRequest, pytester: pytest.Pytester) -> tuple[str, str]:
    """Run a test once per way of enabling; returns the module line and the class line."""
    mode, module_line, class_line = ENABLED[request.param]
    ini(pytester, asyncio_mode=mode)
    return module_line, class_line


def module(enabled: tuple[str, str], body: str) -> str:
    """A test module: imports, the module line, then ``body`` with ``{mark}`` standing for the
    class line."""
    module_line, class_line = enabled
    text = textwrap.dedent(body).replace("{mark}\n", f"{class_line}\n" if class_line else "")
    return f"import asyncio\nimport pytest\n{module_line}\n{text}"


CLASS = """
{mark}
class TestDb:
    @classmethod
    async def setup_class(cls):
        cls.class_loop = asyncio.get_running_loop()
        await asyncio.sleep(0)
        print("setup_class")

    @classmethod
    async def teardown_class(cls):
        await asyncio.sleep(0)
        print("teardown_class on the same loop:", asyncio.get_running_loop() is cls.class_loop)

    async def setup_method(self, method):
        await asyncio.sleep(0)
        self.loop = asyncio.get_running_loop()
        print("setup_method", method.__name__)

    async def teardown_method(self, method):
        await asyncio.sleep(0)
        print("teardown_method", method.__name__, asyncio.get_running_loop() is self.loop)

    async def test_one(self):
        assert asyncio.get_running_loop() is self.loop is self.class_loop

    async def test_two(self):
        assert asyncio.get_running_loop() is self.loop is self.class_loop
"""


def test_methods_run_on_the_loop_of_the_tests_in_order(
    pytester: pytest.Pytester, enabled: tuple[str, str]
) -> None:
    pytester.makepyfile(module(enabled, CLASS))
    result = pytester.runpytest("-s", "-W", "error")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*setup_class",
            "setup_method test_one",
            "*teardown_method test_one True",
            "setup_method test_two",
            "*teardown_method test_two True",
            "teardown_class on the same loop: True",
        ]
    )


@pytest.mark.parametrize(
    ("marker", "shared"),
    [
        pytest.param("", "class", id="unmarked"),
        pytest.param('(loop_scope="module")', "module", id="wider"),
        pytest.param('(loop_scope="function")', "none", id="narrower"),
    ],
)
def test_setup_class_runs_on_the_class_loop_or_the_wider_loop_of_its_tests(
    pytester: pytest.Pytester, marker: str, shared: str
) -> None:
    """Unmarked, the tests join setup_class on the class loop; marked onto a wider loop, the
    class methods go there too; onto a narrower one, they stay on the class loop."""
    pytester.makepyfile(
        f"""
        import asyncio
        import pytest

        loops = {{}}

        # a loop per test ("narrower") is what this checks; concurrent tests share their batch's
        @pytest.mark.awaitest(concurrent=False)
        @pytest.mark.asyncio{marker}
        class TestShared:
            @classmethod
            async def setup_class(cls):
                loops["setup_class"] = asyncio.get_running_loop()

            @classmethod
            async def teardown_class(cls):
                assert asyncio.get_running_loop() is loops["setup_class"]

            async def test_one(self):
                loops["test_one"] = asyncio.get_running_loop()

            async def test_two(self):
                loops["test_two"] = asyncio.get_running_loop()

        @pytest.mark.asyncio(loop_scope="module")
        async def test_after():
            here = asyncio.get_running_loop()
            shared = "{shared}"
            one, two, setup = loops["test_one"], loops["test_two"], loops["setup_class"]
            if shared == "none":
                assert one is not two and setup not in (one, two, here)
            else:
                assert one is two is setup
                assert (here is setup) == (shared == "module")
        """
    )
    pytester.runpytest("-W", "error").assert_outcomes(passed=3)


def test_setup_function_and_setup_module(
    pytester: pytest.Pytester, enabled: tuple[str, str]
) -> None:
    """Module-level ones: setup_function on each test's loop, setup_module on the module's
    loop, which the module's tests then run on."""
    pytester.makepyfile(
        module(
            enabled,
            """
            state = {}

            async def setup_module(module):
                state["module_loop"] = asyncio.get_running_loop()
                print("setup_module", module.__name__)

            async def teardown_module():
                print("teardown_module", asyncio.get_running_loop() is state["module_loop"])

            async def setup_function(function):
                state["loop"] = asyncio.get_running_loop()
                print("setup_function", function.__name__)

            async def teardown_function(function):
                print("teardown_function", asyncio.get_running_loop() is state["loop"])

            @pytest.mark.asyncio
            async def test_one():
                assert asyncio.get_running_loop() is state["loop"] is state["module_loop"]
            """,
        )
    )
    result = pytester.runpytest("-s", "-W", "error")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*setup_module test_setup_function_and_setup_module*",
            "setup_function test_one",
            "*teardown_function True",
            "teardown_module True",
        ]
    )


def test_sync_half_of_a_pair_is_called_as_pytest_calls_it(pytester: pytest.Pytester) -> None:
    """A sync setup beside an async teardown, setup_method without its argument, a
    staticmethod setup_class: each called the way pytest calls it."""
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        import asyncio

        class TestMixed:
            @staticmethod
            def setup_class():
                print("sync setup_class")

            @classmethod
            async def teardown_class(cls):
                print("async teardown_class", cls.__name__)

            def setup_method(self):
                print("sync setup_method, loop:", asyncio.get_event_loop() is not None)

            async def teardown_method(self, method):
                print("async teardown_method", method.__name__)

            async def test_one(self):
                pass
        """
    )
    result = pytester.runpytest("-s", "-W", "error")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*sync setup_class",
            "sync setup_method, loop: True",
            "*async teardown_method test_one",
            "async teardown_class TestMixed",
        ]
    )


def test_teardown_method_runs_after_a_failing_test_and_teardown_class_after_the_last(
    pytester: pytest.Pytester, enabled: tuple[str, str]
) -> None:
    pytester.makepyfile(
        module(
            enabled,
            """
            {mark}
            class TestFails:
                @classmethod
                async def teardown_class(cls):
                    print("teardown_class ran")

                async def teardown_method(self, method):
                    print("teardown_method ran after", method.__name__)

                async def test_fails(self):
                    assert False

                async def test_last(self):
                    pass
            """,
        )
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*teardown_method ran after test_fails",
            "*teardown_method ran after test_last",
            "teardown_class ran",
        ]
    )


FAILING = {
    # method -> (where it raises, outcome, the header of the error)
    "setup_method": ({"errors": 2}, "setup of TestBroken.test_one"),
    "teardown_method": ({"passed": 2, "errors": 2}, "teardown of TestBroken.test_one"),
    "setup_class": ({"errors": 2}, "setup of TestBroken.test_one"),
    "teardown_class": ({"passed": 2, "errors": 1}, "teardown of TestBroken.test_two"),
}


@pytest.mark.parametrize("method", list(FAILING))
def test_a_failing_method_shows_only_the_users_frame(
    pytester: pytest.Pytester, enabled: tuple[str, str], method: str
) -> None:
    outcome, header = FAILING[method]
    decorator = "    @classmethod\n" if method.endswith("_class") else ""
    argument = "cls" if method.endswith("_class") else "self"
    path = pytester.makepyfile(
        test_broken=module(enabled, "{mark}\nclass TestBroken:\n")
        + decorator
        + f"    async def {method}({argument}):\n"
        + "        await asyncio.sleep(0)\n"
        + '        raise ValueError("no database")\n'
        + "\n    async def test_one(self):\n        pass\n"
        + "\n    async def test_two(self):\n        pass\n"
    )
    line = path.read_text().splitlines().index('        raise ValueError("no database")') + 1
    result = pytester.runpytest(*NOT_OURS)
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines(
        [
            f"*_ ERROR at {header} _*",
            "",
            f"{argument} = <*>",
            "",
            *(["    @classmethod"] if decorator else []),
            f"    async def {method}({argument}):",
            "        await asyncio.sleep(0)",
            '>       raise ValueError("no database")',
            "E       ValueError: no database",
            "",
            f"test_broken.py:{line}: ValueError",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line(OUR_FRAME)
    result.stdout.no_fnmatch_line("*During handling of the above exception*")


def test_teardown_method_does_not_run_after_setup_method_failed(
    pytester: pytest.Pytester,
) -> None:
    """As pytest has it for sync ones: no teardown for a setup that didn't happen."""
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        class TestHalf:
            async def setup_method(self):
                raise ValueError("no database")

            async def teardown_method(self):
                print("teardown_method ran")

            async def test_one(self):
                pass
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(errors=1)
    result.stdout.no_fnmatch_line("*teardown_method ran*")


def test_teardown_method_on_a_loop_the_test_closed_says_so(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    path = pytester.makepyfile(
        """
        import asyncio

        class TestCloses:
            async def setup_method(self):
                pass

            async def teardown_method(self):
                pass

            def test_closes_the_loop(self):
                asyncio.get_event_loop().close()
        """
    )
    # without the RuntimeWarning awaitest's loop finalizer adds, as pytest-asyncio does
    result = pytester.runpytest("-W", "ignore::RuntimeWarning")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of TestCloses.test_closes_the_loop _*",
            f"{path.name}::TestCloses::test_closes_the_loop: can't run async def "
            "TestCloses.teardown_method: its event loop was closed before it (did a test or "
            "fixture call loop.close()?)",
        ],
        consecutive=True,
    )


def test_a_task_left_by_setup_method_is_the_tests_leak(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        import asyncio

        class TestLeaks:
            async def setup_method(self):
                self.task = asyncio.create_task(asyncio.sleep(10), name="poller")

            async def test_one(self):
                pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "test_a_task_left_by_setup_method_is_the_tests_leak.py::TestLeaks::test_one: "
            "test_one left 1 task pending after its teardown; awaitest cancelled it "
            "(asyncio_task_leaks = warn):",
            "  Task 'poller' running sleep(), created at "
            "test_a_task_left_by_setup_method_is_the_tests_leak.py:5 (in setup_method), *",
        ]
    )


def test_contextvars_set_in_setup_method_reach_the_test(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        import contextvars

        user = contextvars.ContextVar("user", default=None)

        class TestContext:
            async def setup_method(self):
                user.set("alice")

            async def teardown_method(self):
                assert user.get() == "alice"

            async def test_sees_it(self):
                assert user.get() == "alice"

            async def test_again(self):
                assert user.get() == "alice"
        """
    )
    pytester.runpytest("-W", "error").assert_outcomes(passed=2)


def test_a_sync_test_beside_async_methods_gets_them_run(
    pytester: pytest.Pytester, enabled: tuple[str, str]
) -> None:
    """On a loop of its own, as an async fixture of a sync test; a class marker on it is not
    'a marker that does nothing' then."""
    pytester.makepyfile(
        module(
            enabled,
            """
            {mark}
            class TestMixed:
                async def setup_method(self):
                    self.ready = True

                def test_sync(self):
                    assert self.ready

                async def test_async(self):
                    assert self.ready
            """,
        )
    )
    pytester.runpytest("-W", "error").assert_outcomes(passed=2)


# -- strict mode without a marker -------------------------------------------------------------

UNMARKED = {
    "method": (
        """
        class TestUnmarked:
            async def setup_method(self):
                print("setup_method ran")

            def teardown_method(self):
                print("teardown_method ran")

            async def test_one(self):
                pass

            def test_sync(self):
                pass
        """,
        [
            "{test}: async def TestUnmarked.setup_method is not run in strict mode: the test "
            "is not marked with @pytest.mark.asyncio.",
            "awaitest runs it on the test's event loop once the class is marked with "
            "@pytest.mark.asyncio, or set asyncio_mode = auto to run every async test and "
            "xunit method without a marker.",
        ],
        ["TestUnmarked::test_one", "TestUnmarked::test_sync"],
    ),
    "class": (
        """
        class TestUnmarked:
            @classmethod
            async def setup_class(cls):
                print("setup_class ran")

            @classmethod
            async def teardown_class(cls):
                print("teardown_class ran")

            async def test_one(self):
                pass

            async def test_two(self):
                pass
        """,
        [
            "{where}::TestUnmarked: async def TestUnmarked.setup_class and "
            "TestUnmarked.teardown_class are not run in strict mode: its tests are not marked "
            "with @pytest.mark.asyncio.",
            "awaitest runs them on the class's event loop once the class is marked with "
            "@pytest.mark.asyncio, or set asyncio_mode = auto to run every async test and "
            "xunit method without a marker.",
        ],
        ["TestUnmarked::test_one", "TestUnmarked::test_two"],
    ),
    "module": (
        """
        async def setup_module():
            print("setup_module ran")

        async def test_one():
            pass
        """,
        [
            "{where}: async def setup_module is not run in strict mode: its tests are not "
            "marked with @pytest.mark.asyncio.",
            "awaitest runs it on the module's event loop once the module is marked with "
            "pytestmark = pytest.mark.asyncio, or set asyncio_mode = auto to run every async "
            "test and xunit method without a marker.",
        ],
        ["test_one"],
    ),
    "function": (
        """
        async def teardown_function():
            print("teardown_function ran")

        async def test_one():
            pass
        """,
        [
            "{test}: async def teardown_function is not run in strict mode: the test is not "
            "marked with @pytest.mark.asyncio.",
            "awaitest runs it on the test's event loop once the test is marked with "
            "@pytest.mark.asyncio, or set asyncio_mode = auto to run every async test and "
            "xunit method without a marker.",
        ],
        ["test_one"],
    ),
}


@pytest.mark.parametrize("kind", list(UNMARKED))
def test_strict_mode_unmarked_fails_at_setup_naming_the_methods_and_fixes(
    pytester: pytest.Pytester, kind: str
) -> None:
    """Before either of the pair runs: no half-done setup, no coroutine left unawaited."""
    source, message, tests = UNMARKED[kind]
    ini(pytester, asyncio_mode="strict")
    path = pytester.makepyfile(source)
    result = pytester.runpytest("-s", "-W", "error")
    result.assert_outcomes(errors=len(tests))
    for test in tests:
        nodeid = f"{path.name}::{test}"
        result.stdout.fnmatch_lines(
            [
                f"*_ ERROR at setup of {test.replace('::', '.')} _*",
                *(line.format(test=nodeid, where=path.name) for line in message),
            ],
            consecutive=True,
        )
    result.stdout.no_fnmatch_line("* ran")
    result.stdout.no_fnmatch_line("*never awaited*")


# -- what awaitest leaves alone ---------------------------------------------------------------


def test_a_sync_class_keeps_pytests_behaviour(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import pytest

        class TestSync:
            @classmethod
            def setup_class(cls):
                cls.calls = ["setup_class"]

            def setup_method(self, method):
                self.calls.append(method.__name__)

            def teardown_method(self, method):
                self.calls.append("teardown")

            def test_one(self):
                assert self.calls == ["setup_class", "test_one"]

            @pytest.mark.asyncio
            async def test_two(self):
                assert self.calls[-1] == "test_two"
        """
    )
    result = pytester.runpytest("--setup-show", "-W", "error")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*SETUP    C _xunit_setup_class_fixture_TestSync",
            "*SETUP    F _xunit_setup_method_fixture_TestSync",
        ]
    )


def test_anyio_and_unittest_classes_are_left_to_their_runners(pytester: pytest.Pytester) -> None:
    """anyio's tests and unittest's ``TestCase`` run their own async code; an async
    setup_method there is what pytest makes of it, a coroutine it never awaits."""
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        import unittest

        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        class TestAnyio:
            async def setup_method(self):
                pass

            async def test_one(self):
                pass

        class TestCase(unittest.IsolatedAsyncioTestCase):
            async def setup_method(self, method):
                pass

            async def test_two(self):
                pass
        """
    )
    result = pytester.runpytest("-W", "ignore::RuntimeWarning")
    result.assert_outcomes(passed=2)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*RuntimeWarning: coroutine 'TestAnyio.setup_method' was never awaited",
            "*RuntimeWarning: coroutine 'TestCase.setup_method' was never awaited",
        ]
    )


# -- with the rest of awaitest ----------------------------------------------------------------


def test_setup_class_runs_again_for_each_loop_factory(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makeconftest(
        """
        import asyncio

        def pytest_asyncio_loop_factories(config, item):
            return {"first": asyncio.new_event_loop, "second": asyncio.new_event_loop}
        """
    )
    pytester.makepyfile(
        """
        import asyncio

        class TestFactories:
            @classmethod
            async def setup_class(cls):
                cls.loop = asyncio.get_running_loop()
                print("class set up")

            @classmethod
            async def teardown_class(cls):
                print("class torn down")

            async def test_one(self):
                assert asyncio.get_running_loop() is self.loop

            async def test_two(self):
                assert asyncio.get_running_loop() is self.loop
        """
    )
    result = pytester.runpytest("-s", "-W", "error")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["*class set up", "*class torn down", "class set up", "*class torn down"]
    )
    assert result.stdout.str().count("class set up") == 2


def test_setup_method_on_a_virtual_clock(pytester: pytest.Pytester) -> None:
    """setup_method sleeps on the test's virtual loop; a test under an async setup_class is on
    the class loop, whose time is real, and says so."""
    ini(pytester, asyncio_mode="auto")
    path = pytester.makepyfile(
        """
        import asyncio
        import pytest

        class TestVirtual:
            async def setup_method(self):
                await asyncio.sleep(3600)

            async def test_an_hour_later(self, virtual_clock):
                assert virtual_clock.time() >= 3600

        class TestClassLoop:
            @classmethod
            async def setup_class(cls):
                pass

            async def test_wants_virtual_time(self, virtual_clock):
                pass

            @pytest.mark.asyncio(loop_scope="function")
            async def test_on_its_own_loop(self, virtual_clock):
                await asyncio.sleep(3600)
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            f"{path.name}::TestClassLoop::test_wants_virtual_time requests virtual_clock but "
            "runs on the class-scoped event loop, which outlives the test; time can only be "
            'virtual on the test\'s own loop. Fix: @pytest.mark.asyncio(loop_scope="function") '
            "on the test, or don't request virtual_clock."
        ]
    )


def test_setup_method_counts_against_the_tests_timeout(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto", asyncio_timeout="0.2")
    pytester.makepyfile(
        """
        import asyncio

        class TestSlow:
            async def setup_method(self):
                await asyncio.sleep(30)

            async def test_one(self):
                pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of TestSlow.test_one _*",
            "timed out after 0.2 s (asyncio_timeout = 0.2); pending tasks at that moment:",
            "Task 'Task-*' running TestSlow.setup_method():",
            '  File "*", line 5, in setup_method',
            "    await asyncio.sleep(30)",
        ],
        consecutive=True,
    )


def test_setup_show_names_each_methods_loop(pytester: pytest.Pytester) -> None:
    ini(pytester, asyncio_mode="auto")
    pytester.makepyfile(
        """
        class TestShown:
            @classmethod
            async def setup_class(cls):
                pass

            async def setup_method(self):
                pass

            async def test_one(self):
                pass
        """
    )
    result = pytester.runpytest("--setup-show")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*SETUP    C _xunit_setup_class_fixture_TestShown (loop: class, asyncio, real clock)",
            "*SETUP    F _xunit_setup_method_fixture_TestShown (loop: class, asyncio, real clock)",
        ]
    )
