"""Timing rules such as `zscore_20 < -2 and tr_rsi_14 < 30`, parsed safely and evaluated on frames.

Strategy files are data, so a rule is never handed to `eval`: a hand-written tokenizer
accepts only names, numbers and the operators below, and a recursive-descent parser builds
a small typed tree. Anything else (quotes, dots after a name, brackets, `__x__` names,
unknown functions) is a `RuleError` with the column where it happened.

Grammar (lowest precedence first; comparisons do not chain):

    expr    := and ('or' and)*
    and     := not ('and' not)*
    not     := 'not' not | compare
    compare := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?
    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/') unary)*
    unary   := '-' unary | atom
    atom    := NUMBER | NAME | FUNC '(' args ')' | '(' expr ')'

Functions: crosses_above(a, b), crosses_below(a, b), abs(x), min(a, b), max(a, b),
lag(x, n) with n a positive integer literal (only past values: no look-ahead).

Evaluation is vectorised: names resolve to Series (one instrument) or wide DataFrames
(dates x symbols) and the tree becomes pandas operations. A comparison with a missing
value on either side is unknown, and unknowns combine by Kleene logic (`not unknown` is
unknown, `unknown or true` is true); a rule that ends unknown does not fire, so a missing
feature never triggers a trade. `crosses_above(a, b)` is true on bar t when a < b on t-1
and a > b on t (the engine's crossover definition in `sim.historical`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

MAX_LENGTH = 2_000
MAX_DEPTH = 60
KEYWORDS = ("and", "or", "not")
COMPARE_OPS: dict[str, Callable] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
ARITH_OPS: dict[str, Callable] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}
Kind = Literal["bool", "num"]
# name -> (argument kinds, result kind); "int" is a positive integer literal.
FUNCTIONS: dict[str, tuple[tuple[str, ...], Kind]] = {
    "crosses_above": (("num", "num"), "bool"),
    "crosses_below": (("num", "num"), "bool"),
    "abs": (("num",), "num"),
    "min": (("num", "num"), "num"),
    "max": (("num", "num"), "num"),
    "lag": (("num", "int"), "num"),
}


class RuleError(ValueError):
    """A rule that does not parse or type-check; the message says where and why."""


# --- syntax tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: float
    text: str
    kind: Kind = "num"

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Name:
    name: str
    kind: Kind = "num"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Neg:
    operand: Node
    kind: Kind = "num"

    def __str__(self) -> str:
        return f"-{_wrap(self.operand)}"


@dataclass(frozen=True)
class Arith:
    op: str
    left: Node
    right: Node
    kind: Kind = "num"

    def __str__(self) -> str:
        return f"{_wrap(self.left)} {self.op} {_wrap(self.right)}"


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    kind: Kind = "bool"

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Node, ...]
    kind: Kind = "bool"

    def __str__(self) -> str:
        return f" {self.op} ".join(_wrap(o) for o in self.operands)


@dataclass(frozen=True)
class Not:
    operand: Node
    kind: Kind = "bool"

    def __str__(self) -> str:
        return f"not {_wrap(self.operand)}"


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]
    kind: Kind = "num"

    def __str__(self) -> str:
        return f"{self.func}({', '.join(str(a) for a in self.args)})"


Node = Num | Name | Neg | Arith | Compare | BoolOp | Not | Call


def _wrap(node: Node) -> str:
    return f"({node})" if isinstance(node, Arith | BoolOp | Compare) else str(node)


def names(node: Node) -> set[str]:
    """Every variable name the rule reads."""
    if isinstance(node, Name):
        return {node.name}
    out: set[str] = set()
    for child in _children(node):
        out |= names(child)
    return out


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Neg | Not):
        return (node.operand,)
    if isinstance(node, Arith | Compare):
        return (node.left, node.right)
    if isinstance(node, BoolOp):
        return node.operands
    if isinstance(node, Call):
        return node.args
    return ()


# --- tokenizer -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_0-9.]))"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|,)"
)


@dataclass(frozen=True)
class Token:
    type: str  # num | name | kw | op | end
    text: str
    col: int  # 1-based column


def tokenize(text: str) -> list[Token]:
    """Split a rule into tokens; any character outside the grammar is an error."""
    if not isinstance(text, str):
        raise RuleError(f"a rule must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise RuleError(f"rule is longer than {MAX_LENGTH} characters")
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise RuleError(f"unexpected character {text[pos]!r} at column {pos + 1}")
        kind = m.lastgroup or ""
        tok = m.group()
        if kind == "name":
            if tok.startswith("_"):
                raise RuleError(f"names may not start with '_': {tok!r} at column {pos + 1}")
            kind = "kw" if tok in KEYWORDS else "name"
        if kind != "ws":
            out.append(Token(kind, tok, pos + 1))
        pos = m.end()
    out.append(Token("end", "", len(text) + 1))
    return out


# --- parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def _fail(self, what: str, tok: Token | None = None) -> RuleError:
        t = tok or self.tok
        found = "end of rule" if t.type == "end" else repr(t.text)
        return RuleError(f"{what}, found {found} at column {t.col}")

    def _expect(self, text: str) -> Token:
        if self.tok.text != text or self.tok.type not in ("op", "kw"):
            raise self._fail(f"expected {text!r}")
        return self._next()

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleError(f"rule nests deeper than {MAX_DEPTH} levels")

    def parse(self) -> Node:
        node = self.expr()
        if self.tok.type != "end":
            raise self._fail("expected an operator or the end of the rule")
        return node

    def expr(self) -> Node:
        self._enter()
        parts = [self.conj()]
        while self.tok.type == "kw" and self.tok.text == "or":
            t = self._next()
            parts.append(self.conj())
            self._check_bool(parts[-1], "or", t)
        if len(parts) > 1:
            self._check_bool(parts[0], "or", self.tok)
        self.depth -= 1
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def conj(self) -> Node:
        parts = [self.negation()]
        while self.tok.type == "kw" and self.tok.text == "and":
            t = self._next()
            parts.append(self.negation())
            self._check_bool(parts[-1], "and", t)
        if len(parts) > 1:
            self._check_bool(parts[0], "and", self.tok)
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def negation(self) -> Node:
        if self.tok.type == "kw" and self.tok.text == "not":
            t = self._next()
            self._enter()
            operand = self.negation()
            self.depth -= 1
            self._check_bool(operand, "not", t)
            return Not(operand)
        return self.compare()

    def compare(self) -> Node:
        left = self.sum()
        if self.tok.type == "op" and self.tok.text in COMPARE_OPS:
            t = self._next()
            right = self.sum()
            for side in (left, right):
                if side.kind != "num":
                    raise RuleError(f"{t.text!r} at column {t.col} compares numbers, not {side}")
            if self.tok.type == "op" and self.tok.text in COMPARE_OPS:
                raise self._fail("comparisons do not chain; join them with 'and'")
            return Compare(t.text, left, right)
        return left

    def sum(self) -> Node:
        node = self.product()
        while self.tok.type == "op" and self.tok.text in ("+", "-"):
            t = self._next()
            node = self._arith(t, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.tok.type == "op" and self.tok.text in ("*", "/"):
            t = self._next()
            node = self._arith(t, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.tok.type == "op" and self.tok.text == "-":
            t = self._next()
            self._enter()
            operand = self.unary()
            self.depth -= 1
            if operand.kind != "num":
                raise RuleError(f"'-' at column {t.col} applies to numbers")
            if isinstance(operand, Num):
                return Num(-operand.value, f"-{operand.text}")
            return Neg(operand)
        return self.atom()

    def atom(self) -> Node:
        t = self.tok
        if t.type == "num":
            self._next()
            return Num(float(t.text), t.text)
        if t.type == "name":
            self._next()
            if self.tok.type == "op" and self.tok.text == "(":
                return self.call(t)
            return Name(t.text)
        if t.type == "op" and t.text == "(":
            self._next()
            node = self.expr()
            self._expect(")")
            return node
        raise self._fail("expected a number, a name or '('")

    def call(self, name_tok: Token) -> Node:
        func = name_tok.text
        if func not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise RuleError(
                f"unknown function {func!r} at column {name_tok.col}; allowed: {allowed}"
            )
        self._expect("(")
        args: list[Node] = []
        if not (self.tok.type == "op" and self.tok.text == ")"):
            args.append(self.expr())
            while self.tok.type == "op" and self.tok.text == ",":
                self._next()
                args.append(self.expr())
        self._expect(")")
        kinds, result = FUNCTIONS[func]
        if len(args) != len(kinds):
            raise RuleError(
                f"{func}() at column {name_tok.col} takes {len(kinds)} arguments, got {len(args)}"
            )
        for arg, kind in zip(args, kinds, strict=True):
            if kind == "int":
                if not (isinstance(arg, Num) and arg.value >= 1 and arg.value == int(arg.value)):
                    raise RuleError(
                        f"{func}() at column {name_tok.col}: {arg} must be a positive integer"
                    )
            elif arg.kind != kind:
                raise RuleError(f"{func}() at column {name_tok.col}: {arg} is not a number")
        return Call(func, tuple(args), result)

    def _arith(self, t: Token, left: Node, right: Node) -> Node:
        if left.kind != "num" or right.kind != "num":
            raise RuleError(f"{t.text!r} at column {t.col} applies to numbers")
        return Arith(t.text, left, right)

    @staticmethod
    def _check_bool(node: Node, op: str, t: Token) -> None:
        if node.kind != "bool":
            raise RuleError(f"{op!r} near column {t.col} joins conditions; {node} is a number")


def parse(text: str, *, kind: Kind = "bool") -> Node:
    """Parse a rule; `kind="bool"` for conditions, `"num"` for scores like `mom_126 / vol_60`."""
    node = _Parser(text).parse()
    if node.kind != kind:
        want = "a condition (true/false)" if kind == "bool" else "a number"
        raise RuleError(f"rule must be {want}; {text!r} is not")
    return node


# --- evaluation ----------------------------------------------------------------------------

Value = pd.Series | pd.DataFrame | float


def format_value(v: float) -> str:
    """A value as reasons print it: 4 significant digits, no exponent."""
    if not np.isfinite(v):
        return "nan"
    return np.format_float_positional(float(v), precision=4, fractional=False, trim="-")


def _valid(x: Value) -> Value:
    return x.notna() if isinstance(x, pd.Series | pd.DataFrame) else bool(np.isfinite(x))


class Evaluation:
    """A rule evaluated over frames; keeps every node's value so a firing can be explained."""

    def __init__(self, node: Node, env: Mapping[str, pd.Series | pd.DataFrame]):
        self.node = node
        self.env = env
        self.values: dict[Node, Value] = {}
        self.result = self._eval(node)

    def mask(self, like: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
        """The rule's truth value shaped like `like` (a constant rule broadcasts)."""
        r = self.result
        if isinstance(r, pd.Series | pd.DataFrame):
            return r.reindex_like(like).fillna(False).astype(bool)
        return _const(like, _true(r))

    def _eval(self, node: Node) -> Value:
        if node in self.values:
            return self.values[node]
        v = self._compute(node)
        self.values[node] = v
        return v

    def _compute(self, node: Node) -> Value:
        if isinstance(node, Num):
            return node.value
        if isinstance(node, Name):
            try:
                v = self.env[node.name]
            except KeyError:
                raise KeyError(f"no data for {node.name!r}") from None
            return v.astype(np.float64)
        if isinstance(node, Neg):
            return -self._eval(node.operand)
        if isinstance(node, Arith):
            a, b = self._eval(node.left), self._eval(node.right)
            with np.errstate(divide="ignore", invalid="ignore"):
                out = ARITH_OPS[node.op](a, b)
            if isinstance(out, pd.Series | pd.DataFrame):
                return out.replace([np.inf, -np.inf], np.nan)
            return out if np.isfinite(out) else np.nan
        if isinstance(node, Compare):
            a, b = self._eval(node.left), self._eval(node.right)
            return _known(COMPARE_OPS[node.op](a, b), _valid(a) & _valid(b))
        if isinstance(node, BoolOp):
            vals = [self._eval(o) for o in node.operands]
            out = vals[0]
            for v in vals[1:]:
                out = (out & v) if node.op == "and" else (out | v)
            return out
        if isinstance(node, Not):
            v = self._eval(node.operand)
            if _is_scalar(v):
                return v if v is pd.NA else (not v)
            return ~v
        if isinstance(node, Call):
            return self._call(node)
        raise TypeError(f"unexpected node {node!r}")  # pragma: no cover

    def _call(self, node: Call) -> Value:
        f = node.func
        if f == "lag":
            x = self._eval(node.args[0])
            n = int(node.args[1].value)  # type: ignore[union-attr]
            return x if _is_scalar(x) else x.shift(n)
        args = [self._eval(a) for a in node.args]
        if f == "abs":
            return abs(args[0])
        if f in ("min", "max"):
            a, b = args
            if _is_scalar(a) and _is_scalar(b):
                return min(a, b) if f == "min" else max(a, b)
            if _is_scalar(a):
                a, b = b, a
            return a.clip(upper=b) if f == "min" else a.clip(lower=b)
        a, b = args
        diff = a - b
        if _is_scalar(diff):
            return False
        prev = diff.shift(1)
        crossed = (prev < 0) & (diff > 0) if f == "crosses_above" else (prev > 0) & (diff < 0)
        return _known(crossed, diff.notna() & prev.notna())

    # -- explanation ----------------------------------------------------------------------

    def _at(self, node: Node, date: object, symbol: object) -> float | bool:
        v = self.values[node]
        if isinstance(v, pd.DataFrame):
            return v.at[date, symbol]
        if isinstance(v, pd.Series):
            return v.at[date]
        return v

    def _operand(self, node: Node, date: object, symbol: object) -> str:
        if isinstance(node, Num):
            return node.text
        return f"{node}={format_value(self._at(node, date, symbol))}"

    def explain(self, date: object, symbol: object = None) -> str:
        """Why the rule holds at (date, symbol): the true conditions with their values,
        e.g. "zscore_20=-2.31 < -2; tr_rsi_14=27.4 < 30"."""
        return "; ".join(self._explain(self.node, date, symbol))

    def _explain(self, node: Node, date: object, symbol: object) -> list[str]:
        if isinstance(node, BoolOp):
            parts: list[str] = []
            for o in node.operands:
                if node.op == "and" or _true(self._at(o, date, symbol)):
                    parts += self._explain(o, date, symbol)
            return parts
        if isinstance(node, Compare):
            left = self._operand(node.left, date, symbol)
            return [f"{left} {node.op} {self._operand(node.right, date, symbol)}"]
        if isinstance(node, Call):
            args = ", ".join(self._operand(a, date, symbol) for a in node.args)
            return [f"{node.func}({args})"]
        if isinstance(node, Not):
            return [f"not ({'; '.join(self._explain_any(node.operand, date, symbol))})"]
        return [self._operand(node, date, symbol)]

    def _explain_any(self, node: Node, date: object, symbol: object) -> list[str]:
        """Values of every comparison under a node, true or not (used under 'not')."""
        if isinstance(node, BoolOp):
            return [p for o in node.operands for p in self._explain_any(o, date, symbol)]
        if isinstance(node, Not):
            return self._explain(node, date, symbol)
        return self._explain(node, date, symbol)


def _true(v: object) -> bool:
    return v is not pd.NA and bool(v)


def _known(result: Value, valid: Value) -> Value:
    """Truth values as pandas' nullable boolean: <NA> (unknown) where an input is missing.

    Nullable booleans combine by Kleene logic, so `not` of an unknown stays unknown and
    `x or y` is still true when x is unknown but y holds; unknown counts as false at the end.
    """
    if _is_scalar(result):
        return bool(result) if bool(valid) else pd.NA
    return result.astype("boolean").where(valid, pd.NA)


def _is_scalar(x: object) -> bool:
    return not isinstance(x, pd.Series | pd.DataFrame)


def _const(like: pd.Series | pd.DataFrame, value: bool) -> pd.Series | pd.DataFrame:
    if isinstance(like, pd.DataFrame):
        return pd.DataFrame(value, index=like.index, columns=like.columns, dtype=bool)
    return pd.Series(value, index=like.index, dtype=bool)


def evaluate(node: Node | str, env: Mapping[str, pd.Series | pd.DataFrame]) -> Evaluation:
    """Evaluate a rule over frames named in `env` (Series per date or dates x symbols)."""
    return Evaluation(parse(node) if isinstance(node, str) else node, env)
