"""The array backend: the only module importing numpy/cupy, devices, dtypes."""

import ast
import math
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
from minisensli import backend

PACKAGE = pathlib.Path(ms.__file__).parent


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_backend_imports_numpy_or_cupy():
    """The exercises are exempt: like the tests, they are CPU oracles for the chapters, whose
    readers write their answers in NumPy; nothing in the engine imports them."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "backend.py" and path.parent == PACKAGE or path.parent == PACKAGE / "exercises":
            continue
        found = imported_modules(path) & {"numpy", "cupy", "cupyx"}
        if found:
            offenders.append(f"{path.relative_to(PACKAGE)} imports {sorted(found)}")
    assert not offenders, "only minisensli/backend.py may import numpy or cupy:\n" + "\n".join(offenders)


def test_nothing_in_the_package_imports_the_exercises():
    """They import hypothesis and NumPy directly: only the chapters, the tests and the teaching
    tools built on them (minisensli/grading: exercise list, grading, nbgrader export) use them."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent in (PACKAGE / "exercises", PACKAGE / "grading"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""] + [a.name for a in node.names]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "exercises" or name.startswith(("minisensli.exercises", "exercises.")) for name in names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert not offenders, offenders


def test_unknown_device_is_named_in_error():
    with pytest.raises(ValueError, match=r"unknown device 'tpu'; allowed devices are \('cpu', 'gpu'\)"):
        ms.Tensor([1.0], device="tpu")
    with pytest.raises(ValueError, match="unknown device"):
        ms.Tensor([1.0]).to("cuda:0")


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
def test_gpu_request_without_gpu_explains_what_is_missing():
    with pytest.raises(RuntimeError, match="device 'gpu'"):
        ms.Tensor([1.0], device="gpu")


@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_gpu_round_trip_and_gradient():
    x = ms.Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = x.to("gpu")
    assert y.device == "gpu"
    (y.relu() * 2).sum().backward()
    assert x.grad is not None and backend.device_of(x.grad) == "cpu"
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 2.0])


def test_cpu_to_cpu_is_a_no_op():
    x = ms.Tensor([1.0])
    assert x.to("cpu") is x


def test_to_dtype_is_differentiable():
    x = ms.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x.to(dtype="float64")
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


def test_set_default_dtype_validates():
    with pytest.raises(ValueError, match="set_default_dtype: expected one of"):
        ms.set_default_dtype("int32")
    ms.set_default_dtype("float32")
    assert ms.get_default_dtype() == np.float32


def test_scatter_add_adds_repeated_indices():
    target = np.zeros(3)
    backend.scatter_add(target, np.array([0, 0, 2]), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(target, [3.0, 0.0, 3.0])


def test_cuda_is_another_name_for_the_gpu():
    assert backend.check_device("cuda") == "gpu"
    assert backend.check_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="and 'cuda' for 'gpu'"):
        backend.check_device("tpu")


def _reference_quantile(values, q):
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@given(rows=st.lists(st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), max_size=7), max_size=6))
def test_quantiles_by_position_match_sorting_each_position(rows):
    qs = (0.5, 0.25, 0.75)
    got = backend.quantiles_by_position(rows, qs)
    length = max((len(r) for r in rows), default=0)
    assert [len(g) for g in got] == [length] * 3
    for i in range(length):
        values = [r[i] for r in rows if i < len(r) and r[i] is not None]
        for q, column in zip(qs, got):
            if values:
                assert column[i] == pytest.approx(_reference_quantile(values, q), rel=1e-12, abs=1e-9)
            else:
                assert math.isnan(column[i])
