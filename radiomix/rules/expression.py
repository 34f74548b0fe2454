"""The safe rule grammar: tokenizer, recursive-descent parser and 3-valued evaluation.

A rule expression compares feature names with numbers and joins comparisons with
``and``, ``or``, ``not`` and parentheses::

    expression := disjunction
    disjunction := conjunction ("or" conjunction)*
    conjunction := negation ("and" negation)*
    negation    := "not" negation | "(" expression ")" | comparison
    comparison  := operand ("<" | "<=" | ">" | ">=" | "==" | "!=") operand
    operand     := NUMBER | FEATURE_NAME

Nothing else is accepted (no attribute access, calls, strings, arithmetic or imports) and
nothing is ever passed to ``eval``: a rules file from someone else cannot run code.

Evaluation is vectorised over a DataFrame with Kleene's 3-valued logic: a comparison on a
missing value is *unknown* (NaN); ``a or b`` is true as soon as one side is true and
``a and b`` false as soon as one side is false, even when the other side is unknown.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radiomix.errors import RuleError

COMPARISONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
KEYWORDS = frozenset({"and", "or", "not"})
MAX_DEPTH = 50
"""Deepest nesting of parentheses and ``not`` accepted (real rules nest two or three)."""
TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>)"
    r"|(?P<paren>[()])"
    r"|(?P<minus>-)"
)


@dataclass(frozen=True)
class Token:
    """One lexical token and its 0-based character position in the expression."""

    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Number:
    """A numeric literal."""

    value: float

    def values(self, table: pd.DataFrame) -> np.ndarray:
        return np.full(len(table), self.value)


@dataclass(frozen=True)
class Feature:
    """A feature column; a column absent from the table counts as missing everywhere."""

    name: str

    def values(self, table: pd.DataFrame) -> np.ndarray:
        if self.name not in table.columns:
            return np.full(len(table), np.nan)
        column = table[self.name]
        numbers = pd.to_numeric(column, errors="coerce")
        bad = (numbers.isna() & column.notna()) | np.isinf(numbers.astype(float))
        if bad.any():
            row = bad.idxmax()
            case = table.at[row, "case_id"] if "case_id" in table.columns else row
            value = column[row]
            shown = repr(value) if isinstance(value, str) else value
            raise RuleError(
                f"case {case!r}: column {self.name!r} holds {shown}, not a finite number"
            )
        return numbers.to_numpy(dtype=float)


@dataclass(frozen=True)
class Compare:
    """``left <op> right``: 1.0 true, 0.0 false, NaN when either side is missing."""

    op: str
    left: Number | Feature
    right: Number | Feature

    def evaluate(self, table: pd.DataFrame) -> np.ndarray:
        left, right = self.left.values(table), self.right.values(table)
        result = COMPARISONS[self.op](left, right).astype(float)
        result[np.isnan(left) | np.isnan(right)] = np.nan
        return result


@dataclass(frozen=True)
class Not:
    """Logical negation; unknown stays unknown."""

    operand: Node

    def evaluate(self, table: pd.DataFrame) -> np.ndarray:
        return 1.0 - self.operand.evaluate(table)


@dataclass(frozen=True)
class And:
    """Kleene conjunction: false if any side is false, true if all are true."""

    operands: tuple[Node, ...]

    def evaluate(self, table: pd.DataFrame) -> np.ndarray:
        return _kleene([o.evaluate(table) for o in self.operands], deciding=0.0)


@dataclass(frozen=True)
class Or:
    """Kleene disjunction: true if any side is true, false if all are false."""

    operands: tuple[Node, ...]

    def evaluate(self, table: pd.DataFrame) -> np.ndarray:
        return _kleene([o.evaluate(table) for o in self.operands], deciding=1.0)


Node = Compare | Not | And | Or


def _kleene(truth_values: list[np.ndarray], deciding: float) -> np.ndarray:
    """Combine 3-valued operands: `deciding` (0 for and, 1 for or) wins over unknown."""
    stacked = np.stack(truth_values)
    unknown = np.where(np.isnan(stacked).any(axis=0), np.nan, 1.0 - deciding)
    return np.where((stacked == deciding).any(axis=0), deciding, unknown)


def features_of(node: Node) -> list[str]:
    """Feature names used by an expression, in order of first appearance."""
    if isinstance(node, Compare):
        found = [side.name for side in (node.left, node.right) if isinstance(side, Feature)]
    elif isinstance(node, Not):
        found = features_of(node.operand)
    else:
        found = [name for operand in node.operands for name in features_of(operand)]
    return list(dict.fromkeys(found))


def tokenize(text: str, rule_id: str) -> list[Token]:
    """Split an expression into tokens; any other character is a RuleError."""
    tokens, position = [], 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            what = "attribute access" if text[position] == "." else "character"
            raise RuleError(
                f"rule {rule_id!r}: unexpected {what} {text[position]!r} at "
                f"position {position} in {text!r} (only comparisons of feature "
                "names and numbers joined by and/or/not are allowed)"
            )
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), position))
        position = match.end()
    return tokens


class _Parser:
    """Recursive-descent parser over the token list of one rule expression."""

    def __init__(self, text: str, rule_id: str, known: Callable[[str], bool] | None) -> None:
        self.text, self.rule_id, self.known = text, rule_id, known
        self.tokens = tokenize(text, rule_id)
        self.index = 0
        self.depth = 0

    def error(self, message: str, token: Token | None) -> RuleError:
        position = token.position if token else len(self.text)
        return RuleError(
            f"rule {self.rule_id!r}: {message} at position {position} in {self.text!r}"
        )

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token | None:
        token = self.peek()
        self.index += 1
        return token

    def at_keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "name" and token.text == word

    def parse(self) -> Node:
        if not self.tokens:
            raise self.error("empty expression", None)
        node = self.disjunction()
        token = self.peek()
        if token is not None:
            raise self.error(f"unexpected {token.text!r}", token)
        return node

    def disjunction(self) -> Node:
        return self.joined("or", self.conjunction, Or)

    def conjunction(self) -> Node:
        return self.joined("and", self.negation, And)

    def joined(self, keyword: str, operand: Callable[[], Node], node: type) -> Node:
        """``operand (keyword operand)*`` as one ``node``, or the single operand."""
        operands = [operand()]
        while self.at_keyword(keyword):
            self.take()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else node(tuple(operands))

    def negation(self) -> Node:
        token = self.peek()
        if self.depth >= MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels", token)
        self.depth += 1
        try:
            return self.nested()
        finally:
            self.depth -= 1

    def nested(self) -> Node:
        if self.at_keyword("not"):
            self.take()
            return Not(self.negation())
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            node = self.disjunction()
            closing = self.take()
            if closing is None or closing.text != ")":
                raise self.error("expected ')'", closing)
            return node
        return self.comparison()

    def comparison(self) -> Compare:
        left = self.operand()
        token = self.take()
        if token is None or token.kind != "op":
            found = "end of expression" if token is None else repr(token.text)
            raise self.error(f"expected a comparison operator, found {found}", token)
        return Compare(token.text, left, self.operand())

    def operand(self) -> Number | Feature:
        token = self.take()
        if token is None:
            raise self.error("expected a feature name or a number", None)
        if token.kind == "minus":
            number = self.take()
            if number is None or number.kind != "number":
                raise self.error("expected a number after '-'", number or token)
            return self.number(number, -1.0)
        if token.kind == "number":
            return self.number(token, 1.0)
        if token.kind != "name" or token.text in KEYWORDS:
            raise self.error(f"expected a feature name or a number, found {token.text!r}", token)
        following = self.peek()
        if following is not None and following.text == "(":
            raise self.error(f"calls are not allowed ({token.text!r})", following)
        if self.known is not None and not self.known(token.text):
            raise self.error(
                f"{token.text!r} is neither a feature of the extraction configuration nor a "
                "clinical or reader column",
                token,
            )
        return Feature(token.text)

    def number(self, token: Token, sign: float) -> Number:
        value = sign * float(token.text)
        if not math.isfinite(value):
            raise self.error(f"number {token.text!r} is out of range", token)
        return Number(value)


def parse_expression(text: str, rule_id: str, known: Callable[[str], bool] | None = None) -> Node:
    """Parse a rule expression into its syntax tree, or raise a RuleError naming the
    rule and the character position of the problem. With ``known``, every name the expression
    reads must pass it (`radiomix.rules.config` passes the names a table can have)."""
    if not isinstance(text, str):
        raise RuleError(f"rule {rule_id!r}: the expression must be text, got {text!r}")
    return _Parser(text, rule_id, known).parse()


def evaluate(node: Node, table: pd.DataFrame) -> np.ndarray:
    """Evaluate an expression on every row: 1.0 true, 0.0 false, NaN unknown."""
    return node.evaluate(table)
