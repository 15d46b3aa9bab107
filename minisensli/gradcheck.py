"""Numerical gradients by finite differences, ``gradcheck`` to compare them with backward, and
``gradgradcheck`` for second derivatives (the recorded backward pass).

For a function f of tensors with output y, pick a fixed random upstream gradient u (same
shape as y) and look at the scalar s = sum(u * f(x)). Its gradient w.r.t. each input is what
backward computes when it is given u; numerically, per entry i of an input,

    central:   ds/dx_i ~ (s(x + eps e_i) - s(x - eps e_i)) / (2 eps)
    forward:   ds/dx_i ~ (s(x + eps e_i) - s(x)) / eps
    backward:  ds/dx_i ~ (s(x) - s(x - eps e_i)) / eps

A random u (not all ones) catches errors that would cancel in a plain sum of the outputs.
The one-sided differences are for kinks: at a ReLU that sits exactly at 0 the convention
relu'(0) = 0 equals the backward (left) difference, while the central one gives half the
slope (this matters for SensLI's identity-initialised layers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import backend, checks
from .autograd import Tensor, enable_grad, grad, no_grad
from .ops import concatenate


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree (the message names the input and entry)."""


def _scalar_output(fn: Callable, inputs: Sequence[Tensor], upstream: Any) -> float:
    with no_grad():
        out = fn(*inputs)
    return float((out.data * upstream).sum())


def numerical_gradients(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    upstream: Any,
    eps: float = 1e-6,
    mode: str = "central",
) -> list[Any]:
    """Finite-difference gradients of sum(upstream * fn(*inputs)) w.r.t. every input that
    requires grad (None for the others). ``mode``: 'central', 'forward' or 'backward'."""
    if mode not in ("central", "forward", "backward"):
        raise ValueError(f"numerical_gradients: mode must be 'central', 'forward' or 'backward', got {mode!r}")
    checks.positive("numerical_gradients: eps", eps)
    base = _scalar_output(fn, inputs, upstream) if mode != "central" else 0.0
    grads: list[Any] = []
    for t in inputs:
        if not t.requires_grad:
            grads.append(None)
            continue
        t.data = t.data.copy()  # contiguous and writable, so the flat view below aliases it
        flat = t.data.reshape(-1)  # writing to this view perturbs the tensor in place
        grad = backend.get_array_module(t.data).zeros(flat.shape, dtype=t.dtype)
        for i in range(flat.size):
            original = flat[i].item()
            flat[i] = original + eps
            plus = _scalar_output(fn, inputs, upstream) if mode != "backward" else base
            flat[i] = original - eps
            minus = _scalar_output(fn, inputs, upstream) if mode != "forward" else base
            flat[i] = original
            grad[i] = (plus - minus) / (eps if mode != "central" else 2 * eps)
        grads.append(grad.reshape(t.shape))
    return grads


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    mode: str = "central",
    seed: int = 0,
) -> bool:
    """Check backward of ``fn`` against finite differences, for every input that requires grad.

    Inputs must be float64 tensors (float32 differences are too coarse); they may be results
    of other ops (non-leaf): the gradient is taken with respect to their values, through
    detached copies, so the caller's tensors, their graphs and their ``.grad`` stay untouched.
    An entry passes when |analytic - numeric| <= atol + rtol * |numeric|; a NaN or infinite
    gradient (analytic or numerical) never passes. Returns True, or raises GradcheckError
    naming the input index, the worst entry, and the analytic and numerical values.
    """
    eps = checks.positive("gradcheck: eps", eps)
    atol = checks.non_negative("gradcheck: atol", atol)
    rtol = checks.non_negative("gradcheck: rtol", rtol)
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"gradcheck: input {i} is a {type(t).__name__}, expected a Tensor")
    if not any(t.requires_grad for t in inputs):
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for i, t in enumerate(inputs):
        if t.requires_grad and t.dtype != backend.as_dtype("float64"):
            raise TypeError(f"gradcheck: input {i} is {t.dtype}; use float64 inputs for finite differences")
    # fresh leaves with the same values: a non-leaf input gets a .grad too, and perturbing
    # the entries below cannot touch the caller's arrays
    inputs = [Tensor._wrap(t.data.copy(), False, None).requires_grad_(t.requires_grad) for t in inputs]

    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if not out.requires_grad:
        raise ValueError("gradcheck: fn's output does not depend on any input that requires grad")
    xp = backend.get_array_module(out.data)
    rng = backend.get_array_module().random.default_rng(seed)  # numpy's generator, same draws on any device
    upstream = backend.to_device(rng.standard_normal(out.shape).astype(out.dtype), out.device)

    out.backward(upstream)
    analytic = [t.grad if t.grad is not None else xp.zeros(t.shape, dtype=t.dtype) for t in inputs]
    numeric = numerical_gradients(fn, inputs, upstream, eps=eps, mode=mode)

    for i, (t, a, n) in enumerate(zip(inputs, analytic, numeric)):
        if n is None:
            continue
        for kind, values in (("analytic", a), ("numerical", n)):
            bad = ~xp.isfinite(values)
            if bad.any():
                where = tuple(int(k) for k in xp.unravel_index(int(bad.argmax()), bad.shape))
                raise GradcheckError(
                    f"gradcheck: {kind} gradient of input {i} (shape {t.shape}) is {float(values[where])} at entry "
                    f"{where}: analytic {float(a[where]):.10g}, numerical {float(n[where]):.10g} "
                    f"({mode} differences, eps={eps})"
                )
        excess = abs(a - n) - (atol + rtol * abs(n))
        if excess.size and float(excess.max()) > 0:
            worst = tuple(int(k) for k in xp.unravel_index(int(excess.argmax()), excess.shape))
            raise GradcheckError(
                f"gradcheck: gradient of input {i} (shape {t.shape}) is wrong at entry {worst}: "
                f"analytic {float(a[worst]):.10g}, numerical {float(n[worst]):.10g} "
                f"(atol={atol}, rtol={rtol}, eps={eps}, {mode} differences)"
            )
    return True


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    mode: str = "central",
    seed: int = 0,
) -> bool:
    """Check second derivatives of ``fn``: the recorded backward pass against finite differences
    of first derivatives (PyTorch's ``gradgradcheck``, Chainer's ``check_double_backward``).

    The first derivative with an upstream gradient u, G(x, u) = d/dx sum(u * fn(x)) (computed by
    ``grad(..., create_graph=True)``), is itself a function of the inputs and of u; ``gradcheck``
    then checks its backward (the double backward of every op in fn) against central differences
    of G, for every input that requires grad and for u. u is ``grad_outputs`` or a fixed random
    draw (``seed``). Inputs must be float64. Returns True or raises GradcheckError.
    """
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"gradgradcheck: input {i} is a {type(t).__name__}, expected a Tensor")
    wanted = [i for i, t in enumerate(inputs) if t.requires_grad]
    if not wanted:
        raise ValueError("gradgradcheck: no input has requires_grad=True, so there is nothing to check")
    with no_grad():
        out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradgradcheck: fn must return a Tensor, got {type(out).__name__}")
    if grad_outputs is None:
        rng = backend.get_array_module().random.default_rng(seed + 1)
        upstream = backend.to_device(rng.standard_normal(out.shape).astype(out.dtype), out.device)
    else:
        upstream = grad_outputs.data if isinstance(grad_outputs, Tensor) else grad_outputs
        if tuple(upstream.shape) != out.shape:
            raise ValueError(f"gradgradcheck: grad_outputs has shape {upstream.shape}, fn's output {out.shape}")

    def first_derivative(*args: Tensor) -> Tensor:
        xs, u = list(args[:-1]), args[-1]
        with enable_grad():
            y = fn(*xs)
            gs = grad(y, [xs[i] for i in wanted], grad_outputs=u, create_graph=True, allow_unused=True)
            pieces = [g.reshape(-1) for g in gs if g is not None]
            if not pieces:
                raise ValueError("gradgradcheck: fn's output does not depend on any input that requires grad")
            return concatenate(pieces)

    u = Tensor(backend.as_array(upstream, dtype=out.dtype, device=out.device), requires_grad=True)
    try:
        return gradcheck(first_derivative, [*inputs, u], eps=eps, atol=atol, rtol=rtol, mode=mode, seed=seed)
    except GradcheckError as err:
        # gradcheck numbers fn's inputs and then u; say which one failed in the caller's terms
        failed = str(err).split("input ", 1)[1].split(" ", 1)[0] if "input " in str(err) else ""
        which = (
            f"the upstream gradient u (grad_outputs, shape {out.shape}): d/du of G(x, u) = d/dx sum(u * fn(x))"
            if failed == str(len(inputs))
            else f"input {failed} of fn: d/dx of G(x, u) = d/dx sum(u * fn(x)), the double backward"
            if failed
            else "G(x, u) = d/dx sum(u * fn(x))"
        )
        raise GradcheckError(f"gradgradcheck: second derivatives disagree for {which}; {err}") from None
