"""Drawing recorded graphs: the nodes and edges of ms.viz.graph / draw / to_dot are those of the
recorded graph, for a dense net's loss, a double-backward graph and a SensLI extended network."""

import re

import matplotlib
import numpy as np
import pytest

import minisensli as ms
import minisensli.functional as F
from minisensli import nn, sensli

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def boxes(ax):
    """The node labels drawn (annotations are the arrows)."""
    return [t for t in ax.texts if not isinstance(t, matplotlib.text.Annotation)]


def recorded(t):
    """(op names as a multiset, number of input->op and op->result edges, tensors) by a plain walk."""
    ops, edges, tensors, stack, seen = [], 0, {id(t)}, [t], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or node._ctx is None:
            continue
        seen.add(id(node))
        ops.append(node._ctx.function.__name__)
        edges += len(node._ctx.parents) + 1
        tensors.update(id(p) for p in node._ctx.parents)
        stack.extend(node._ctx.parents)
    return sorted(ops), edges, len(tensors)


def check_graph(t):
    g = ms.viz.graph(t)
    ops, n_edges, n_tensors = recorded(t)
    assert sorted(g.ops()) == ops
    assert len(g.edges) == n_edges
    assert sum(1 for n in g.nodes if n[1] == "tensor") == n_tensors
    ids = {n[0] for n in g.nodes}
    assert all(a in ids and b in ids for a, b in g.edges)
    layer = {n[0]: n[3] for n in g.nodes}
    assert all(layer[a] < layer[b] for a, b in g.edges)  # layered from the leaves to the result
    assert layer[g.root] == max(layer.values())
    dot = ms.viz.to_dot(t)
    assert dot.startswith("digraph") and dot.count(" -> ") == n_edges
    assert len(re.findall(r"shape=ellipse", dot)) == len(ops)
    ax = ms.viz.draw(t)
    assert len(boxes(ax)) == len(g.nodes)
    arrows = [a for a in ax.texts if isinstance(a, matplotlib.text.Annotation)]
    assert len(arrows) == len(g.edges)
    # every arrow ends at the boxes of its two nodes and is drawn above them, so none is hidden
    patches = {id(b.get_bbox_patch()) for b in boxes(ax)}
    for arrow in arrows:
        assert {id(arrow.arrow_patch.patchA), id(arrow.arrow_patch.patchB)} <= patches
        assert arrow.get_zorder() > max(b.get_zorder() for b in boxes(ax))
    plt.close(ax.figure)
    return g


def test_graph_of_a_dense_nets_loss():
    ms.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 3))
    loss = F.cross_entropy(model(ms.Tensor(np.ones((5, 2)))), np.array([0, 1, 2, 0, 1]))
    g = check_graph(loss)
    assert sorted(g.ops()) == ["CrossEntropy", "Linear", "Linear", "ReLU"]
    named = ms.viz.graph(loss, names=dict(model.named_parameters()))
    labels = " ".join(n[2] for n in named.nodes)
    for name, _ in model.named_parameters():
        assert name in labels


def test_graph_of_a_double_backward():
    x = ms.Tensor(np.array([0.3, -0.8]), requires_grad=True)
    (g,) = ms.grad((x.tanh() * x).sum(), x, create_graph=True)
    graph = check_graph(g)
    assert "Tanh" in graph.ops() and len(graph.ops()) > 3  # the gradient's graph reaches back through tanh


def test_graph_of_a_sensli_extended_network():
    ms.manual_seed(1)
    model = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 3), nn.ReLU(), nn.Dense(3, 2))
    sites = sensli.candidate_sites(model)
    extended, virtual = sensli.extended_model(model, sites)
    loss = F.cross_entropy(extended(ms.Tensor(np.ones((4, 2)))), np.array([0, 1, 1, 0]))
    g = check_graph(loss)
    assert g.ops().count("Linear") == 3 + len(sites)  # every virtual layer is in the graph


def test_values_are_shown_for_small_tensors_and_large_graphs_say_what_they_leave_out():
    x = ms.Tensor(np.array([2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    labels = [n[2] for n in ms.viz.graph(y, show_values=True).nodes]
    assert any("value [2]" in label and "grad [4]" in label for label in labels)
    h = x
    for _ in range(80):
        h = h * 1.01
    ax = ms.viz.draw(h.sum(), max_nodes=50)
    assert "not drawn (max_nodes=50)" in ax.get_title() and len(boxes(ax)) == 50
    plt.close(ax.figure)
    with pytest.raises(TypeError, match="viz.graph: expected a Tensor"):
        ms.viz.graph(np.ones(2))
