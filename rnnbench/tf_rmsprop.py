"""RMSProp with TensorFlow 1 semantics (``tf.train.RMSPropOptimizer``), for presets that reproduce TF1 code.

    ms ← ρ ms + (1 − ρ) g²;   mom ← μ mom + lr g / √(ms + ε);   θ ← θ − mom

It differs from ``torch.optim.RMSprop`` where it matters early in training: the mean square ``ms`` starts at
``initial_mean_square`` = 1 (torch: 0, so torch's first steps are ~1/√(1 − ρ) ≈ 3× larger at ρ = 0.9), ε sits
inside the square root, and TF1's defaults are ρ = 0.9, ε = 1e-10. ``weight_decay`` adds λθ to the gradient.
"""

from __future__ import annotations

import torch


class TFRMSprop(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1e-3, decay: float = 0.9, momentum: float = 0.0, eps: float = 1e-10,
                 initial_mean_square: float = 1.0, weight_decay: float = 0.0):
        for name, value in (("lr", lr), ("eps", eps), ("initial_mean_square", initial_mean_square),
                            ("weight_decay", weight_decay)):
            if value < 0:
                raise ValueError(f"{name}={value}: must be >= 0")
        if not (0 <= decay <= 1 and 0 <= momentum < 1):
            raise ValueError(f"decay={decay}, momentum={momentum}: need 0 <= decay <= 1 and 0 <= momentum < 1")
        super().__init__(params, dict(lr=lr, decay=decay, momentum=momentum, eps=eps,
                                      initial_mean_square=initial_mean_square, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"]:
                    grad = grad.add(param, alpha=group["weight_decay"])
                state = self.state[param]
                if not state:
                    state["mean_square"] = torch.full_like(param, group["initial_mean_square"])
                    state["momentum"] = torch.zeros_like(param)
                mean_square, momentum = state["mean_square"], state["momentum"]
                mean_square.mul_(group["decay"]).addcmul_(grad, grad, value=1 - group["decay"])
                update = grad / (mean_square + group["eps"]).sqrt()
                momentum.mul_(group["momentum"]).add_(update, alpha=group["lr"])
                param.sub_(momentum)
        return loss
