"""Argument checks shared by every widget, so that every refusal reads the same way.

Each check fails at the call, naming the call and the argument, what was received and
what is expected::

    LivePlot(series=...) must be a list of series names (str), got int 5
    LivePlot(window=...) must be an integer >= 2 (or None), got bool True
    Slider.value must be a finite number, got float nan

A value of the wrong type raises ``TypeError``; a value of the right type that is out of
bounds (negative, NaN, empty, a duplicate) raises ``ValueError``. A ``bool`` is never taken
for a number, although Python counts it as an ``int``: ``window=True`` is a mistake.

Every check takes ``owner``, the widget (or widget class, or a name) whose name opens the
message, so that a subclass's errors carry the subclass's name, and ``where``, the rest of
the call: ``"(window=...)"`` for a constructor argument, ``".append(x=...)"`` for a
method's, ``".value"`` for a property. The message is built only when a check fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Literal, TypeGuard, TypeVar, overload

import numpy as np

from ..kernel.channel import LiveChannel

__all__ = [
    "boolean",
    "channel",
    "choice",
    "describe",
    "handler",
    "integer",
    "is_number",
    "item_error",
    "json_value",
    "names",
    "number",
    "short",
    "string",
    "timeout",
    "type_error",
    "value_error",
]

C = TypeVar("C", bound=Callable[..., Any])
S = TypeVar("S", bound=str)
E = TypeVar("E", bound=Exception)

_REPR_CHARS = 60


def _owner_name(owner: object) -> str:
    if isinstance(owner, str):
        return owner
    return owner.__name__ if isinstance(owner, type) else type(owner).__name__


def short(value: object, chars: int = _REPR_CHARS) -> str:
    """``repr(value)``, cut to ``chars`` characters."""
    text = repr(value)
    return text if len(text) <= chars else text[: chars - 3] + "..."


def describe(value: object) -> str:
    """The received value for an error message: ``int 5``, ``str 'loss'``, ``None``,
    ``ndarray of shape (2, 3) and dtype float64``; long reprs are cut short."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):  # numpy 2's repr says np.float32(nan): say nan
        return f"{type(value).__name__} {short(value.item())}"
    return f"{type(value).__name__} {short(value)}"


def type_error(owner: object, where: str, expected: str, value: object) -> TypeError:
    """``TypeError("<Owner><where> must be <expected>, got <value>")`` (to raise)."""
    return TypeError(f"{_owner_name(owner)}{where} must be {expected}, got {describe(value)}")


def value_error(owner: object, where: str, expected: str, value: object) -> ValueError:
    """``ValueError("<Owner><where> must be <expected>, got <value>")`` (to raise)."""
    return ValueError(f"{_owner_name(owner)}{where} must be {expected}, got {describe(value)}")


def item_error(
    error: type[E], owner: object, where: str, expected: str, item: object, index: int
) -> E:
    """``error("<Owner><where> must be <expected>, got <item> at index <index>")`` for one
    item of a list argument (to raise)."""
    return error(
        f"{_owner_name(owner)}{where} must be {expected}, got {describe(item)} at index {index}"
    )


def _or_none(expected: str, optional: bool) -> str:
    return f"{expected} (or None)" if optional else expected


def is_number(value: object) -> TypeGuard[int | float | np.integer[Any] | np.floating[Any]]:
    """A real number: ``int``, ``float`` or a numpy integer or float scalar, not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# -- scalars ------------------------------------------------------------------------------


@overload
def integer(
    value: object,
    owner: object,
    where: str,
    *,
    minimum: int,
    optional: Literal[False] = False,
) -> int: ...


@overload
def integer(
    value: object, owner: object, where: str, *, minimum: int, optional: Literal[True]
) -> int | None: ...


def integer(
    value: object, owner: object, where: str, *, minimum: int, optional: bool = False
) -> int | None:
    """``value`` as an ``int`` of at least ``minimum`` (numpy integers too, bools never)."""
    expected = _or_none(f"an integer >= {minimum}", optional)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise type_error(owner, where, expected, value)
    if value < minimum:
        raise value_error(owner, where, expected, value)
    return int(value)


@overload
def number(
    value: object,
    owner: object,
    where: str,
    *,
    positive: bool = False,
    minimum: float | None = None,
    optional: Literal[False] = False,
) -> float: ...


@overload
def number(
    value: object,
    owner: object,
    where: str,
    *,
    positive: bool = False,
    minimum: float | None = None,
    optional: Literal[True],
) -> float | None: ...


def number(
    value: object,
    owner: object,
    where: str,
    *,
    positive: bool = False,
    minimum: float | None = None,
    optional: bool = False,
) -> float | None:
    """``value`` as a finite ``int`` or ``float`` (numpy scalars become Python numbers).

    ``positive`` refuses zero and below; ``minimum`` refuses values below it. NaN and the
    infinities are always refused.
    """
    if positive:
        expected = "a positive, finite number"
    elif minimum is not None:
        expected = f"a finite number >= {minimum:g}"
    else:
        expected = "a finite number"
    expected = _or_none(expected, optional)
    if value is None and optional:
        return None
    if not is_number(value):
        raise type_error(owner, where, expected, value)
    v: float = int(value) if isinstance(value, (int, np.integer)) else float(value)
    try:
        finite = math.isfinite(v)
    except OverflowError:  # an int too large for a float: no page could show it
        finite = False
    if not finite or (positive and v <= 0) or (minimum is not None and v < minimum):
        raise value_error(owner, where, expected, value)
    return v


def boolean(value: object, owner: object, where: str) -> bool:
    """``value`` as a ``bool`` (numpy bools too); 0, 1 and other truthy things are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise type_error(owner, where, "True or False", value)
    return bool(value)


@overload
def string(
    value: object,
    owner: object,
    where: str,
    *,
    nonempty: bool = False,
    optional: Literal[False] = False,
) -> str: ...


@overload
def string(
    value: object, owner: object, where: str, *, nonempty: bool = False, optional: Literal[True]
) -> str | None: ...


def string(
    value: object, owner: object, where: str, *, nonempty: bool = False, optional: bool = False
) -> str | None:
    """``value`` as a ``str``; ``nonempty`` refuses ``""``."""
    expected = _or_none("a non-empty string" if nonempty else "a string", optional)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise type_error(owner, where, expected, value)
    if nonempty and not value:
        raise value_error(owner, where, expected, value)
    return str(value)


def choice(value: object, owner: object, where: str, choices: Collection[S]) -> S:
    """``value`` if it is one of the string ``choices``."""
    expected = " or ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise type_error(owner, where, expected, value)
    for c in choices:
        if value == c:
            return c
    raise value_error(owner, where, expected, value)


# -- collections --------------------------------------------------------------------------


def names(value: object, owner: object, where: str, what: str) -> list[str]:
    """``value`` as a non-empty list of distinct, non-empty strings (``what``: "series
    names"). Any iterable of strings will do except a string itself, whose letters would
    quietly become names, and a mapping."""
    expected = f"a list of {what} (str)"
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise type_error(owner, where, expected, value)
    items = list(value)
    if not items:
        raise value_error(owner, where, f"a non-empty list of {what}", value)
    seen: set[str] = set()
    out: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise item_error(TypeError, owner, where, expected, item, i)
        if not item:
            raise item_error(ValueError, owner, where, f"a list of non-empty {what}", item, i)
        if item in seen:
            raise ValueError(
                f"{_owner_name(owner)}{where} must be a list of distinct {what}, got {item!r} twice"
            )
        seen.add(item)
        out.append(str(item))
    return out


_MAX_JSON_DEPTH = 100


def _json_problem(value: object, depth: int = 0) -> type[Exception] | None:
    """TypeError (not JSON), ValueError (NaN, an infinity, nested too deep) or None."""
    if value is None or isinstance(value, (str, bool)):
        return None
    if is_number(value):
        try:
            return None if math.isfinite(value) else ValueError
        except OverflowError:  # an int too large for a float
            return ValueError
    if depth >= _MAX_JSON_DEPTH:  # (or a list that contains itself)
        return ValueError
    if isinstance(value, (list, tuple)):
        items: Iterable[object] = value
    elif isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return TypeError
        items = value.values()
    else:
        return TypeError
    for item in items:
        problem = _json_problem(item, depth + 1)
        if problem is not None:
            return problem
    return None


def json_value(value: object, owner: object, where: str) -> None:
    """Refuse a value the widget's synced config cannot carry: anything but JSON (str,
    number, bool, None, lists and dicts with string keys of those), NaN and infinities.
    numpy number scalars are numbers: the comm sends them as such."""
    problem = _json_problem(value)
    if problem is not None:
        expected = "a JSON value (str, finite number, bool, None, list, dict with str keys)"
        raise (type_error if problem is TypeError else value_error)(owner, where, expected, value)


# -- callables, waits, channels -----------------------------------------------------------


def handler(value: C, owner: object, where: str) -> C:
    """``value`` if it can be called (an event handler)."""
    if not callable(value):
        raise type_error(owner, where, "a callable (a function taking the event)", value)
    return value


def timeout(value: object, owner: object, where: str) -> float | None:
    """A wait's timeout: None (no limit) or a finite number of seconds >= 0."""
    expected = "a finite number of seconds >= 0 (or None to wait without a limit)"
    if value is None:
        return None
    if not is_number(value):
        raise type_error(owner, where, expected, value)
    try:
        v = float(value)
    except OverflowError:  # an int too large for a float
        raise value_error(owner, where, expected, value) from None
    if not (math.isfinite(v) and v >= 0):
        raise value_error(owner, where, expected, value)
    return v


def channel(value: object, owner: object) -> LiveChannel | str | None:
    """A widget's ``channel=``: an open ``LiveChannel``, a channel name, or None."""
    where = "(channel=...)"
    expected = "a LiveChannel, a channel name (str) or None"
    if value is None:
        return None
    if isinstance(value, LiveChannel):
        if value.status == "closed":
            raise ValueError(
                f"{_owner_name(owner)}{where} must be an open LiveChannel, got {value!r}"
            )
        return value
    if not isinstance(value, str):
        raise type_error(owner, where, expected, value)
    if not value:
        raise value_error(owner, where, "a non-empty channel name (or None)", value)
    return value
