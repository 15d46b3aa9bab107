"""Adam with L2 weight decay (PyTorch's torch.optim.Adam rule)."""

from __future__ import annotations

from collections.abc import Iterable

from .. import backend, checks
from ..autograd import Tensor
from .optimizer import Optimizer


class Adam(Optimizer):
    """g = grad + weight_decay * p (L2, not decoupled);
    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        b1, b2 = (
            checks.number(f"Adam: betas[{i}]", b, 0.0, maximum=1.0, strict_maximum=True) for i, b in enumerate(betas)
        )
        eps = checks.positive("Adam: eps", eps)
        weight_decay = checks.non_negative("Adam: weight_decay", weight_decay)
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
