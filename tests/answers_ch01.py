"""Answers to the exercises of Chapter 1: one correct, and wrong ones a student would plausibly
write, each of which the checker must catch."""

import math

import numpy as np

# --- ch01.tanh_backward ------------------------------------------------------------------------


def tanh_backward(x, upstream):
    y = np.tanh(x)
    return upstream * (1 - y * y)


def tanh_backward_no_upstream(x, upstream):
    return 1 - np.tanh(x) ** 2


def tanh_backward_input_not_output(x, upstream):
    return upstream * (1 - x * x)


def tanh_backward_sign_flipped(x, upstream):
    return upstream * (np.tanh(x) ** 2 - 1)


def tanh_backward_not_squared(x, upstream):
    return upstream * (1 - np.tanh(x))


# --- ch01.topological_order ---------------------------------------------------------------------


def order_kahn(parents, root):
    pending, stack = {root: 0}, [root]
    while stack:
        node = stack.pop()
        for parent in parents[node]:
            if parent not in pending:
                pending[parent] = 0
                stack.append(parent)
            pending[parent] += 1
    order, ready = [], [root]
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in parents[node]:
            pending[parent] -= 1
            if pending[parent] == 0:
                ready.append(parent)
    return order


def order_stack_dfs(parents, root):
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            stack.extend((p, False) for p in parents[node] if p not in visited)
    return order[::-1]


def order_recursive(parents, root):
    order, visited = [], set()

    def visit(node):
        if node not in visited:
            visited.add(node)
            for parent in parents[node]:
                visit(parent)
            order.append(node)

    visit(root)
    return order[::-1]


def order_per_path(parents, root):
    """Post-order walk without a visited set, duplicates dropped at the end (keeping the last)."""
    order, stack = [], [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((p, False) for p in parents[node])
    return list(dict.fromkeys(order[::-1]))


def order_breadth_first(parents, root):
    """Level order from the root: a node reached early by a short path lands before a consumer
    reached later by a longer path."""
    order, seen, queue = [], {root}, [root]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for parent in parents[node]:
            if parent not in seen:
                seen.add(parent)
                queue.append(parent)
    return order


def order_not_reversed(parents, root):
    return order_stack_dfs(parents, root)[::-1]


# --- ch01.grad_by_hand --------------------------------------------------------------------------


def grad_by_hand(a, b, c):
    t = math.tanh(a * b + c)
    dt = 1 - t * t
    return t + a * dt * b, a * a * dt, a * dt


def grad_only_direct_path(a, b, c):
    t = math.tanh(a * b + c)
    return t, a * a * (1 - t * t), a * (1 - t * t)


def grad_only_inner_path(a, b, c):
    t = math.tanh(a * b + c)
    return a * (1 - t * t) * b, a * a * (1 - t * t), a * (1 - t * t)


def grad_sech_not_squared(a, b, c):
    s = 1 / math.cosh(a * b + c)
    t = math.tanh(a * b + c)
    return t + a * s * b, a * a * s, a * s


ANSWERS = {
    "ch01.tanh_backward": {
        "correct": tanh_backward,
        "wrong": {
            "forgets the upstream gradient": tanh_backward_no_upstream,
            "uses the input x instead of the output tanh(x)": tanh_backward_input_not_output,
            "sign flipped": tanh_backward_sign_flipped,
            "1 - tanh instead of 1 - tanh squared": tanh_backward_not_squared,
        },
    },
    "ch01.topological_order": {
        "correct": order_kahn,
        "wrong": {
            "recursive depth-first search (RecursionError on a deep chain)": order_recursive,
            "walks once per path (exponential on diamonds)": order_per_path,
            "breadth-first from the root": order_breadth_first,
            "post-order not reversed (inputs first)": order_not_reversed,
        },
    },
    "ch01.grad_by_hand": {
        "correct": grad_by_hand,
        "wrong": {
            "forgets the path of a through tanh": grad_only_direct_path,
            "forgets the direct factor a": grad_only_inner_path,
            "tanh' = sech instead of sech squared": grad_sech_not_squared,
        },
    },
}
