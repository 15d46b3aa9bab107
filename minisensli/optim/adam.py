"""Adam with L2 weight decay (PyTorch's torch.optim.Adam rule)."""

from __future__ import annotations

from collections.abc import Iterable

from .. import backend
from ..autograd import Tensor
from .optimizer import Optimizer


class Adam(Optimizer):
    """g = grad + weight_decay * p (L2, not decoupled);
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1) or eps <= 0 or weight_decay < 0:
            raise ValueError(f"Adam: need 0 <= betas < 1, eps > 0, weight_decay >= 0; "
                             f"got {betas}, {eps}, {weight_decay}")
        super().__init__(params, lr, {"betas": (b1, b2), "eps": eps, "weight_decay": weight_decay})

    def step(self) -> None:
        b1, b2 = self.defaults["betas"]
        eps = self.defaults["eps"]
        self.steps += 1
        t = self.steps
        for i, p, g in self._gradients():
            xp = backend.get_array_module(p.data)
            state = self.state.setdefault(i, {})
            if "exp_avg" not in state:
                state["exp_avg"] = xp.zeros_like(p.data)
                state["exp_avg_sq"] = xp.zeros_like(p.data)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            m_hat = m / (1 - b1**t)
            v_hat = v / (1 - b2**t)
            p.data -= self.lr * m_hat / (xp.sqrt(v_hat) + eps)
