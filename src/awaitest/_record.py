"""``Record``: the base of awaitest's small value classes, in place of ``typing.NamedTuple``.

perf: every pytest run imports awaitest, and a ``NamedTuple`` class costs its import about
1,000,000 instructions (with ``from __future__ import annotations``, typing makes a
``ForwardRef`` per field, each of which calls ``compile()``, and ``collections.namedtuple``
evals a lambda); a plain class with ``__slots__`` and an ``__init__`` costs about 130,000.

A subclass has an ``__init__`` that takes each field, by the field's name and in the field's
order (a NamedTuple's positional order), and sets it; ``__slots__`` holds the same names
(sorted, as ruff wants). It gets what awaitest used of a NamedTuple: equality and a hash by
type and values (some are dict keys), a NamedTuple's repr, ``_fields`` and ``_replace``. It
is not a tuple: no unpacking, indexing or ordering. Instances are never changed after
``__init__`` (nothing enforces it, as nothing needs to pay for it): treat them as immutable,
as the NamedTuples were, since they are shared and hashed.

A class hashed for every test stays a NamedTuple (``LoopKey``, ``CheckOverrides``): its hash
and ``==`` are C code, a Record's are Python calls, about 2,400 instructions more per hash.

Imports nothing of awaitest, so that every module can use it.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, ClassVar, Self


class Record:
    __slots__ = ()

    #: The field names, in order: the parameters of the subclass's ``__init__``.
    _fields: ClassVar[tuple[str, ...]] = ()
    #: What ``==`` and ``hash()`` compare: the tuple of the values (the one value for a
    #: one-field class). perf: one C call, not a Python loop over the fields.
    _key: ClassVar[attrgetter[Any]]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        code = cls.__init__.__code__
        fields = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
        if set(fields) != set(cls.__slots__):
            raise TypeError(f"{cls.__name__}: __init__ takes {fields}, __slots__ is not those")
        cls._fields = fields
        cls._key = attrgetter(*fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        mine: object = self._key(self)
        theirs: object = self._key(other)
        return mine == theirs

    def __hash__(self) -> int:
        return hash(self._key(self))

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({values})"

    def _replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (by field name) made."""
        values = {name: getattr(self, name) for name in self._fields}
        values.update(changes)
        return type(self)(**values)
