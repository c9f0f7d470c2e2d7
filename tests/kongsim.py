"""Simulate how Kong Gateway writes its logs, byte for byte (a test and benchmark helper).

Spec: ``shared/reference/kong-log-formats.md`` sections 1.1, 1.2, 2, 3 and 5.1.

- :func:`inspect` mirrors ``inspect.lua`` 3.1.3 (``inspect(value)``, no options) under LuaJIT 2.1.
- :func:`box_rows` / :func:`box_rows_bytes` mirror the ``kong.log.inspect`` printer of
  ``kong/pdk/log.lua`` in its four layouts ("0.14", "1.0.1", "2.7", "3.9").
- :func:`error_line` / :func:`box_lines` add the nginx error-log prefix and context suffix.

Python values stand for Lua values: ``None`` = nil, ``bool``, ``int``/``float`` = number, ``str``/``bytes``
= string (``bytes`` for arbitrary, possibly invalid UTF-8), ``list`` = sequence (``None`` items are holes),
``dict`` = table (``None`` values are absent keys), :class:`Metatable` = a table with a metatable,
:class:`LuaFunction`, :class:`LuaUserdata`, :class:`LuaThread` = opaque values, :class:`LuaCdata` = cdata
printed verbatim. A Python list/dict object met twice (same ``id``) is one shared Lua table.

Never imported by the product.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = [
    "LuaCdata",
    "LuaFunction",
    "LuaThread",
    "LuaUserdata",
    "Metatable",
    "box_lines",
    "box_rows",
    "box_rows_bytes",
    "error_line",
    "event_hook_message",
    "inspect",
    "inspect_args",
    "join_lines",
]

LAYOUTS = ("0.14", "1.0.1", "2.7", "3.9")


# --------------------------------------------------------------------------- Lua value markers


class _Opaque:
    """An opaque Lua value printed as ``<type N>``; identity is the Python object."""

    lua_type = "opaque"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x}>"


class LuaFunction(_Opaque):
    """A Lua function: prints ``<function N>``."""

    lua_type = "function"


class LuaUserdata(_Opaque):
    """A Lua userdata (e.g. ``ngx.null``, ``cjson.null``): prints ``<userdata N>``."""

    lua_type = "userdata"


class LuaThread(_Opaque):
    """A Lua coroutine: prints ``<thread N>``."""

    lua_type = "thread"


class LuaCdata:
    """A LuaJIT cdata value, printed verbatim (``5LL``, ``cdata<void *>: NULL``)."""

    def __init__(self, text: str) -> None:
        self.text = text


class Metatable:
    """A Lua table ``table`` (list or dict) with metatable ``meta`` (a table, or None for none).

    The table's identity is ``table`` itself; if the same list/dict is wrapped several times, the first
    wrapper met decides its metatable. ``Metatable(x, None)`` is also a hashable handle usable as a dict
    key, for tables used as keys. Non-table metatables are ignored, as in inspect.lua 3.1.3.
    """

    def __init__(self, table: list[Any] | dict[Any, Any], meta: Any = None) -> None:
        self.table = table
        self.meta = meta


# --------------------------------------------------------------------------- scalars

_IDENT_RE = re.compile(rb"[_A-Za-z][_A-Za-z0-9]*")  # Lua "^[_%a][_%a%d]*$", ASCII only in LuaJIT
_CTRL_BEFORE_DIGIT_RE = re.compile(rb"[\x00-\x1f\x7f](?=[0-9])")  # "(%c)%f[0-9]"
_CTRL_RE = re.compile(rb"[\x00-\x1f\x7f]")  # "%c"
_SHORT = {7: b"\\a", 8: b"\\b", 12: b"\\f", 10: b"\\n", 13: b"\\r", 9: b"\\t", 11: b"\\v"}


def _long_escape(m: re.Match[bytes]) -> bytes:
    c = m.group()[0]
    return m.group() if c in _SHORT or c == 127 else b"\\%03d" % c


def _short_escape(m: re.Match[bytes], del_raw: bool) -> bytes:
    c = m.group()[0]
    if c == 127 and del_raw:
        return m.group()
    return _SHORT.get(c, b"\\%d" % c)


def _lua_bytes(s: str | bytes) -> bytes:
    return s if isinstance(s, bytes) else s.encode("utf-8", "surrogateescape")


def _quote_string(s: str | bytes, del_raw: bool = False) -> bytes:
    """inspect.lua's ``smartQuote(escape(s))`` on the string's bytes."""
    b = _lua_bytes(s).replace(b"\\", b"\\\\")
    b = _CTRL_BEFORE_DIGIT_RE.sub(_long_escape, b)
    b = _CTRL_RE.sub(lambda m: _short_escape(m, del_raw), b)
    if b'"' in b and b"'" not in b:
        return b"'" + b + b"'"
    return b'"' + b.replace(b'"', b'\\"') + b'"'


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _fmt_number(v: int | float) -> str:
    """LuaJIT ``tostring(number)``: ``%.14g`` with exact ties rounded half up (``lj_strfmt_num.c``).

    C and Python round ties to even: 123456789012345 is ``1.2345678901234e+14`` there, ``...235e+14`` here.
    NaN prints unsigned, like OpenResty's LuaJIT.
    """
    try:
        f = float(v)
    except OverflowError:
        f = math.inf if v > 0 else -math.inf
    if math.isnan(f) or math.isinf(f) or f == 0:
        return f"{f:.14g}"  # nan (unsigned), inf, -inf, 0, -0
    d = Decimal(f)  # the exact binary value
    q = d.quantize(Decimal(1).scaleb(d.adjusted() - 13), rounding=ROUND_HALF_UP)
    e = q.adjusted()
    ds = "".join(map(str, q.as_tuple().digits)).rstrip("0")
    sign = "-" if f < 0 else ""
    if -4 <= e < 14:
        if e >= 0:
            whole, frac = ds[: e + 1].ljust(e + 1, "0"), ds[e + 1 :]
        else:
            whole, frac = "0", "0" * (-e - 1) + ds
        return sign + whole + ("." + frac if frac else "")
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return f"{sign}{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"


# --------------------------------------------------------------------------- tables


def _as_table(v: Any) -> tuple[Any, Any] | None:
    """(identity object, metatable or None) when ``v`` is a Lua table, else None."""
    if isinstance(v, Metatable):
        return v.table, v.meta
    if isinstance(v, list | dict):
        return v, None
    return None


def _pairs(t: Any) -> list[tuple[Any, Any]]:
    if isinstance(t, dict):
        return [(k, v) for k, v in t.items() if v is not None]
    return [(i, v) for i, v in enumerate(t, 1) if v is not None]


def _type_rank(k: Any) -> tuple[int, str]:
    if _is_number(k):
        return 1, "number"
    if isinstance(k, bool):
        return 2, "boolean"
    if isinstance(k, str | bytes):
        return 3, "string"
    if _as_table(k) is not None:
        return 4, "table"
    if isinstance(k, _Opaque):
        return {"function": 5, "userdata": 6, "thread": 7}[k.lua_type], k.lua_type
    return 100, "cdata"


def _sort_key(k: Any) -> tuple[int, str, Any]:
    rank, tname = _type_rank(k)
    if rank == 1:
        return rank, tname, k
    if rank == 3:
        return rank, tname, _lua_bytes(k)  # strcmp in the C locale: byte-wise
    return rank, tname, 0  # incomparable in Lua: keep insertion order


def _get_keys(t: Any) -> tuple[list[Any], int, dict[Any, Any]]:
    """inspect.lua ``getKeys``: sorted non-sequence keys, sequence length, and the key -> value map."""
    items = _pairs(t)
    numeric = {k: v for k, v in items if _is_number(k)}
    seq = 1
    while seq in numeric:
        seq += 1
    seq -= 1

    def in_seq(k: Any) -> bool:
        return _is_number(k) and float(k).is_integer() and 1 <= k <= seq

    keys = [k for k, _ in items if not in_seq(k)]
    keys.sort(key=_sort_key)
    return keys, seq, dict(items)


class _Inspector:
    """One ``inspect.inspect(root)`` call: countCycles, then putValue."""

    def __init__(self, root: Any, del_raw: bool) -> None:
        self.del_raw = del_raw
        self.cycles: dict[int, int] = {}
        self.metas: dict[int, Any] = {}
        self.ids: dict[int, int] = {}
        self.max_ids: dict[str, int] = {}
        self.level = 0
        self.buf: list[str] = []
        self._count(root)
        self._put(root)

    def _count(self, v: Any) -> None:
        tab = _as_table(v)
        if tab is None:
            return
        inner, meta = tab
        key = id(inner)
        new_meta = _as_table(meta) is not None and key not in self.metas
        if new_meta:
            self.metas[key] = meta
        if key in self.cycles:
            self.cycles[key] += 1
            if new_meta:
                self._count(meta)
            return
        self.cycles[key] = 1
        for k, val in _pairs(inner):
            self._count(k)
            self._count(val)
        self._count(self.metas.get(key))

    def _get_id(self, key: int, lua_type: str) -> int:
        if key not in self.ids:
            self.max_ids[lua_type] = self.ids[key] = self.max_ids.get(lua_type, 0) + 1
        return self.ids[key]

    def _tabify(self) -> None:
        self.buf.append("\n" + "  " * self.level)

    def _put(self, v: Any) -> None:
        buf = self.buf
        if isinstance(v, str | bytes):
            buf.append(_quote_string(v, self.del_raw).decode("utf-8", "surrogateescape"))
        elif v is None:
            buf.append("nil")
        elif isinstance(v, bool):
            buf.append("true" if v else "false")
        elif _is_number(v):
            buf.append(_fmt_number(v))
        elif isinstance(v, LuaCdata):
            buf.append(v.text)
        elif isinstance(v, _Opaque):
            buf.append(f"<{v.lua_type} {self._get_id(id(v), v.lua_type)}>")
        elif (tab := _as_table(v)) is not None:
            self._put_table(tab[0])
        else:
            raise TypeError(f"no Lua equivalent for {type(v).__name__}")

    def _put_table(self, t: Any) -> None:
        buf, key = self.buf, id(t)
        if key in self.ids:
            buf.append(f"<table {self.ids[key]}>")
            return
        if self.cycles[key] > 1:
            buf.append(f"<{self._get_id(key, 'table')}>")
        keys, seq, values = _get_keys(t)
        buf.append("{")
        self.level += 1
        for i in range(1, seq + len(keys) + 1):
            if i > 1:
                buf.append(",")
            if i <= seq:
                buf.append(" ")
                self._put(values[i])
            else:
                k = keys[i - seq - 1]
                self._tabify()
                if isinstance(k, str | bytes) and _IDENT_RE.fullmatch(_lua_bytes(k)):
                    buf.append(_lua_bytes(k).decode("ascii"))
                else:
                    buf.append("[")
                    self._put(k)
                    buf.append("]")
                buf.append(" = ")
                self._put(values[k])
        meta = self.metas.get(key)
        if meta is not None:
            if seq + len(keys) > 0:
                buf.append(",")
            self._tabify()
            buf.append("<metatable> = ")
            self._put(meta)
        self.level -= 1
        if keys or meta is not None:
            self._tabify()
        elif seq > 0:
            buf.append(" ")
        buf.append("}")


def inspect(value: Any, *, del_raw: bool = False) -> str:
    """The text inspect.lua 3.1.3 returns for ``inspect(value)``; ``del_raw`` emulates 3.1.1/3.1.2 (raw DEL).

    Bytes that are not valid UTF-8 come back as surrogate escapes (``errors="surrogateescape"``).
    """
    return "".join(_Inspector(value, del_raw).buf)


def inspect_args(*values: Any, del_raw: bool = False) -> str:
    """The message of ``kong.log.inspect(...)``: each argument inspected separately, joined by one space."""
    if not values:
        raise ValueError("kong.log.inspect needs at least one argument")
    return " ".join(inspect(v, del_raw=del_raw) for v in values)


def event_hook_message(event: str, source: str, data: dict[Any, Any], pid: int) -> str:
    """What the Event Hooks ``log`` handler passes: ``"log callback: " { event, source, data, pid }``."""
    return inspect_args("log callback: ", [event, source, data, pid])


# --------------------------------------------------------------------------- boxes


def _rows(text: bytes, i: int, width: int) -> list[bytes]:
    """The ``while i <= fullmsg_len`` loop of ``kong/pdk/log.lua`` (0-based ``i``), footer included."""
    rows = []
    while i < len(text):
        part = text[i : i + width]
        nl = part.find(b"\n")
        if nl >= 0:
            part = part[:nl]
            i += nl + 1
        else:
            i += width
        rows.append(b"|" + part + b" " * (width - len(part)) + b"|")
    if rows:
        rows.append(b"+" + b"-" * width + b"+")
    return rows


def box_rows_bytes(header: str | bytes, message: str | bytes, layout: str, width: int = 120) -> list[bytes]:
    """The message part of each error-log entry one ``kong.log.inspect`` call writes (bytes).

    ``header`` is ``[kong] file:func:line [ns]`` for layouts "2.7"/"3.9" and ``[kong] file:func:line``
    for "1.0.1"/"0.14"; ``message`` is the joined inspect text. Layout "0.14" gives one multi-line entry.
    """
    h, m = _lua_bytes(header), _lua_bytes(message)
    if layout in ("2.7", "3.9"):
        full = h + b"\n" + m
        i = full.index(b"\n") + 1
        head = full[: i - 1]
        return [head + b"-" * max(0, width + 1 - len(head)) + b"+", *_rows(full, i, width)]
    full = h + b" " + m
    if layout == "1.0.1":
        if b"\n" not in full and len(full) <= width:
            return [full]
        return [b"+" + b"-" * width + b"+", *_rows(full, 0, width)]
    if layout == "0.14":
        return [full]
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def box_rows(header: str, message: str, layout: str, width: int = 120) -> list[str]:
    """:func:`box_rows_bytes` decoded with ``surrogateescape`` (a wrap may split a UTF-8 sequence)."""
    return [r.decode("utf-8", "surrogateescape") for r in box_rows_bytes(header, message, layout, width)]


# --------------------------------------------------------------------------- error-log lines


def error_line(time: str, level: str, pid: int | None, msg: str, conn: int | None = None, suffix: str = "") -> str:
    """One nginx error-log entry ``time [level] pid#0: *conn msg<suffix>`` (no newline).

    ``pid=None`` gives the Kong CLI form ``time [level] msg`` (no pid, no connection).
    """
    if pid is None:
        return f"{time} [{level}] {msg}{suffix}"
    conn_part = f"*{conn} " if conn is not None else ""
    return f"{time} [{level}] {pid}#0: {conn_part}{msg}{suffix}"


def box_lines(
    time: str,
    level: str,
    pid: int | None,
    header: str,
    message: str,
    layout: str,
    conn: int | None = None,
    suffix: str = "",
    width: int = 120,
) -> list[str]:
    """The full error-log entries of one ``kong.log.inspect`` call in ``layout``.

    "1.0.1": ``suffix`` on every row (borders too); "0.14": once, after the last line; "2.7": no suffix;
    "3.9": no suffix and no ``*conn``. nginx never appends a suffix to ``[debug]`` entries.
    Pass the level the layout uses: notice for 0.14/1.0.1/3.9, debug for 2.7.
    """
    if layout in ("2.7", "3.9") or level == "debug":
        suffix = ""
    if layout == "3.9":
        conn = None
    rows = box_rows(header, message, layout, width)
    return [error_line(time, level, pid, row, conn, suffix) for row in rows]


def join_lines(lines: Iterable[str]) -> str:
    """Lines as the log file holds them: each ends with ``\\n``."""
    return "".join(line + "\n" for line in lines)
