# %% [markdown]
# # Chapter 1 — Autograd from scratch
#
# *Reading time: about 45 min; exercises: about 45 min.*
#
# **What you build.** A reverse-mode automatic differentiation engine for scalars, in about forty
# lines: a `Value` that remembers how it was computed, an *iterative* topological order of the
# computation graph, and a backward pass that applies the chain rule once per node. Then you meet
# the same mechanism on arrays in the package: `ms.Tensor`, `ms.Function` with its `Context`,
# gradient accumulation, `ms.no_grad()`, and what happens when you call `backward` twice.
#
# **You need.** Python and NumPy; derivatives of functions of one variable and the chain rule.
#
# **Package module.** `minisensli/autograd.py` (`Tensor`, `Function`, `Context`, `Tensor.backward`,
# `no_grad`). The operations it calls (`+`, `*`, `tanh`, ...) live in `minisensli/ops/`, the
# subject of Chapter 2.

# %%
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np

import minisensli as ms
from minisensli.exercises import check

ms.set_default_dtype("float64")
ms.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The chain rule on a graph
#
# Take one neuron with two inputs, $L = \tanh(x_1 w_1 + x_2 w_2 + b)$, and give every intermediate
# result a name:
#
# $$p_1 = x_1 w_1,\quad p_2 = x_2 w_2,\quad s = p_1 + p_2,\quad z = s + b,\quad L = \tanh z .$$
#
# Each line is one *operation*, and each operation knows only its **local derivatives**:
# $\partial p_1/\partial w_1 = x_1$, $\partial s/\partial p_1 = 1$, $\partial z/\partial b = 1$,
# $\mathrm{d}L/\mathrm{d}z = 1 - \tanh^2 z = 1 - L^2$. The chain rule multiplies them along the way
# from $L$ back to a leaf:
#
# $$\frac{\partial L}{\partial w_1} = \frac{\mathrm{d}L}{\mathrm{d}z}\,\frac{\partial z}{\partial s}\,
#   \frac{\partial s}{\partial p_1}\,\frac{\partial p_1}{\partial w_1} = (1 - L^2)\cdot 1\cdot 1\cdot x_1 .$$
#
# *Reverse mode* organises this as one sweep from the output to the inputs. Write
# $\bar v = \partial L/\partial v$ for the gradient of the output with respect to a node $v$ (its
# *adjoint*). Start from $\bar L = 1$ and, for every node $u$,
#
# $$\bar u = \sum_{v \,\text{computed from}\, u} \bar v\,\frac{\partial v}{\partial u}.$$
#
# The sum runs over every operation that consumed $u$: when $u$ is used twice, its two
# contributions add up. Keep that sum in mind; it is the source of both the main bug (section 6)
# and the main cost problem (section 3) of a naive engine.

# %%
x1, w1, x2, w2, b = 1.5, -0.8, 0.5, 1.2, 0.3
z = x1 * w1 + x2 * w2 + b
L = math.tanh(z)
dL_dz = 1 - L**2  # the only non-trivial local derivative
by_hand = {"x1": dL_dz * w1, "w1": dL_dz * x1, "x2": dL_dz * w2, "w2": dL_dz * x2, "b": dL_dz}


def neuron(x1, w1, x2, w2, b):
    return math.tanh(x1 * w1 + x2 * w2 + b)


def central_difference(f, args, name, eps=1e-6):
    """(f(.., name + eps, ..) - f(.., name - eps, ..)) / (2 eps): the slope of f along one argument."""
    plus, minus = dict(args, **{name: args[name] + eps}), dict(args, **{name: args[name] - eps})
    return (f(**plus) - f(**minus)) / (2 * eps)


args = {"x1": x1, "w1": w1, "x2": x2, "w2": w2, "b": b}
for name, grad in by_hand.items():
    numeric = central_difference(neuron, args, name)
    assert abs(grad - numeric) < 1e-8, (name, grad, numeric)
print(f"L = {L:.6f};", ", ".join(f"dL/d{k} = {v:+.6f}" for k, v in by_hand.items()))

# %% [markdown]
# Every hand derivation in this course is followed by such a check: if the formula were wrong
# (say $1 - L$ instead of $1 - L^2$), the `assert` would stop the chapter.
#
# ## 2. A `Value` that remembers how it was computed
#
# To automate the sweep, each result must remember its inputs (its **parents** in the graph) and
# the local derivative with respect to each of them. For scalars the local derivatives are plain
# numbers, so we compute them right away in the forward pass and store them next to the parents.
# Every operation builds one new Value from the result, the parents and the local derivatives
# (`exp`, `-` or `**` would look the same; try adding one).


# %%
class Value:
    """A scalar that remembers the Values it was computed from and the local derivatives."""

    def __init__(self, data, parents=(), local_grads=(), label=""):
        self.data = float(data)
        self.grad = 0.0  # dL/d(self), filled in by the backward pass
        self.parents = parents  # the Values this one was computed from
        self.local_grads = local_grads  # d(self)/d(parent), one number per parent
        self.label = label  # a name for leaves, the operation for results

    def __repr__(self):
        return f"Value({self.label} = {self.data:.4g}, grad={self.grad:.4g})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other, label=f"{other:g}")
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other, label=f"{other:g}")
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    __radd__, __rmul__ = __add__, __mul__  # 2 * v and 2 + v

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), (1 - t * t,), "tanh")

    def relu(self):
        return Value(max(self.data, 0.0), (self,), (1.0 if self.data > 0 else 0.0,), "relu")


# %% [markdown]
# A `Value` has no `__eq__`, so it is hashed by identity: two different nodes that hold the same
# number stay two nodes in a `set`, which is what a graph walk needs. Building the neuron with
# Values runs the same arithmetic and leaves a graph behind.


# %%
def make_neuron():
    leaves = {name: Value(v, label=name) for name, v in args.items()}
    out = (leaves["x1"] * leaves["w1"] + leaves["x2"] * leaves["w2"] + leaves["b"]).tanh()
    return out, leaves


out, leaves = make_neuron()
assert out.data == L
print(out, "<-", out.parents[0], "<-", out.parents[0].parents)

# %% [markdown]
# ## 3. Walking the graph backward: two ways that fail
#
# **Per path.** The simplest backward pass pushes the upstream gradient from a node to each parent
# and recurses. Every path from $L$ to a leaf contributes the product of the local derivatives along
# it, and the adjoint of a leaf is the sum over all paths, so this walk is *correct*:


# %%
def backward_per_path(node, upstream, visits):
    """Add `upstream` to node.grad, then recurse into every parent: once per path."""
    visits[0] += 1
    node.grad += upstream
    for parent, local in zip(node.parents, node.local_grads):
        backward_per_path(parent, upstream * local, visits)


out, leaves = make_neuron()
visits = [0]
backward_per_path(out, 1.0, visits)
for name, leaf in leaves.items():
    assert abs(leaf.grad - by_hand[name]) < 1e-15, name
print(f"per-path walk: correct gradients, {visits[0]} visits for 10 nodes (a tree: one path to each)")

# %% [markdown]
# Correct, but it visits a node once **per path** that leads to it. In a tree every node has one
# path; in a network, values are reused. A residual block $x \leftarrow x + \tanh(w x)$ uses $x$
# twice, which makes a *diamond* in the graph; stacking $n$ blocks gives $2^n$ paths from the output
# to the input. The per-path walk visits a block's three results and $w$ once per path into the
# block and the block's input twice over, $V(n) = 4 + 2\,V(n-1)$ with $V(0) = 1$, so
# $V(n) = 5 \cdot 2^n - 4$ visits for a graph of $3n + 2$ nodes. Counted (and asserted):


# %%
def residual_chain(x, w, depth):
    """`depth` residual blocks x <- x + tanh(w * x); every block uses x twice (a diamond)."""
    for _ in range(depth):
        x = x + (w * x).tanh()
    return x


depths = range(1, 15)
path_visits, graph_nodes = [], []
for depth in depths:
    x, w = Value(0.3, label="x"), Value(0.5, label="w")
    y = residual_chain(x, w, depth)
    visits = [0]
    backward_per_path(y, 1.0, visits)
    path_visits.append(visits[0])
    graph_nodes.append(2 + 3 * depth)  # x, w, and three results per block
print("depth 14:", path_visits[-1], "visits for", graph_nodes[-1], "nodes")
assert path_visits == [5 * 2**depth - 4 for depth in depths]  # doubles with every block

# %% [markdown]
# **Recursion.** Even a walk that visits each node once fails if it recurses: Python stops at
# `sys.getrecursionlimit()` nested calls (1000 by default), and a graph is as deep as the longest
# chain of operations in it. A loop that updates a value 5 000 times (an unrolled recurrence, a long
# sequence) is far deeper than that. Here is the classic recursive depth-first sort:


# %%
def topological_order_recursive(root):
    order, visited = [], set()

    def visit(node):
        if node not in visited:
            visited.add(node)
            for parent in node.parents:
                visit(parent)
            order.append(node)  # after all of its inputs

    visit(root)
    return order[::-1]


deep = Value(0.5, label="x")
for _ in range(5_000):
    deep = deep * 0.9999 + 0.0001
try:
    topological_order_recursive(deep)
except RecursionError as err:
    print("RecursionError:", err)

# %% [markdown]
# ## 4. An iterative topological order, and the backward pass
#
# The fix for both problems is to **order** the graph first and then visit each node exactly once.
# A node's adjoint $\bar u$ is complete once every node computed from $u$ has passed its
# contribution on, so we need an order in which every node comes before all of its inputs (the
# output first, the leaves last): a *topological order* of the graph with the arrows pointing from
# results to inputs.
#
# A depth-first search gives one: a node is appended to a list after all of its inputs
# (*post-order*), and the reversed list is the order we need. Instead of recursing, we keep the
# pending work on an explicit stack. Each entry carries a flag: `False` means "expand this node",
# `True` means "its inputs are done, append it". A `visited` set makes sure that a node reached
# along a second path is not expanded again.


# %%
def topological_order(root):
    """The Values reachable from root, root first, every node before all of its inputs."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)  # post-order: after all of its inputs
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))  # comes back once the parents below it are done
        for parent in node.parents:
            if parent not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


def backprop(root):
    """Fill .grad of every node reachable from root with d(root)/d(node)."""
    root.grad = 1.0
    for node in topological_order(root):  # each node once, after all of its consumers
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += local * node.grad  # += : a parent used twice collects both terms


# %% [markdown]
# Two checks, each of which would fail if the order were wrong: the order itself (each node once,
# every node before its inputs), and the gradients against the hand-computed ones.


# %%
def assert_valid_order(order):
    position = {node: i for i, node in enumerate(order)}
    assert len(position) == len(order), "a node appears twice"
    for node in order:
        for parent in node.parents:
            assert position[parent] > position[node], f"{parent} comes before its consumer {node}"


out, leaves = make_neuron()
assert_valid_order(topological_order(out))
backprop(out)
for name, leaf in leaves.items():
    assert abs(leaf.grad - by_hand[name]) < 1e-15, name
print("order:", " ".join(node.label for node in topological_order(out)))

order = topological_order(deep)  # the 5 000-step chain: no recursion, no problem
assert_valid_order(order)
print(len(order), "nodes in the deep chain, ordered iteratively")

# %% [markdown]
# The ordered walk gives the same gradients as the per-path walk on the residual chain, and it
# visits each node once. At depth 40 the per-path walk would need about $2^{40} \approx 10^{12}$
# visits; the ordered walk needs 122, and central differences agree with it.

# %%
for depth in (3, 8):
    x_a, w_a = Value(0.3), Value(0.5)
    x_b, w_b = Value(0.3), Value(0.5)
    backprop(residual_chain(x_a, w_a, depth))
    backward_per_path(residual_chain(x_b, w_b, depth), 1.0, [0])
    assert abs(x_a.grad - x_b.grad) < 1e-12 and abs(w_a.grad - w_b.grad) < 1e-12

x, w = Value(0.3), Value(0.5)
y = residual_chain(x, w, 40)
backprop(y)
print(len(topological_order(y)), "nodes visited once at depth 40")


def chain_value(x, w):
    return residual_chain(Value(x), Value(w), 40).data


numeric = [central_difference(chain_value, {"x": 0.3, "w": 0.5}, name) for name in ("x", "w")]
np.testing.assert_allclose([x.grad, w.grad], numeric, rtol=1e-7)
print(f"dy/dx = {x.grad:.6f}, dy/dw = {w.grad:.6f} (central differences: {numeric[0]:.6f}, {numeric[1]:.6f})")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(depths, path_visits, "o-", label="per-path walk: visits")
ax.semilogy(depths, graph_nodes, "s-", label="ordered walk: nodes (each visited once)")
ax.set_xlabel("number of residual blocks")
ax.set_ylabel("node visits in one backward pass")
ax.set_title("Every diamond doubles the paths")
ax.legend()
plt.show()

# %% [markdown]
# ## 5. The graph, with values and gradients
#
# A picture of the neuron's graph after `backprop`: leaves on the left, every result one column
# to the right of its deepest input, each box showing the operation, the value and the gradient
# $\partial L/\partial v$. Read it from right to left: the gradient of `tanh`'s input is
# $1 - L^2$ times 1; an addition passes its gradient unchanged to both inputs; a product hands each
# input the gradient times the *other* input.


# %%
def draw_graph(ax, root):
    """Leaves in column 0; every result one column right of its deepest input."""
    order = topological_order(root)[::-1]  # inputs before results
    column = {}
    for node in order:
        column[node] = 1 + max((column[p] for p in node.parents), default=-1)
    columns = {}
    for node in order:
        columns.setdefault(column[node], []).append(node)
    pos = {node: (c, i - (len(nodes) - 1) / 2) for c, nodes in columns.items() for i, node in enumerate(nodes)}
    for node in order:
        for parent in set(node.parents):  # from the right edge to the left edge
            (x0, y0), (x1_, y1_) = pos[parent], pos[node]
            ax.annotate(
                "",
                xy=(x1_ - 0.34, y1_),
                xytext=(x0 + 0.34, y0),
                arrowprops=dict(arrowstyle="->", color="0.45", shrinkA=0, shrinkB=0),
            )
        ax.text(
            *pos[node],
            f"{node.label}\n{node.data:.3f}\ngrad {node.grad:+.3f}",
            ha="center",
            va="center",
            fontsize=8,
            bbox=dict(boxstyle="round", fc="lightyellow" if node.parents else "w"),
        )
    height = max(len(nodes) for nodes in columns.values())
    ax.set_xlim(-0.5, max(columns) + 0.5)
    ax.set_ylim(-height / 2, height / 2)
    ax.axis("off")


# %%
out, leaves = make_neuron()
backprop(out)
fig, ax = plt.subplots(figsize=(8, 4))
draw_graph(ax, out)
ax.set_title(r"$L = \tanh(x_1 w_1 + x_2 w_2 + b)$: values and $\partial L/\partial v$")
plt.show()

# %% [markdown]
# ## 6. A value used twice: gradients accumulate
#
# For $f = x\cdot x + x$ the node $x$ feeds three inputs (both inputs of the product and one of the
# sum), so $\bar x$ is a sum of three terms, $x + x + 1 = 2x + 1$. That is why `backprop` writes
# `parent.grad += ...`. Replace the `+=` by `=` and each new contribution overwrites the previous
# ones: the result is silently wrong, no error is raised. Only a check against a known derivative
# (or finite differences) notices.


# %%
def backprop_overwriting(root):
    """The bug: `=` instead of `+=`, so only the last contribution to each node survives."""
    root.grad = 1.0
    for node in topological_order(root):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad = local * node.grad


x = Value(3.0, label="x")
backprop(x * x + x)
assert x.grad == 2 * 3.0 + 1
x_bug = Value(3.0, label="x")
backprop_overwriting(x_bug * x_bug + x_bug)
print(f"df/dx at x = 3: accumulating {x.grad}, overwriting {x_bug.grad} (true value 7)")

# %% [markdown]
# ## 7. The same expressions in the package
#
# `ms.Tensor` is the array version of `Value`. A tensor created with `requires_grad=True` is a leaf
# whose gradient we want; every operation on it records a node; `y.backward()` fills `.grad` of the
# leaves. The neuron and the residual chain give the same gradients as our engine, up to round-off.

# %%
tensors = {name: ms.Tensor(v, requires_grad=True) for name, v in args.items()}
L_ms = (tensors["x1"] * tensors["w1"] + tensors["x2"] * tensors["w2"] + tensors["b"]).tanh()
L_ms.backward()
out, leaves = make_neuron()
backprop(out)
for name in args:
    np.testing.assert_allclose(tensors[name].grad, leaves[name].grad, rtol=1e-14, atol=1e-15)
print("neuron: ms.Tensor gradients == Value gradients;", L_ms, L_ms.dtype)

x_t, w_t = ms.Tensor(0.3, requires_grad=True), ms.Tensor(0.5, requires_grad=True)
residual_chain(x_t, w_t, 40).backward()
x_v, w_v = Value(0.3), Value(0.5)
backprop(residual_chain(x_v, w_v, 40))
np.testing.assert_allclose([x_t.grad, w_t.grad], [x_v.grad, w_v.grad], rtol=1e-12)
print(f"residual chain, depth 40: dy/dx = {float(x_t.grad):.6f}, dy/dw = {float(w_t.grad):.6f}")

# %% [markdown]
# The point of the package is arrays. With $x$ and $w$ as vectors the neuron is
# $L = \tanh(x \cdot w + b)$, one operation for the whole dot product, and `w.grad` holds the two
# gradients that our scalar engine computed one node at a time.

# %%
x_vec = ms.Tensor([x1, x2])  # data: no gradient wanted
w_vec = ms.Tensor([w1, w2], requires_grad=True)
b_t = ms.Tensor(b, requires_grad=True)
L_vec = (x_vec @ w_vec + b_t).tanh()
L_vec.backward()
np.testing.assert_allclose(w_vec.grad, [leaves["w1"].grad, leaves["w2"].grad], rtol=1e-14)
print("w.grad =", w_vec.grad, " b.grad =", b_t.grad, " x.grad =", x_vec.grad)

# %% [markdown]
# `x_vec` did not ask for a gradient, so it gets none (`None`), and the engine does not even
# compute it.
#
# **Accumulation, twice over.** Inside one backward pass the package sums the contributions of a
# tensor used several times, as our `+=` does. It *also* adds to a leaf's existing `.grad` across
# backward passes: a second forward and backward on a new graph adds its gradient to the first.
# That is deliberate (it lets you sum gradients over several batches), and it is why a training
# loop sets the gradients to `None` before each step (Chapter 5).

# %%
x = ms.Tensor(3.0, requires_grad=True)
(x * x + x).backward()
assert x.grad == 7.0  # 2x + 1: three contributions in one pass
(x * x + x).backward()  # a new graph, a second pass
assert x.grad == 14.0  # added to the first
x.grad = None  # start afresh
(x * x + x).backward()
print("after resetting:", x.grad)

# %% [markdown]
# ## 8. Not recording: `ms.no_grad()`
#
# Recording costs memory: every operation keeps the arrays its backward will need. Evaluating a
# model on test data or updating parameters needs no gradient, so these run inside
# `with ms.no_grad():`, where results are plain leaves that do not require gradients. Asking such a
# result for a backward pass is an error, and the message says why.

# %%
w = ms.Tensor(0.5, requires_grad=True)
with ms.no_grad():
    y = (w * 3.0).tanh()
assert not y.requires_grad and y.is_leaf and y._ctx is None
assert ms.is_grad_enabled()  # recording is back on after the block
try:
    y.backward()
except RuntimeError as err:
    print("RuntimeError:", err)

y = (w * 3.0).tanh()  # outside: recorded again
print(y, "requires_grad:", y.requires_grad)

# %% [markdown]
# ## 9. A second backward: the graph is freed
#
# After backward has passed through an operation, the arrays that operation saved are no longer
# needed, and the engine drops them at once: in a network, those saved activations are most of the
# memory a training step uses. A second `backward` through the same graph therefore has nothing to
# work with and stops with an error instead of returning garbage. If you really need two passes,
# keep the graph with `retain_graph=True` on the first one.

# %%
a = ms.Tensor(2.0, requires_grad=True)
y = (a * a).tanh()
y.backward()
first = float(a.grad)
try:
    y.backward()
except RuntimeError as err:
    print("RuntimeError:", err)

a.grad = None
y = (a * a).tanh()
y.backward(retain_graph=True)
y.backward()  # allowed: the first pass kept the graph
np.testing.assert_allclose(a.grad, 2 * first, rtol=1e-15)
print(f"two passes with retain_graph=True: grad {float(a.grad):.6f} = 2 x {first:.6f}")

# %% [markdown]
# ## 10. Reading the engine: `Function` and `Context`
#
# Our `Value` computed its local derivatives during the forward pass and stored them as numbers.
# For arrays that does not scale: the local derivative of an operation from $n$ numbers to $m$
# numbers is an $m\times n$ Jacobian matrix. A $1000\times1000$ elementwise `tanh` would store a
# $10^6\times10^6$ matrix that is zero off its diagonal. What backward needs is only the product of
# the upstream gradient with that Jacobian (a *vector–Jacobian product*), and each operation knows
# how to compute it cheaply. So the package splits every operation into a `Function` with two static
# methods:
#
# - `forward(ctx, *arrays)` computes the result from raw arrays and saves on the `Context` what
#   backward will need (`ctx.save_for_backward(...)`);
# - `backward(ctx, grad)` receives $\partial L/\partial\,\text{output}$ and returns one gradient per
#   input. In training it runs on raw arrays. Its formula uses only operations that arrays and
#   tensors both have (`*`, `-`, `@`, the package's ops), so the very same lines also run on
#   tensors when the graph of the gradient itself is wanted (`backward(create_graph=True)`, for
#   second derivatives: chapter 3).
#
# Here is the package's `tanh`, read from its source. It saves the *output* $y$, because
# $\mathrm{d}y/\mathrm{d}x = 1 - y^2$ needs nothing else:

# %%
from minisensli.ops.activation import Tanh

print(inspect.getsource(Tanh))

# %% [markdown]
# `Function.apply` is the piece that links the graph: it runs `forward` on the arrays inside the
# tensors and, if any input requires a gradient (and recording is on), wraps the result in a tensor
# whose `_ctx` points to the `Context`. The context stores the input tensors as `parents`, the role
# `Value.parents` played above. (Its last two lines let a view, such as a reshape, share the
# version counter of the tensor that owns the memory: backward refuses to use a saved tensor that
# an in-place update, such as an optimizer step, changed after the forward pass.)

# %%
print(inspect.getsource(ms.Function.apply))

# %% [markdown]
# A live graph, inspected before and after backward. Note `saved_arrays` becoming empty: that is the
# freeing from section 9, done by `Context.release`.

# %%
x = ms.Tensor(rng.standard_normal(3), requires_grad=True)
y = (x * 2.0).tanh()
ctx = y._ctx  # the node that produced y (internal attribute)
print(
    "function:",
    ctx.function.__name__,
    "| parents:",
    [p.shape for p in ctx.parents],
    "| needs_input_grad:",
    ctx.needs_input_grad,
)
np.testing.assert_array_equal(ctx.saved_arrays[0], y.data)  # tanh saved its output
y.backward(np.ones(3))
print("saved after backward:", ctx.saved_arrays, "| released:", ctx.released)
np.testing.assert_allclose(x.grad, 2.0 * (1 - np.tanh(2.0 * x.data) ** 2), rtol=1e-14)

# %% [markdown]
# `Tensor.backward` then does what our `backprop` did, on arrays: it orders the graph with the same
# stack-based depth-first search (read `minisensli.autograd._topological_order`), keeps the running
# gradients in a dictionary keyed by tensor, adds them up when a tensor is reached twice, calls each
# `Function.backward` once, checks that every returned gradient has the shape of its input, and
# adds to `.grad` on the leaves. One difference from our `backprop`: the leaves are not in the
# order. An op's result must wait until every path has delivered its gradient, but a leaf passes
# nothing on, so it can add each contribution to its `.grad` as it arrives. On the depth-40
# residual chain the order holds each op's result once, and only those:

# %%
x_t = ms.Tensor(0.3, requires_grad=True)
w_t = ms.Tensor(0.5, requires_grad=True)
y_t = residual_chain(x_t, w_t, 40)
order = ms.autograd._topological_order(y_t)  # internal helper, read here only
assert len(order) == len({id(t) for t in order}) == 3 * 40  # 3 ops per block; x_t and w_t are leaves
assert order[0] is y_t
print(len(order), "op results, each once; the output first")

# %% [markdown]
# ## Summary
#
# - Reverse mode computes $\bar u = \sum_{v} \bar v\, \partial v/\partial u$ over the consumers $v$
#   of each node $u$, from the output to the leaves: one sweep gives the gradient with respect to
#   every input.
# - Each operation only knows its local derivatives; the engine combines them. A scalar engine can
#   store them as numbers; an array engine stores what it needs on a `Context` and computes a
#   vector–Jacobian product in `Function.backward`.
# - The sweep needs a topological order (every node before its inputs). Walking once per path is
#   correct but exponential in the number of diamonds (residual blocks); recursing fails on deep
#   graphs. An explicit stack and a visited set fix both.
# - A value used twice collects both contributions (`+=`); overwriting is a silent bug. The package
#   also accumulates into `.grad` across backward passes, so reset gradients before each step.
# - `ms.no_grad()` records nothing; a second backward through a graph is an error unless the first
#   used `retain_graph=True`.
#
# ## Exercises
#
# ### Exercise 1: the backward of tanh (1 point)
#
# Write `tanh_backward(x, upstream)`. `x` is the input array
# of $y = \tanh(x)$ (any shape), `upstream` is $\partial L/\partial y$ (same shape). Return
# $\partial L/\partial x$, a NumPy array of `x`'s shape.


# %%
def tanh_backward(x, upstream):
    """dL/dx for y = tanh(x), given dL/dy = upstream."""
    raise NotImplementedError  # your code here


check("ch01.tanh_backward", tanh_backward)


# %% tags=["solution", "hide-input"]
def tanh_backward(x, upstream):
    """dL/dx for y = tanh(x), given dL/dy = upstream."""
    y = np.tanh(x)
    return upstream * (1 - y * y)


check("ch01.tanh_backward", tanh_backward)

# %% [markdown]
# ### Exercise 2: a topological order without recursion (3 points)
#
# Write `topological_order_dict(parents, root)` for a graph
# given as a dictionary: `parents[node]` is the list of nodes that `node` was computed from (leaves
# map to `[]`; a node may appear twice in a list, as in `x * x`). Nodes are strings. Return a list of
# the nodes reachable from `root`, **each exactly once**, with `root` first and every node before
# all of its inputs. The check also runs a chain of 2 000 nodes (so no recursion) and 30 stacked
# diamonds, $2^{30}$ paths (so no walking once per path).
#
# The chapter used a depth-first search; try the other classic, *Kahn's algorithm*: first count,
# for every reachable node, how many times it is consumed; then take the root, and append an input
# once all of its consumers have been appended.


# %%
def topological_order_dict(parents, root):
    """Nodes reachable from root, root first, each node before all of its inputs."""
    raise NotImplementedError  # your code here


check("ch01.topological_order", topological_order_dict)


# %% tags=["solution", "hide-input"]
def topological_order_dict(parents, root):
    """Nodes reachable from root, root first, each node before all of its inputs (Kahn)."""
    pending = {root: 0}  # reachable node -> number of uses not yet placed
    stack = [root]
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
            if pending[parent] == 0:  # all of its consumers are placed
                ready.append(parent)
    return order


check("ch01.topological_order", topological_order_dict)

# %% [markdown]
# ### Exercise 3: a gradient by hand (2 points)
#
# For $L = a\,\tanh(ab + c)$ write `grad_by_hand(a, b, c)`
# returning the tuple $(\partial L/\partial a,\ \partial L/\partial b,\ \partial L/\partial c)$ of
# floats, from a formula you derived on paper (mind that $a$ is used twice). The check compares with
# the package's autograd.


# %%
def grad_by_hand(a, b, c):
    """(dL/da, dL/db, dL/dc) for L = a * tanh(a * b + c)."""
    raise NotImplementedError  # your code here


check("ch01.grad_by_hand", grad_by_hand)


# %% tags=["solution", "hide-input"]
def grad_by_hand(a, b, c):
    """(dL/da, dL/db, dL/dc) for L = a * tanh(a * b + c)."""
    t = math.tanh(a * b + c)
    dt = 1 - t * t  # d tanh(u)/du at u = ab + c
    return t + a * dt * b, a * dt * a, a * dt


check("ch01.grad_by_hand", grad_by_hand)

# %% [markdown]
# ## Open questions
#
# 1. Our `Value` stores local derivatives in the forward pass; the package's `Tanh` stores its
#    output and `Mul` stores both inputs. For which operations is saving the output cheaper or more
#    accurate than saving the input? What would go wrong if code modified a saved array in place
#    between forward and backward, and how could an engine detect it?
# 2. `backprop` produces numbers, not a graph, so it cannot be differentiated again. What would
#    have to change for `backward` to build a graph of its own, so that second derivatives such as
#    $\mathrm{d}^2L/\mathrm{d}x^2$ come out of a second backward pass?
