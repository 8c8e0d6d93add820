"""``_marker.parse`` on its own: marks in, a spec or an error out, closest mark first. It names no
test and warns about nothing: the caller (``_plan``) puts the test id before each message."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from awaitest._marker import EMPTY, MarkerError, MarkerSpec, parse

USAGE = "use @pytest.mark.asyncio(loop_scope=..., loop_factories=[...], timeout=...)"


def asyncio_mark(*args: Any, **kwargs: Any) -> pytest.Mark:
    mark: pytest.Mark = pytest.mark.asyncio(*args, **kwargs).mark
    return mark


def test_bare_marks_and_no_marks_are_the_empty_spec() -> None:
    assert parse([]) is EMPTY
    assert parse([asyncio_mark(), asyncio_mark()]) is EMPTY


def test_each_keyword_comes_from_the_closest_mark_that_sets_it() -> None:
    function = asyncio_mark(timeout=5)
    klass = asyncio_mark(loop_scope="class", timeout=1)
    module = asyncio_mark(loop_scope="module", loop_factories=["uvloop"])
    assert parse([function, klass, module]) == MarkerSpec(
        loop_scope="class", loop_factories=("uvloop",), timeout=5.0
    )


def test_values_are_normalized() -> None:
    spec = parse([asyncio_mark(loop_factories=("asyncio", "uvloop"), timeout=2)])
    assert spec == MarkerSpec(loop_factories=("asyncio", "uvloop"), timeout=2.0)
    assert isinstance(spec, MarkerSpec)
    assert type(spec.timeout) is float
    assert parse([asyncio_mark(timeout=0)]) == MarkerSpec(timeout=0.0)


def bad_values(keyword: str, message: str, **values: object) -> list[Any]:
    """One case per value of ``keyword``, each with ``message`` naming it."""
    return [
        pytest.param(((), {keyword: value}), message.format(value=value), id=f"{keyword}-{name}")
        for name, value in values.items()
    ]


BAD = [
    pytest.param(
        (("module",), {}),
        "mark.asyncio accepts only keyword arguments, but got positional argument 'module'; "
        + USAGE,
        id="positional",
    ),
    pytest.param(
        ((), {"scope": "module", "loop_scope": "module"}),
        'An asyncio pytest marker defines both "scope" and "loop_scope", but it should only use '
        '"loop_scope".\n"scope" is its old name: remove it.',
        id="scope-and-loop-scope",
    ),
    pytest.param(
        ((), {"loop_scop": "module"}),
        "mark.asyncio accepts only keyword arguments 'loop_scope', 'loop_factories', "
        "'timeout' or 'eager_tasks', but got 'loop_scop'; " + USAGE,
        id="unknown-keyword",
    ),
    pytest.param(
        ((), {"loop_scope": "galaxy"}),
        "mark.asyncio got an unexpected loop scope value 'galaxy'. Valid scopes are: function, "
        "class, module, package, session.",
        id="bad-scope",
    ),
    *bad_values(
        "loop_factories",
        "mark.asyncio 'loop_factories' must be a non-empty sequence of factory names, e.g. "
        "loop_factories=['asyncio'], but got {value!r}",
        string="asyncio",
        empty=[],
        not_names=["asyncio", 3],
        empty_name=[""],
        set={"asyncio"},
    ),
    *bad_values(
        "timeout",
        "mark.asyncio 'timeout' must be a number of seconds >= 0 (0 turns the limit off), "
        "but got {value!r}",
        negative=-1,
        bool=True,
        string="5",
        nan=float("nan"),
        none=None,
    ),
]


@pytest.mark.parametrize(("arguments", "message"), BAD)
def test_a_bad_mark_is_an_error_saying_what_is_wrong(
    arguments: tuple[tuple[Any, ...], dict[str, Any]], message: str
) -> None:
    args, kwargs = arguments
    assert parse([asyncio_mark(*args, **kwargs)]) == MarkerError(message)


def test_a_value_a_closer_mark_set_is_not_read_but_every_mark_is_checked_for_keywords() -> None:
    closer, shadowed = asyncio_mark(timeout=1), asyncio_mark(timeout=-1)
    assert parse([closer, shadowed]) == MarkerSpec(timeout=1.0)
    assert parse([shadowed, closer]) == parse([shadowed])
    assert parse([closer, asyncio_mark(timeout=2, loop_scop="module")]) == MarkerError(
        "mark.asyncio accepts only keyword arguments 'loop_scope', 'loop_factories', "
        f"'timeout' or 'eager_tasks', but got 'loop_scop'; {USAGE}"
    )


SCOPE_NOTE = "mark.asyncio(scope=...) is deprecated; write loop_scope= instead"


def test_scope_is_a_deprecated_alias_of_loop_scope_reported_as_a_note() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the caller warns, with the test's id
        spec = parse([asyncio_mark(scope="module")])
    assert spec == MarkerSpec(loop_scope="module", notes=(SCOPE_NOTE,))


def test_an_error_keeps_the_deprecations_found_before_it() -> None:
    marks = [asyncio_mark(scope="module"), asyncio_mark(timeout=-1)]
    assert parse(marks) == MarkerError(
        "mark.asyncio 'timeout' must be a number of seconds >= 0 (0 turns the limit off), "
        "but got -1",
        notes=(SCOPE_NOTE,),
    )
