"""Loss functions: cross-entropy on raw logits, mean squared error."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor, _data_of
from ._operands import as_tensor
from .activation import log_softmax_array, softmax

_ROWS: dict[int, Any] = {}  # arange(N) by batch size, read-only (see _row_indices)


def _row_indices(logits: Any) -> Any:
    """arange(N) for logits (N, C), the row of each label. On the CPU one read-only array per
    batch size is kept: making it costs as much as the indexing it serves, and a training run
    sees one or two batch sizes (a run over many sizes keeps at most 64)."""
    n = logits.shape[0]
    if backend.device_of(logits) != "cpu":
        return backend.get_array_module(logits).arange(n)
    rows = _ROWS.get(n)
    if rows is None:
        if len(_ROWS) >= 64:
            _ROWS.clear()
        rows = _ROWS[n] = backend.get_array_module(logits).arange(n)
        rows.flags.writeable = False
    return rows


class CrossEntropy(Function):
    """L = -(1/N) sum_n log softmax(z_n)[y_n] for logits z (N, C) and labels y (N,).

    Uses the stable log-softmax (z - max - log sum exp(z - max)), so logits of size 1e4 stay
    finite; float16 logits are computed in float32 and the loss cast back. Backward:
    dz = (softmax(z) - onehot(y)) * g / N for the upstream scalar gradient g. The softmax comes
    from the forward's log-probabilities on arrays, or as a recorded op on Tensors (then the
    second derivative, the softmax Jacobian, follows from it).
    """

    @staticmethod
    def forward(ctx: Context, logits: Any, labels: Any) -> Any:
        xp = backend.get_array_module(logits)
        wide = logits.astype(xp.float32) if logits.dtype.itemsize < 4 else logits
        log_probs = log_softmax_array(wide, axis=1)
        rows = _row_indices(logits)
        # the indices ride with the saved arrays rather than as ctx attributes, which would give
        # every step's context a dict of its own
        ctx.save_for_backward(logits, log_probs, rows, labels)
        # sum / N rather than mean(): the same float operations without NumPy's Python-level wrapper
        loss = -(log_probs[rows, labels].sum() / logits.shape[0])
        return loss if wide is logits else loss.astype(logits.dtype)  # float16 logits: cast back

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        logits, log_probs, rows, labels = ctx.saved_arrays
        factor = grad / logits.shape[0]
        if isinstance(logits, Tensor):  # recorded: softmax as an op on the logits, its Jacobian follows
            onehot = backend.get_array_module(logits._data).zeros(logits.shape, dtype=log_probs.dtype)
            onehot[_data_of(rows), _data_of(labels)] = 1
            return ((softmax(logits, axis=1) - onehot) * factor,)
        # on arrays: the softmax from the forward's log-probabilities, in place on one fresh array
        # (no one-hot array; the batch-contiguous layout of the logits is kept)
        dz = backend.get_array_module(log_probs).exp(log_probs)
        dz[rows, labels] -= 1
        dz *= factor
        return (dz if dz.dtype is logits.dtype or dz.dtype == logits.dtype else dz.astype(logits.dtype),)


class MSE(Function):
    """L = mean((p - t)^2) over all entries;  dp = 2 (p - t) g / size, dt = -dp (float16 is
    squared and averaged in float32, then cast back)."""

    @staticmethod
    def forward(ctx: Context, prediction: Any, target: Any) -> Any:
        diff = prediction - target
        ctx.save_for_backward(prediction, target)
        if diff.dtype.itemsize < 4:
            wide = diff.astype(backend.get_array_module(diff).float32)
            return (wide * wide).mean().astype(diff.dtype)
        return (diff * diff).mean()

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        prediction, target = ctx.saved_arrays
        d = (prediction - target) * (2 * grad / prediction.size)
        return d, -d


def cross_entropy(logits: Any, labels: Any) -> Tensor:
    """Mean cross-entropy of raw logits (N, C) against integer class labels (N,) in [0, C)."""
    logits = as_tensor(logits)
    labels_data = labels._data if isinstance(labels, Tensor) else backend.as_array(labels, device=logits.device)
    shape, dtype = logits._data.shape, logits._data.dtype
    if len(shape) != 2:
        raise ValueError(f"cross_entropy: expected logits of shape (N, C), got {shape}")
    if dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating-point, got dtype {dtype}")
    if labels_data.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integer class indices, got dtype {labels_data.dtype}")
    if labels_data.shape != shape[:1]:
        raise ValueError(
            f"cross_entropy: labels of shape {labels_data.shape} do not fit logits of shape "
            f"{shape} (expected ({shape[0]},))"
        )
    if shape[0] == 0:
        raise ValueError("cross_entropy: empty batch (N = 0)")
    if shape[1] == 0:
        raise ValueError(f"cross_entropy: logits of shape {shape} have no classes (C = 0)")
    if type(labels_data) is not type(logits._data) and backend.device_of(labels_data) != logits.device:
        raise ValueError(f"cross_entropy: logits are on {logits.device} but labels on {backend.device_of(labels_data)}")
    classes = logits.shape[1]
    # The label range is checked on the CPU only (reading a check back from the GPU would make
    # every step wait for the device), and with one reduction: a label >= C is caught by the
    # indexing in forward, which raises IndexError; only negative labels (which NumPy would
    # silently read from the end) need a pass of their own.
    if logits.device == "cpu" and labels_data.dtype.kind == "i" and labels_data.min() < 0:
        raise ValueError(f"cross_entropy: labels must lie in [0, {classes}), got {int(labels_data.min())}")
    try:
        return CrossEntropy.apply(logits, labels=labels_data)
    except IndexError:
        raise ValueError(
            f"cross_entropy: labels must lie in [0, {classes}), got {int(backend.to_numpy(labels_data).max())}"
        ) from None


def mse_loss(prediction: Any, target: Any) -> Tensor:
    """Mean squared error over all entries; prediction and target must have the same shape."""
    prediction, target = as_tensor(prediction), as_tensor(target)
    if prediction.shape != target.shape:
        raise ValueError(
            f"mse_loss: prediction of shape {prediction.shape} and target of shape {target.shape} "
            "differ (no broadcasting, to avoid silently averaging the wrong pairs)"
        )
    if not backend.is_floating(prediction.dtype):
        raise TypeError(f"mse_loss: prediction must be floating-point, got dtype {prediction.dtype}")
    if target.dtype != prediction.dtype:
        if target.requires_grad:
            raise TypeError(f"mse_loss: dtype mismatch {prediction.dtype} and {target.dtype}")
        target = Tensor._wrap(target._data.astype(prediction.dtype), False, None)
    return MSE.apply(prediction, target)
