"""Hessian-vector products and Hessians from the recorded backward pass (PyTorch's
``torch.autograd.functional.hvp`` and ``hessian``).

For a scalar function f of x with gradient g(x) = df/dx, the Hessian-vector product is

    H v = d/dx ( g(x) . v )

one backward with ``create_graph=True`` (g as a Tensor with a graph), a dot product with v,
and one more backward: about the cost of two gradients, without ever forming H (n x n). The
full Hessian needs n such backward passes, one per entry of x: for small problems only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import backend
from .autograd import Tensor, enable_grad, grad
from .ops import concatenate


def _leaves(name: str, inputs: Tensor | Sequence[Tensor]) -> tuple[list[Tensor], bool]:
    """Fresh leaves that require grad, with the inputs' values (the caller's tensors stay untouched)."""
    single = isinstance(inputs, Tensor)
    items = [inputs] if single else list(inputs)  # type: ignore[arg-type]
    leaves = []
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: input {i} is a {type(t).__name__}, expected a Tensor")
        if not backend.is_floating(t.dtype):
            raise TypeError(f"{name}: input {i} has dtype {t.dtype}; derivatives need floating-point inputs")
        leaves.append(Tensor._wrap(t.data, False, None).requires_grad_(True))
    return leaves, single


def _scalar_output(name: str, f: Callable[..., Tensor], xs: list[Tensor]) -> Tensor:
    with enable_grad():
        out = f(*xs)
    if not isinstance(out, Tensor) or out.size != 1:
        shape = out.shape if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{name}: f must return a Tensor with a single element, got {shape}")
    if not out.requires_grad:
        raise ValueError(f"{name}: f's output does not depend on its inputs")
    return out


def _zeros_for(gs: Sequence[Tensor | None], xs: list[Tensor]) -> list[Tensor]:
    """Gradients with None (the output does not depend on that input) replaced by zeros."""
    return [
        g if g is not None else Tensor._wrap(backend.get_array_module(x.data).zeros_like(x.data), False, None)
        for g, x in zip(gs, xs)
    ]


def hvp(
    f: Callable[..., Tensor], inputs: Tensor | Sequence[Tensor], v: Any, create_graph: bool = False
) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
    """(f(inputs), H v): the Hessian of the scalar f at ``inputs`` times ``v``, as in PyTorch.

    inputs: a Tensor or a sequence of Tensors (then v is a sequence of the same shapes and the
    product is a tuple: H is the Hessian w.r.t. all inputs together). f must return a
    one-element Tensor. create_graph: keep the graph of the result (for third derivatives).
    Cost: two backward passes; H is never formed.
    """
    xs, single = _leaves("hvp", inputs)
    vs = [v] if single else list(v)
    if len(vs) != len(xs):
        raise ValueError(f"hvp: got {len(vs)} vectors for {len(xs)} inputs")
    vs = [
        t if isinstance(t, Tensor) else Tensor(backend.as_array(t, dtype=x.dtype, device=x.device))
        for t, x in zip(vs, xs)
    ]
    for i, (t, x) in enumerate(zip(vs, xs)):
        if t.shape != x.shape:
            raise ValueError(f"hvp: v[{i}] has shape {t.shape}, input {i} has shape {x.shape}")
    out = _scalar_output("hvp", f, xs)
    with enable_grad():
        gs = _zeros_for(grad(out, xs, create_graph=True, allow_unused=True), xs)
        dot = None
        for g, t in zip(gs, vs):
            if g.requires_grad:
                term = (g * t).sum()
                dot = term if dot is None else dot + term
        if dot is None:  # f is linear in its inputs: H = 0
            products = _zeros_for([None] * len(xs), xs)
        else:
            products = _zeros_for(grad(dot, xs, create_graph=create_graph, allow_unused=True), xs)
    result = products[0] if single else tuple(products)
    return out.detach(), result


def hessian(f: Callable[..., Tensor], inputs: Tensor | Sequence[Tensor]) -> Tensor | tuple[tuple[Tensor, ...], ...]:
    """The Hessian of the scalar f at ``inputs``, as in PyTorch: for one input x a Tensor of
    shape x.shape + x.shape; for several, a tuple of tuples, entry [i][j] of shape
    inputs[i].shape + inputs[j].shape. One backward pass per entry of the inputs (n in all):
    meant for small problems."""
    xs, single = _leaves("hessian", inputs)
    out = _scalar_output("hessian", f, xs)
    with enable_grad():
        gs = _zeros_for(grad(out, xs, create_graph=True, allow_unused=True), xs)
        flat = concatenate([g.reshape(-1) for g in gs])
    xp = backend.get_array_module(flat.data)
    n = flat.shape[0]
    rows = []
    for k in range(n):
        if flat.requires_grad:
            unit = xp.zeros(n, dtype=flat.dtype)
            unit[k] = 1
            row = _zeros_for(grad(flat, xs, grad_outputs=unit, retain_graph=True, allow_unused=True), xs)
        else:
            row = _zeros_for([None] * len(xs), xs)
        rows.append([r.data for r in row])
    blocks = []
    offsets = [0]
    for x in xs:
        offsets.append(offsets[-1] + x.size)
    for i, xi in enumerate(xs):
        blocks.append(
            tuple(
                Tensor(xp.stack([rows[k][j] for k in range(offsets[i], offsets[i + 1])]).reshape(xi.shape + xj.shape))
                for j, xj in enumerate(xs)
            )
        )
    return blocks[0][0] if single else tuple(blocks)
