"""Drawing the recorded graph of a Tensor: ``draw`` (matplotlib, no Graphviz binary needed) and
``to_dot`` (Graphviz DOT text, for those who have it).

The graph is the one backward walks: tensors (leaves and op results) and ops (the contexts
that ``_ctx`` links), with an edge from each input tensor to the op and from the op to its
result. ``graph(t)`` returns it as plain lists, which both drawings use:

    nodes: ("t<k>", "tensor", label, layer) or ("f<k>", "op", name, layer)
    edges: (source id, target id), inputs -> op -> result

Layers run from the leaves (layer 0) to the result (the longest path from a leaf), so a drawing
reads left to right in the order the forward computed. Only what the graph still holds is
shown: a tensor made under ``no_grad`` is a leaf, and constants that met a tensor appear as
leaves that do not require grad.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import backend
from .autograd import Tensor

SMALL = 6  # tensors with at most this many entries show their values (show_values=True)


@dataclass
class Graph:
    """The recorded graph of one tensor: nodes (id, kind, label, layer) and edges (source, target)."""

    nodes: list[tuple[str, str, str, int]] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    root: str = ""

    def ops(self) -> list[str]:
        """The op names, one per recorded op."""
        return [label for _, kind, label, _ in self.nodes if kind == "op"]


def _format_values(array: Any) -> str:
    values = backend.to_numpy(array).reshape(-1)
    return "[" + ", ".join(f"{v:.3g}" for v in values.tolist()) + "]"


def _tensor_label(t: Tensor, name: str | None, show_values: bool) -> str:
    lines = [name] if name else []
    lines.append(str(tuple(t.shape)) + (" leaf" if t.is_leaf and t.requires_grad else ""))
    if show_values and t.size <= SMALL:
        lines.append("value " + _format_values(t.data))
        g = t.grad
        if g is not None:
            lines.append("grad " + _format_values(g.data if isinstance(g, Tensor) else g))
    return "\n".join(lines)


def graph(tensor: Tensor, names: Mapping[str, Tensor] | None = None, show_values: bool = False) -> Graph:
    """The recorded graph of ``tensor`` (iterative walk, each node once). ``names`` maps names to
    tensors (e.g. ``dict(model.named_parameters())``) to label them."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"viz.graph: expected a Tensor, got {type(tensor).__name__}")
    name_of = {id(t): n for n, t in (names or {}).items()}
    tensor_ids: dict[int, str] = {}
    result = Graph()
    tensors: list[Tensor] = []

    def tid(t: Tensor) -> str:
        if id(t) not in tensor_ids:
            tensor_ids[id(t)] = f"t{len(tensor_ids)}"
            tensors.append(t)
        return tensor_ids[id(t)]

    op_of: dict[str, str] = {}  # result tensor id -> op id
    op: str | None
    inputs_of: dict[str, list[str]] = {}  # op id -> input tensor ids
    stack = [tensor]
    result.root = tid(tensor)
    seen: set[int] = set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        ctx = t._ctx
        if ctx is None:
            continue
        new_op = f"f{len(op_of)}"
        op_of[tid(t)] = new_op
        inputs_of[new_op] = [tid(p) for p in ctx.parents]
        result.edges.extend((i, new_op) for i in inputs_of[new_op])
        result.edges.append((new_op, tid(t)))
        stack.extend(p for p in ctx.parents if id(p) not in seen)

    # layers: the longest path from a leaf, computed in an order where inputs come first
    layer: dict[str, int] = {}
    order: list[str] = []
    pending = [result.root]
    visited: set[str] = set()
    while pending:  # iterative post-order over tensor ids
        node = pending[-1]
        if node in visited:
            pending.pop()
            continue
        op = op_of.get(node)
        missing = [i for i in inputs_of.get(op, []) if i not in visited] if op else []
        if missing:
            pending.extend(missing)
            continue
        visited.add(node)
        pending.pop()
        order.append(node)
    for node in order:
        op = op_of.get(node)
        if op is None:
            layer[node] = 0
        else:
            layer[op] = 1 + max(layer[i] for i in inputs_of[op])
            layer[node] = layer[op] + 1
    by_id = {tensor_ids[id(t)]: t for t in tensors}
    for node in order:
        t = by_id[node]
        result.nodes.append((node, "tensor", _tensor_label(t, name_of.get(id(t)), show_values), layer[node]))
        op = op_of.get(node)
        if op is not None:
            result.nodes.append((op, "op", t._ctx.function.__name__, layer[op]))  # type: ignore[union-attr]
    return result


def to_dot(tensor: Tensor, names: Mapping[str, Tensor] | None = None, show_values: bool = False) -> str:
    """The graph of ``tensor`` as Graphviz DOT text (render with ``dot -Tsvg``): tensors as
    boxes (leaves that require grad filled), ops as ellipses, edges from inputs to results."""
    g = graph(tensor, names, show_values)
    lines = ["digraph minisensli {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for node, kind, label, _ in g.nodes:
        text = label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        if kind == "op":
            lines.append(f'  {node} [label="{text}", shape=ellipse, style=filled, fillcolor="#dbe9f6"];')
        else:
            fill = "#fde2c8" if node == g.root else "#ffffff"
            lines.append(f'  {node} [label="{text}", shape=box, style=filled, fillcolor="{fill}"];')
    lines.extend(f"  {a} -> {b};" for a, b in g.edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(
    tensor: Tensor,
    ax: Any = None,
    show_values: bool = False,
    names: Mapping[str, Tensor] | None = None,
    max_nodes: int = 100,
) -> Any:
    """Draw the recorded graph of ``tensor`` with matplotlib; returns the Axes.

    Layered from the leaves (left) to the result (right); ops are blue ellipses, tensors boxes
    with their shape (and, with ``show_values``, the values and gradients of tensors with at
    most 6 entries). Beyond ``max_nodes`` nodes only the ``max_nodes`` nearest the result are
    drawn and the title says how many were left out.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - plotting is optional for the engine

    if not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"viz.draw: max_nodes must be a positive int, got {max_nodes!r}")
    g = graph(tensor, names, show_values)
    nodes = g.nodes
    hidden = 0
    if len(nodes) > max_nodes:  # keep the layers nearest the result
        ranked = sorted(nodes, key=lambda n: -n[3])
        nodes, hidden = ranked[:max_nodes], len(nodes) - max_nodes
    kept = {n[0] for n in nodes}
    edges = [(a, b) for a, b in g.edges if a in kept and b in kept]
    layers: dict[int, list[str]] = {}
    for node, _, _, lay in nodes:
        layers.setdefault(lay, []).append(node)
    # order each layer by the mean position of its inputs (fewer crossings than insertion order)
    position: dict[str, float] = {}
    sources: dict[str, list[str]] = {}
    for a, b in edges:
        sources.setdefault(b, []).append(a)
    for lay in sorted(layers):
        members = layers[lay]
        members.sort(
            key=lambda n: sum(position.get(s, 0.0) for s in sources.get(n, [])) / max(len(sources.get(n, [])), 1)
        )
        for k, n in enumerate(members):
            position[n] = k - (len(members) - 1) / 2
    if ax is None:
        width = max(4.0, 1.6 * len(layers))
        height = max(2.5, 0.9 * max(len(m) for m in layers.values()))
        _, ax = plt.subplots(figsize=(min(width, 30.0), min(height, 30.0)))
    first = min(layers)
    xy = {n: (float(lay - first), position[n]) for lay, members in layers.items() for n in members}
    artists = {}
    for node, kind, label, _ in nodes:
        x, y = xy[node]
        if kind == "op":
            box = {"boxstyle": "round,pad=0.3", "facecolor": "#dbe9f6", "edgecolor": "#4a7ab0"}
        else:
            face = "#fde2c8" if node == g.root else "white"
            box = {"boxstyle": "square,pad=0.3", "facecolor": face, "edgecolor": "0.3"}
        artists[node] = ax.text(x, y, label, ha="center", va="center", fontsize=7, bbox=box, zorder=3)
    for a, b in edges:
        # clipped at the two boxes (patchA/patchB), so an arrow is drawn between them however large
        # the labels are next to the spacing of the layers, and above the boxes it passes, never hidden
        ax.annotate(
            "",
            xy=xy[b],
            xytext=xy[a],
            zorder=4,
            arrowprops={
                "arrowstyle": "-|>",
                "mutation_scale": 9,
                "color": "0.45",
                "shrinkA": 1,
                "shrinkB": 1,
                "patchA": artists[a].get_bbox_patch(),
                "patchB": artists[b].get_bbox_patch(),
            },
        )
    xs = [p[0] for p in xy.values()]
    ys = [p[1] for p in xy.values()]
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.axis("off")
    n_ops = sum(1 for n in g.nodes if n[1] == "op")
    title = f"{n_ops} ops, {len(g.nodes) - n_ops} tensors"
    if hidden:
        title += f"; {hidden} nodes nearest the leaves not drawn (max_nodes={max_nodes})"
    ax.set_title(title, fontsize=9)
    return ax
