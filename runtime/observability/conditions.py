"""The condition language of debug probes: a small, safe expression language parsed with `ast` into a
whitelist of node types and compiled to closures (never `eval`).

    startswith(key, "v1/content/abc") and tier != "l1"
    status >= 500 or reason == "expired"
    ip in ("10.0.0.1", "10.0.0.2") and not allowed
    len(key) > 40

Names are the probe's own variables (anything else is refused when the probe is armed); literals are
strings, numbers, booleans, None and tuples/lists of them; operators are `and`, `or`, `not`, unary `-`,
comparisons (`== != < <= > >= in not in`); calls are only to the functions in FUNCTIONS. No attribute
access, subscripts, lambdas or comprehensions: nothing reaches an object's internals."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

MAX_LENGTH = 500
MAX_NODES = 64
Values = Mapping[str, Any]
Compiled = Callable[[Values], Any]


class ConditionError(ValueError):
    """An expression outside the language (the message says what and why)."""


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "startswith": lambda s, prefix: isinstance(s, str) and s.startswith(prefix),
    "endswith": lambda s, suffix: isinstance(s, str) and s.endswith(suffix),
    "contains": lambda s, part: isinstance(s, str) and part in s,
    "lower": lambda s: s.lower() if isinstance(s, str) else s,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_LITERALS = (str, int, float, bool, type(None))


def compile_condition(text: str, variables: frozenset[str]) -> Compiled:
    """A callable evaluating `text` over a mapping of the probe's variables; raises ConditionError."""
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"the condition is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip() or "True", mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"not an expression: {exc.msg} at column {exc.offset}") from exc
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise ConditionError(f"the condition has {nodes} parts; at most {MAX_NODES}")
    return _compile(tree.body, variables)


def _compile(node: ast.expr, variables: frozenset[str]) -> Compiled:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, _LITERALS):
            raise ConditionError(f"literal {node.value!r}: only strings, numbers, booleans and None")
        value = node.value
        return lambda v: value
    if isinstance(node, ast.Name):
        name = node.id
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none"
            raise ConditionError(f"unknown name {name!r}: this probe's variables are {known}")
        return lambda v: v.get(name)
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_compile(e, variables) for e in node.elts]
        return lambda v: tuple(item(v) for item in items)
    if isinstance(node, ast.BoolOp):
        parts = [_compile(e, variables) for e in node.values]
        if isinstance(node.op, ast.And):
            return lambda v: all(p(v) for p in parts)
        return lambda v: any(p(v) for p in parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        inner = _compile(node.operand, variables)
        if isinstance(node.op, ast.Not):
            return lambda v: not inner(v)
        return lambda v: -inner(v)
    if isinstance(node, ast.Compare):
        left = _compile(node.left, variables)
        ops = [_COMPARE.get(type(op)) for op in node.ops]
        if any(op is None for op in ops):
            raise ConditionError("comparisons are == != < <= > >= in and not in (not `is`)")
        rights = [_compile(c, variables) for c in node.comparators]
        pairs: list[tuple[Callable[[Any, Any], bool], Compiled]] = [
            (op, r) for op, r in zip(ops, rights, strict=True) if op is not None
        ]

        def compare(v: Values) -> bool:
            a = left(v)
            for op, right in pairs:
                b = right(v)
                if not op(a, b):
                    return False
                a = b
            return True

        return compare
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            hint = "no attribute access; " if isinstance(node.func, ast.Attribute) else ""
            raise ConditionError(
                f"calls to {called} are not allowed ({hint}functions: {', '.join(sorted(FUNCTIONS))})"
            )
        if node.keywords:
            raise ConditionError(f"{node.func.id}() takes no keyword arguments")
        function = FUNCTIONS[node.func.id]
        args = [_compile(a, variables) for a in node.args]
        if len(args) == 1:
            (only,) = args
            return lambda v: function(only(v))
        if len(args) == 2:
            first, second = args
            return lambda v: function(first(v), second(v))
        return lambda v: function(*[a(v) for a in args])
    what = type(node).__name__
    hint = " (no attribute access: use startswith(name, ...))" if isinstance(node, ast.Attribute) else ""
    raise ConditionError(f"{ast.unparse(node)!r}: {what} is not part of the condition language{hint}")
