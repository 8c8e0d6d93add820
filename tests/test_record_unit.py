"""``_record.Record`` on its own: what the value classes built on it keep of a NamedTuple
(equality, hash, repr, ``_fields``, ``_replace``), and what it is not (a tuple)."""

from __future__ import annotations

import pytest

from awaitest._record import Record


class Point(Record):
    __slots__ = ("label", "x", "y")  # sorted: the field order is ``__init__``'s

    def __init__(self, x: int, y: int = 0, label: str | None = None) -> None:
        self.x = x
        self.y = y
        self.label = label


class Other(Record):
    __slots__ = ("x", "y")

    def __init__(self, x: int, y: int = 0) -> None:
        self.x = x
        self.y = y


def test_the_fields_are_the_parameters_of_init_in_order() -> None:
    assert Point._fields == ("x", "y", "label")


def test_equal_values_of_one_type_are_equal_and_hash_alike() -> None:
    assert Point(1, 2) == Point(x=1, y=2, label=None)
    assert hash(Point(1, 2)) == hash(Point(x=1, y=2))
    assert Point(1, 2) != Point(1, 3)
    assert {Point(1, 2): "found"}[Point(1, 2)] == "found"


def test_another_type_with_the_same_values_is_not_equal() -> None:
    assert Point(1, 2) != Other(1, 2)
    assert Point(1, 2, None) != (1, 2, None)
    assert Point(1, 2).__eq__((1, 2, None)) is NotImplemented


def test_a_one_field_record_compares_its_value() -> None:
    class One(Record):
        __slots__ = ("value",)

        def __init__(self, value: str) -> None:
            self.value = value

    assert One("a") == One("a")
    assert One("a") != One("b")
    assert hash(One("a")) == hash(One("a"))
    assert repr(One("a")) == "One(value='a')"


def test_the_repr_is_a_named_tuples() -> None:
    assert repr(Point(1, label="p")) == "Point(x=1, y=0, label='p')"


def test_replace_makes_a_changed_copy() -> None:
    point = Point(1, 2)
    moved = point._replace(y=5)
    assert moved == Point(1, 5)
    assert type(moved) is Point
    assert point == Point(1, 2)


def test_it_is_not_a_tuple() -> None:
    assert not isinstance(Point(1), tuple)
    with pytest.raises(TypeError):
        iter(Point(1))  # type: ignore[call-overload]


def test_init_and_slots_must_name_the_same_fields() -> None:
    with pytest.raises(TypeError, match=r"Bad: __init__ takes \('x',\)"):

        class Bad(Record):
            __slots__ = ("x", "y")

            def __init__(self, x: int) -> None:
                self.x = x
