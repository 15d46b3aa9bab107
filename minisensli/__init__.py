"""minisensli: a small reverse-mode autograd framework for teaching and running SensLI
(Sensitivity-Based Layer Insertion, Kreis et al., arXiv 2311.15995).

    import minisensli as ms
    import minisensli.functional as F

    x = ms.Tensor([[1.0, 2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == [[2., 4.]]
"""

__version__ = "0.1.0"

# The engine first; the packages after it build on it (nn -> optim, data -> sensli).
from .autograd import Function, Tensor, enable_grad, grad, is_grad_enabled, no_grad  # noqa: I001
from .backend import get_default_dtype, gpu_available, manual_seed, set_default_dtype
from .gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_gradients
from .higher_order import hessian, hvp
from .ops import concatenate, stack
from . import functional, nn, optim, data
from .serialization import ModelFileError, load, save
from .train import History, NonFiniteLossError, evaluate, fit, train_epoch
from . import sensli
from . import viz

__all__ = [
    "Function",
    "GradcheckError",
    "History",
    "ModelFileError",
    "NonFiniteLossError",
    "Tensor",
    "__version__",
    "concatenate",
    "data",
    "enable_grad",
    "evaluate",
    "fit",
    "functional",
    "get_default_dtype",
    "gpu_available",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "load",
    "manual_seed",
    "nn",
    "no_grad",
    "numerical_gradients",
    "optim",
    "save",
    "sensli",
    "set_default_dtype",
    "stack",
    "train_epoch",
    "viz",
]
