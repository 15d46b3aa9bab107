"""Exercises of Chapter 1 (autograd from scratch): a local backward, a topological order, a
gradient by hand. The package's autograd is the oracle; the order is checked for validity."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import numpy as np
from hypothesis import strategies as st

from ..autograd import Tensor
from ._asserts import assert_close
from ._core import exercise

CHAIN_LENGTH = 2_000  # twice the recursion allowance below
DIAMONDS = 30  # 2**30 paths from the top of the stack to its bottom
LOOKUPS_PER_NODE = 4  # a correct walk reads each node's parents once or twice
RECURSION_ALLOWANCE = 1000  # nested calls the answer may make (the chain needs CHAIN_LENGTH)


@exercise(
    "ch01.tanh_backward",
    max_examples=30,
    points=1,
    forbid=("minisensli.autograd.Tensor.backward", "minisensli.ops.activation.Tanh.backward"),
)
def tanh_backward(answer, case):
    shape = tuple(case.draw(st.lists(st.integers(1, 4), max_size=3), "shape"))
    rng = case.rng()  # values from one integer
    x = case.show(rng.uniform(-3, 3, size=shape), "x")
    upstream = case.show(rng.standard_normal(shape), "upstream")
    t = Tensor(x.copy(), requires_grad=True)
    t.tanh().backward(upstream)
    assert_close(answer(x.copy(), upstream.copy()), t.grad, "dL/dx")


class _TooManyLookupsError(Exception):
    pass


class _CountingParents(dict):
    """The parents dictionary, counting lookups: a walk that revisits shared nodes once per path
    needs exponentially many and is stopped instead of running for hours."""

    def __init__(self, parents: dict, budget: int) -> None:
        super().__init__(parents)
        self.budget = budget

    def _count(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise _TooManyLookupsError

    def __getitem__(self, key: Any) -> Any:
        self._count()
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._count()
        return super().get(key, default)


def _reachable(parents: dict, root: str) -> set:
    seen, stack = {root}, [root]
    while stack:
        for p in parents[stack.pop()]:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return seen


def _with_recursion_limit(fn: Callable, *args: Any) -> Any:
    """Call fn with at most RECURSION_ALLOWANCE more nested frames than we are at now, whatever
    limit the process has (pytest and hypothesis raise it), so that a recursive walk of the long
    chain fails the same way everywhere."""
    depth = 0
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + RECURSION_ALLOWANCE)
    try:
        return fn(*args)
    finally:
        sys.setrecursionlimit(previous)


def _order_problem(answer, parents: dict, root: str) -> str | None:
    """What is wrong with the answer's order (None: nothing). Errors of the walk itself become
    messages here, so that the property fails from one place whatever went wrong."""
    counting = _CountingParents(parents, LOOKUPS_PER_NODE * len(parents) + 10)
    try:
        result = _with_recursion_limit(answer, counting, root)
    except RecursionError:
        return "RecursionError: the walk recurses once per node of a chain; use an explicit stack"
    except _TooManyLookupsError:
        return (
            f"looked up parents more than {LOOKUPS_PER_NODE} times per node: the walk revisits shared "
            "nodes once per path (exponential in the number of diamonds); keep track of visited nodes"
        )
    if result is None:
        return "the function returned None (did you forget `return`?)"
    order = list(result)
    position: dict = {}
    for i, node in enumerate(order):
        if node in position:
            return f"node {node!r} appears twice (at {position[node]} and {i})"
        position[node] = i
    expected = _reachable(parents, root)
    if set(order) != expected:
        missing, extra = sorted(expected - set(order)), sorted(set(order) - expected)
        return f"wrong set of nodes; missing {missing[:5]}, not reachable from the root {extra[:5]}"
    if order[0] != root:
        return f"the first node is {order[0]!r}, expected the root {root!r}"
    for node in order:
        for parent in parents[node]:
            if position[parent] < position[node]:
                return (
                    f"input {parent!r} (at {position[parent]}) comes before {node!r} "
                    f"(at {position[node]}), which consumes it"
                )
    return None


@st.composite
def _dags(draw: Any) -> tuple[dict, str]:
    """A random DAG with shuffled names (their order says nothing), root = the last node built;
    some nodes may not be reachable from it."""
    n = draw(st.integers(1, 12))
    names = [f"v{k}" for k in draw(st.permutations(range(n)))]
    parents = {}
    for i in range(n):
        picks = draw(st.lists(st.integers(0, i - 1), max_size=3)) if i else []  # repeats allowed: x * x
        parents[names[i]] = [names[j] for j in picks]
    return parents, names[-1]


def _chain(length: int) -> dict:
    parents = {f"n{i}": [f"n{i + 1}"] for i in range(length - 1)}
    parents[f"n{length - 1}"] = []
    return parents


def _diamonds(depth: int) -> dict:
    """x_{k+1} = x_k + f(x_k): x_k is used twice by every block."""
    parents: dict[str, list[str]] = {"x0": []}
    for k in range(depth):
        parents[f"f{k}"] = [f"x{k}"]
        parents[f"x{k + 1}"] = [f"x{k}", f"f{k}"]
    return parents


def _first_problem(answer, graphs: list) -> str | None:
    for what, parents, root in graphs:
        problem = _order_problem(answer, parents, root)
        if problem:
            return f"{what}: {problem}"
    return None


@exercise("ch01.topological_order", max_examples=30, points=3, forbid=("minisensli.autograd._topological_order",))
def topological_order(answer, case):
    # the two fixed graphs first: when they fail, the report needs no drawn input
    problem = _first_problem(
        answer,
        [
            (f"{DIAMONDS} stacked diamonds", _diamonds(DIAMONDS), f"x{DIAMONDS}"),
            (f"chain of {CHAIN_LENGTH} nodes", _chain(CHAIN_LENGTH), "n0"),
        ],
    )
    if not problem:
        parents, root = case.draw(_dags(), "graph")
        problem = _first_problem(answer, [("random graph", parents, root)])
    if problem:
        raise AssertionError(problem)


@exercise("ch01.grad_by_hand", max_examples=30, points=2, forbid=("minisensli.autograd.Tensor.backward",))
def grad_by_hand(answer, case):
    a, b, c = (case.draw(st.floats(-2.0, 2.0), name) for name in "abc")
    ta, tb, tc = (Tensor(np.float64(v), requires_grad=True) for v in (a, b, c))
    (ta * (ta * tb + tc).tanh()).backward()

    def compare() -> None:
        got = answer(a, b, c)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise AssertionError(f"expected a tuple of three floats (dL/da, dL/db, dL/dc), got {got!r}")
        for name, value, t in zip("abc", got, (ta, tb, tc)):
            assert_close(value, t.grad, f"dL/d{name}")

    compare()
