"""The filter and order-by language of run search.

Filters look like ``metrics.auc > 0.8 and (params.model = 'rf' or tags.team IN ('a', 'b'))``:

* fields are ``metrics.<key>``, ``params.<key>``, ``tags.<key>``, ``attributes.<name>`` (also ``attr.``
  and ``run.``) or a bare attribute name; keys may hold letters, digits and ``_ - . /``, or be quoted with
  backticks or double quotes (``metrics.`f1 score```, ``params."learning rate"``);
* operators are ``= == != <> < <= > >= LIKE ILIKE NOT LIKE IN (...) NOT IN (...) IS NULL IS NOT NULL``
  (keywords in any case), joined by ``and``, ``or``, ``not`` and parentheses (not > and > or);
* ``metrics.k <op> n`` holds when the run's latest value of ``k`` satisfies it (metrics take numbers only);
  ``params.k``/``tags.k`` compare the stored text, a number matching as written (``params.depth = 5``
  matches ``'5'``), except that ``< <= > >=`` against a number compare numerically: the value is CAST to
  a float where it looks like a number, and a value that does not never matches;
* a comparison on a metric, param or tag needs the key to exist (``params.k != 'x'`` skips runs without
  ``k``), and so does one on a nullable attribute (``parent_run_id != 'x'`` skips runs without a parent),
  but ``not`` is always the exact complement; ``IS NULL`` on a metric, param or tag means it is absent;
* ``start_time``/``end_time`` take an ISO-8601 string (naive means UTC) or epoch milliseconds; ``status``
  values are matched lower-cased (``status = 'FINISHED'`` works).

LIKE patterns escape with a backslash on every backend; note that SQLite's LIKE ignores ASCII case
(PostgreSQL's does not), so use ILIKE when case should not matter.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput
from lark.exceptions import VisitError
from sqlalchemy import ColumnElement, Float, Select, and_, case, cast, func, literal, not_, or_, select
from sqlalchemy.orm import Session, aliased

from mainsail.core.errors import InvalidInput
from mainsail.core.types import INT64_MAX, INT64_MIN, as_utc
from mainsail.tracking.models import LatestMetricRow, ParamRow, RunRow, TagRow

GRAMMAR = r"""
?filter: disj
?disj: conj | disj _OR conj -> or_
?conj: neg | conj _AND neg -> and_
?neg: atom | _NOT neg -> not_
?atom: cmp | _LPAR disj _RPAR
cmp: field OP value -> binary
   | field LIKE value -> binary
   | field ILIKE value -> binary
   | field _NOT LIKE value -> not_like
   | field _IN _LPAR values _RPAR -> in_
   | field _NOT _IN _LPAR values _RPAR -> not_in
   | field _IS _NULL -> is_null
   | field _IS _NOT _NULL -> not_null
values: value (_COMMA value)*
field: IDENT
value: STRING | NUMBER

order: item (_COMMA item)*
item: field DIRECTION?

_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
LIKE.2: /like\b/i
ILIKE.2: /ilike\b/i
_IN.2: /in\b/i
_IS.2: /is\b/i
_NULL.2: /null\b/i
DIRECTION.2: /(asc|desc)\b/i
OP: /==|!=|<>|<=|>=|=|<|>/
_LPAR: "("
_RPAR: ")"
_COMMA: ","
STRING: /'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"/s
NUMBER: /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/
IDENT: /[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z0-9_.\-\/]+|`(?:[^`]|``)*`|"(?:[^"\\]|\\.|"")*"))?/

%import common.WS
%ignore WS
"""

_PREFIXES = {"metrics": "metric", "params": "param", "tags": "tag",
             "attributes": "attr", "attr": "attr", "run": "attr"}
_ATTRS: dict[str, Any] = {
    "status": RunRow.status, "name": RunRow.name, "run_name": RunRow.name, "run_id": RunRow.id,
    "id": RunRow.id, "experiment_id": RunRow.experiment_id, "start_time": RunRow.start_time,
    "end_time": RunRow.end_time, "parent_run_id": RunRow.parent_run_id, "created_by": RunRow.created_by,
}
_TIME_ATTRS = {"start_time", "end_time"}
_NULLABLE = {"end_time", "parent_run_id", "created_by"}
_KV_MODELS: dict[str, Any] = {"metric": LatestMetricRow, "param": ParamRow, "tag": TagRow}
_OPS = {"=": operator.eq, "==": operator.eq, "!=": operator.ne, "<>": operator.ne, "<": operator.lt,
        "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ORDERING = {"<", "<=", ">", ">="}
_NUMERIC_TEXT = r"^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$"  # same in Python re and POSIX
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_FIELD_HELP = "a field such as metrics.<key>, params.<key>, tags.<key> or an attribute name"
_OP_HELP = "a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS)"
_TOKEN_HELP = {"_AND": "AND", "_OR": "OR", "_NOT": "NOT", "LIKE": "LIKE", "_IN": "IN", "_NULL": "NULL",
               "_LPAR": "'('", "_RPAR": "')'", "_COMMA": "','", "DIRECTION": "ASC or DESC",
               "$END": "end of input"}


class _SemanticError(Exception):
    def __init__(self, msg: str, pos: int):
        super().__init__(msg)
        self.msg, self.pos = msg, pos


@dataclass(frozen=True)
class _Field:
    kind: str  # "metric" | "param" | "tag" | "attr"
    key: str  # the metric/param/tag key, or the attribute name as written (lower-cased)
    text: str
    pos: int


@dataclass(frozen=True)
class _Lit:
    value: str | int | float
    raw: str  # a number as written; a string unquoted
    pos: int

    @property
    def is_num(self) -> bool:
        return not isinstance(self.value, str)


def _unquote(raw: str) -> str:
    """The text inside quotes: a doubled quote or a backslash escape stands for the character."""
    q = raw[0]
    return re.sub(r"\\(.)|" + re.escape(q * 2), lambda m: _ESCAPES.get(m[1], m[1]) if m[1] else q,
                  raw[1:-1], flags=re.S)


def _exists(kind: str, key: str, cond: Any = None) -> ColumnElement[bool]:
    model = _KV_MODELS[kind]
    q = select(literal(1)).where(model.run_id == RunRow.id, model.key == key)
    return (q if cond is None else q.where(cond)).exists()


def _like(col: Any, op: str, pattern: str, pos: int) -> ColumnElement[bool]:
    if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
        raise _SemanticError(f"LIKE pattern {pattern!r} ends with a lone escape character '\\'", pos)
    if op == "ilike":
        return col.ilike(pattern, escape="\\")
    return col.not_like(pattern, escape="\\") if op == "not like" else col.like(pattern, escape="\\")


def _attr_value(f: _Field, lit: _Lit) -> Any:
    """A literal converted for the attribute column it is compared with."""
    if f.key not in _TIME_ATTRS:
        return lit.raw.lower() if f.key == "status" else lit.raw
    try:
        if lit.is_num:
            return dt.datetime.fromtimestamp(float(lit.value) / 1000, dt.UTC)
        return as_utc(dt.datetime.fromisoformat(lit.raw))  # naive means UTC; must exist in UTC
    except (ValueError, OverflowError, OSError):
        raise _SemanticError(f"{f.text} takes an ISO-8601 timestamp or epoch milliseconds (in range once "
                             f"converted to UTC), not {lit.raw!r}", lit.pos) from None


def _compare(f: _Field, op: str, lits: list[_Lit]) -> ColumnElement[bool]:
    """``field <op> literal`` (op is an OP token, ``like``, ``ilike``, ``not like``, ``in``, ``not in``)."""
    is_like = op in ("like", "ilike", "not like")
    if f.kind == "metric":
        bad = next((lit for lit in lits if not lit.is_num), None)
        if bad is not None or is_like:
            pos = bad.pos if bad is not None else f.pos
            what = f"string {bad.raw!r}" if bad is not None else op.upper()
            raise _SemanticError(f"{f.text} is a metric and compares only to numbers, not with {what}", pos)
        col: Any = LatestMetricRow.value
        vals: list[Any] = [lit.value for lit in lits]
    elif f.kind == "attr":
        col = _ATTRS[f.key]
        if is_like and f.key in _TIME_ATTRS:
            raise _SemanticError(f"{f.text} is a timestamp and cannot be used with {op.upper()}", f.pos)
        vals = [_attr_value(f, lit) for lit in lits]
    else:
        col = _KV_MODELS[f.kind].value
        vals = [lit.raw for lit in lits]
        if op in _ORDERING and lits[0].is_num:
            col = case((col.regexp_match(_NUMERIC_TEXT), cast(col, Float)))
            vals = [lits[0].value]
    if is_like:
        cond = _like(col, op, vals[0], lits[0].pos)
    elif op in ("in", "not in"):
        cond = col.in_(vals) if op == "in" else col.not_in(vals)
    else:
        cond = _OPS[op](col, vals[0])
    if f.kind != "attr":
        return _exists(f.kind, f.key, cond)
    return and_(col.is_not(None), cond) if f.key in _NULLABLE else cond  # never NULL, so NOT complements


def _is_null(f: _Field, negate: bool) -> ColumnElement[bool]:
    if f.kind == "attr":
        col = _ATTRS[f.key]
        return col.is_not(None) if negate else col.is_(None)
    present = _exists(f.kind, f.key)
    return present if negate else ~present


class _Compile(Transformer):
    """Turns the parse tree into SQLAlchemy clauses (or order-by items)."""

    def field(self, args: list[Token]) -> _Field:
        tok = args[0]
        text, pos = str(tok), tok.start_pos or 0
        prefix, dot, key = text.partition(".")
        if not dot:
            prefix, key = "attributes", text
        kind = _PREFIXES.get(prefix.lower())
        if kind is None:
            raise _SemanticError(f"unknown field {text!r}: the prefix must be one of "
                                 "metrics., params., tags., attributes. (or attr., run.)", pos)
        if key[:1] in ('"', "`"):
            key = _unquote(key)
        if kind == "attr":
            key = key.lower()
            if key not in _ATTRS:
                raise _SemanticError(f"unknown attribute {text!r}; valid attributes: "
                                     + ", ".join(_ATTRS), pos)
        return _Field(kind, key, text, pos)

    def value(self, args: list[Token]) -> _Lit:
        tok = args[0]
        raw = str(tok)
        if tok.type == "STRING":
            return _Lit(_unquote(raw), _unquote(raw), tok.start_pos or 0)
        # An integer a BIGINT can bind stays exact; any other number is a float (metrics are floats,
        # and so is a numeric param/tag comparison), so 1000000000000000000000 means 1e21.
        num: int | float = float(raw)
        if re.fullmatch(r"[+-]?\d{1,19}", raw) and INT64_MIN <= int(raw) <= INT64_MAX:
            num = int(raw)
        return _Lit(num, raw, tok.start_pos or 0)

    def values(self, args: list[_Lit]) -> list[_Lit]:
        return args

    def binary(self, args: list[Any]) -> ColumnElement[bool]:
        f, op, lit = args
        return _compare(f, str(op).lower() if op.type != "OP" else str(op), [lit])

    def not_like(self, args: list[Any]) -> ColumnElement[bool]:
        return _compare(args[0], "not like", [args[2]])

    def in_(self, args: list[Any]) -> ColumnElement[bool]:
        return _compare(args[0], "in", args[1])

    def not_in(self, args: list[Any]) -> ColumnElement[bool]:
        return _compare(args[0], "not in", args[1])

    def is_null(self, args: list[Any]) -> ColumnElement[bool]:
        return _is_null(args[0], negate=False)

    def not_null(self, args: list[Any]) -> ColumnElement[bool]:
        return _is_null(args[0], negate=True)

    def and_(self, args: list[Any]) -> ColumnElement[bool]:
        return and_(*args)

    def or_(self, args: list[Any]) -> ColumnElement[bool]:
        return or_(*args)

    def not_(self, args: list[Any]) -> ColumnElement[bool]:
        return not_(args[0])

    def item(self, args: list[Any]) -> tuple[_Field, bool]:
        return args[0], len(args) > 1 and str(args[1]).lower() == "desc"

    def order(self, args: list[Any]) -> list[tuple[_Field, bool]]:
        return args


@functools.cache
def _parser() -> Lark:
    """The filter/order parser, built on first use (a search without a filter never builds it)."""
    return Lark(GRAMMAR, parser="lalr", lexer="basic", start=["filter", "order"])


_COMPILE = _Compile()


def _expected(text: str, start: str) -> str:
    """What the parser accepts after ``text`` (the input up to an error), in words."""
    try:
        ip = _parser().parse_interactive(text, start=start)
        ip.exhaust_lexer()
        expected = set(ip.accepts())
    except UnexpectedInput:
        return ""
    if expected & {"STRING", "NUMBER"}:
        return "a value"
    if "IDENT" in expected:
        return _FIELD_HELP + (" or '('" if "_LPAR" in expected else "")
    if "OP" in expected:
        return _OP_HELP
    words = [_TOKEN_HELP.get(t, t) for t in sorted(expected, key=lambda t: (t == "$END", t))]
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def _syntax_message(exc: UnexpectedInput, text: str, start: str) -> tuple[str, int]:
    """A friendly message for a lark error and the 0-based offset it points at."""
    token = getattr(exc, "token", None)
    if isinstance(exc, UnexpectedCharacters):
        pos, found = exc.pos_in_stream, repr(text[exc.pos_in_stream])
        q = pos + 1 if text[pos:pos + 2] in (".`", '."') else pos  # an unterminated quoted key
        if text[q] in "'\"`":
            return f"unterminated quoted text starting with {text[q]} (no closing {text[q]})", q
    elif token is not None and token.type != "$END":
        pos, found = token.start_pos or 0, repr(str(token))
    else:  # the input ended early
        pos, found = len(text.rstrip()), "end of input"
    before = [str(t) for t in _parser().lex(text[:pos])] if pos else []
    where = f"after {before[-1]!r}" if before else "at the start"
    expected = _expected(text[:pos], start)
    if not expected:
        return f"unexpected {found} {where}", pos
    return (f"expected {expected} {where}" if found == "end of input"
            else f"unexpected {found}: expected {expected} {where}"), pos


def _parse(text: str, start: str, what: str, code: str, loc: list[Any]) -> Any:
    """Parse ``text`` from rule ``start``, turning every error into ``InvalidInput``."""
    try:
        return _COMPILE.transform(_parser().parse(text, start=start))
    except VisitError as exc:
        if not isinstance(exc.orig_exc, _SemanticError):
            raise
        msg, pos = exc.orig_exc.msg, exc.orig_exc.pos
    except UnexpectedInput as exc:
        msg, pos = _syntax_message(exc, text, start)
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos) if text.find("\n", pos) >= 0 else len(text)
    col = pos - line_start + 1
    short = f"invalid {what} at column {col}: {msg}"
    detail = f"{short}\n  {text[line_start:line_end]}\n  {' ' * (col - 1)}^"
    kind = "filter_syntax" if start == "filter" else "order_by_syntax"
    raise InvalidInput(detail, code=code, errors=[{"loc": loc, "msg": short, "type": kind, "pos": col}])


def compile_filter(text: str | None) -> ColumnElement[bool] | None:
    """The filter expression ``text`` as a boolean clause over ``RunRow`` (``select(RunRow).where(...)``);
    ``None`` for a missing or blank filter. Raises ``InvalidInput`` (code ``invalid_filter``)."""
    if text is None or not text.strip():
        return None
    return _parse(text, "filter", "filter", "invalid_filter", ["filter"])


def _order_items(items: list[str] | None) -> list[tuple[_Field, bool]]:
    """The parsed ``(field, descending)`` order items (an item may hold several, comma-separated)."""
    given = [(n, item) for n, item in enumerate(items or []) if item and item.strip()]
    return [parsed for n, item in given
            for parsed in _parse(item, "order", f"order_by item {item!r}", "invalid_order_by", ["order_by", n])]


def _order_expr(f: _Field, desc: bool) -> ColumnElement[Any]:
    if f.kind == "attr":
        expr: Any = _ATTRS[f.key]
    else:
        model = _KV_MODELS[f.kind]
        expr = select(model.value).where(model.run_id == RunRow.id, model.key == f.key).scalar_subquery()
    return (expr.desc() if desc else expr.asc()).nulls_last()


def compile_order_by(items: list[str] | None) -> list[ColumnElement[Any]]:
    """ORDER BY expressions for items such as ``"metrics.auc DESC"``, ``"params.lr"``, ``"name asc"``
    (an item may also hold several, comma-separated). NULLs sort last either way, and ``RunRow.id`` ends
    the list so the order is total. Without items: newest first. Raises ``InvalidInput``
    (code ``invalid_order_by``)."""
    parsed = _order_items(items)
    if not parsed:
        return [RunRow.start_time.desc(), RunRow.id.desc()]
    return [*(_order_expr(f, desc) for f, desc in parsed), RunRow.id.asc()]


def apply_order_by(query: Select[Any], items: list[str] | None) -> Select[Any]:
    """``query`` (a ``select(RunRow)``) ordered by ``items``; see ``compile_order_by``."""
    return query.order_by(*compile_order_by(items))


def fetch_ordered(session: Session, query: Select[Any], items: list[str] | None, offset: int,
                  count: int) -> list[RunRow]:
    """``count`` runs of ``query`` (a filtered ``select(RunRow)``) from ``offset`` in the order of ``items``.

    Sorted by a metric first, the runs that have the metric are read by a join ordered on the latest
    metrics' ``(key, value, run_id)`` index, so a page costs its own rows rather than a sort of every
    run; the runs without it (or with a NULL value) follow, as ``compile_order_by`` orders them."""
    parsed = _order_items(items)
    if not parsed or parsed[0][0].kind != "metric":
        return list(session.scalars(apply_order_by(query, items).offset(offset).limit(count)))
    (first, desc), rest = parsed[0], [*(_order_expr(f, d) for f, d in parsed[1:]), RunRow.id.asc()]
    lm = aliased(LatestMetricRow)
    having = query.join(lm, and_(lm.run_id == RunRow.id, lm.key == first.key, lm.value.is_not(None)))
    rows = list(session.scalars(having.order_by(lm.value.desc() if desc else lm.value.asc(), *rest)
                                .offset(offset).limit(count)))
    if len(rows) == count:
        return rows
    if rows or offset == 0:
        before = offset + len(rows)  # every run with the metric is on this page or before it
    else:
        before = session.scalar(select(func.count()).select_from(having.with_only_columns(RunRow.id).subquery()))
    valued = select(literal(1)).where(LatestMetricRow.run_id == RunRow.id, LatestMetricRow.key == first.key,
                                      LatestMetricRow.value.is_not(None)).exists()
    rest_q = query.where(~valued).order_by(*rest).offset(max(0, offset - (before or 0))).limit(count - len(rows))
    return rows + list(session.scalars(rest_q))
