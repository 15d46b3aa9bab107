"""The array backend: the one place choosing numpy or cupy, devices, dtypes; host-side quantiles."""

import ast
import math
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
from minisensli import backend
from minisensli.experiments.quantiles import quantiles_by_position

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


# Host-side modules: they turn files into numpy arrays or compute statistics of results, never
# see tensor data, and so may import numpy directly (ARCHITECTURE.md, "numpy and cupy").
HOST_NUMPY_MODULES = ("formats/__init__.py", "formats/npz.py", "formats/restricted_pickle.py", "formats/buffers.py")
HOST_NUMPY_MODULES += ("experiments/quantiles.py",)
TENSOR_LAYERS = {"backend", "autograd", "ops", "functional", "nn", "optim", "sensli", "data", "train", "gradcheck"}


def relative_imports(path: pathlib.Path) -> set[str]:
    """The minisensli modules that ``path`` imports, as paths relative to the package root
    ("nn", "formats.npz", ...): what ``from .. import x`` and ``from ..x import y`` name."""
    package = path.parent.relative_to(PACKAGE).parts
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                names.add(".".join((*base, node.module)))
            else:
                names.update(".".join((*base, a.name)) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("minisensli"):
            names.add(node.module.removeprefix("minisensli").lstrip("."))
        elif isinstance(node, ast.Import):
            names.update(a.name.removeprefix("minisensli.") for a in node.names if a.name.startswith("minisensli."))
    return names


def test_only_backend_chooses_between_numpy_and_cupy():
    """The rule's purpose: ONE place decides numpy vs cupy for tensor data. So only backend
    imports cupy; numpy is imported by backend and by the listed host-side modules (file
    formats, statistics of results), which import no tensor layer, so they cannot create or
    hold tensor data. The exercises are exempt: like the tests, they are CPU oracles for the
    chapters, whose readers write their answers in NumPy; nothing in the engine imports them."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if path.parent == PACKAGE / "exercises":
            continue
        found = imported_modules(path) & {"numpy", "cupy", "cupyx"}
        allowed = {"numpy", "cupy", "cupyx"} if relative == "backend.py" else set()
        if relative in HOST_NUMPY_MODULES:
            allowed = {"numpy"}
            tensor_imports = {m for m in relative_imports(path) if m.split(".")[0] in TENSOR_LAYERS}
            if tensor_imports:
                offenders.append(f"{relative} is a host-side module but imports {sorted(tensor_imports)}")
        if found - allowed:
            offenders.append(f"{relative} imports {sorted(found - allowed)}")
    assert not offenders, (
        "only minisensli/backend.py may import cupy, and numpy only backend and the host-side "
        f"modules {HOST_NUMPY_MODULES}, which import no tensor layer:\n" + "\n".join(offenders)
    )


def test_host_module_list_names_existing_files():
    """A renamed host module must not leave a stale entry that silently exempts nothing."""
    assert all((PACKAGE / name).is_file() for name in HOST_NUMPY_MODULES)


def test_relative_imports_resolves_package_paths():
    found = relative_imports(PACKAGE / "experiments" / "plots.py")
    assert {"files", "sensli.plotting", "experiments.quantiles"} <= found


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
    got = quantiles_by_position(rows, qs)
    length = max((len(r) for r in rows), default=0)
    assert [len(g) for g in got] == [length] * 3
    for i in range(length):
        values = [r[i] for r in rows if i < len(r) and r[i] is not None]
        for q, column in zip(qs, got):
            if values:
                assert column[i] == pytest.approx(_reference_quantile(values, q), rel=1e-12, abs=1e-9)
            else:
                assert math.isnan(column[i])
