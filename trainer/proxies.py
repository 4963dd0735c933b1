"""Zero-cost proxies: a score for an untrained network from one or a few passes over one batch.

The trainer's side of the proxies (it sees an ``nn.Module``, a batch and a loss; never a genotype):
``score(name, build, images, masks, seed=...)`` builds the network with ``torch.manual_seed(seed)``
(``build`` is a zero-argument callable), runs the proxy on the batch and returns a float; higher is
meant to predict better accuracy (each proxy's sign is the one its paper ranks with). A network a
proxy cannot score raises ``ProxyError`` with the reason. The loss is the training loss of the
``fast`` recipe (BCE + Dice, 1:1, on the logits).

Definitions (θ: the parameters, L: the loss on the batch, ⊙: element-wise product):

- ``grad_norm``: Σ_layers ‖∂L/∂θ‖₂, summed over parameter tensors (Abdelfattah et al., "Zero-Cost
  Proxies for Lightweight NAS", ICLR 2021).
- ``snip``: Σ |θ ⊙ ∂L/∂θ| (Lee et al., "SNIP", ICLR 2019), as in the zero-cost proxies paper.
- ``grasp``: −Σ θ ⊙ (H ∂L/∂θ), H the Hessian of L, by a Hessian-vector product (double backward)
  (Wang et al., "Picking Winning Tickets Before Training...", ICLR 2020), as in the zero-cost
  proxies paper.
- ``fisher``: Σ_channels ½ · mean_batch (Σ_hw a ⊙ ∂L/∂a)², a the output of every convolution
  (Theis et al. 2018; Turner et al., "BlockSwap", ICLR 2020).
- ``synflow``: Σ θ ⊙ ∂R/∂θ with R = Σ f(1) of the network whose parameters are replaced by |θ|,
  on an all-ones input, in float64 (Tanaka et al., "SynFlow", NeurIPS 2020). BatchNorm: the
  network runs in eval mode, where an initialised BatchNorm (running mean 0, variance 1) is an
  affine map, so it does not normalise the batch away (the usual handling); GroupNorm and
  attention gates have no such mode and stay as they are (their score is not the path norm).
- ``jacob_cov``: −Σ_i [log(λ_i + k) + 1/(λ_i + k)], k = 1e-5, λ the eigenvalues of the correlation
  matrix of the per-image input Jacobians of Σ output (Mellor et al., "Neural Architecture
  Search without Training", v1, 2020).
- ``naswot``: log|det K|, K[i, j] = the number of activation units on which images i and j agree
  (both > 0 or both <= 0), over the inputs of every ReLU / GELU / SiLU / ReLU6 / LeakyReLU module
  (Mellor et al., ICML 2021); refused for a network with no such module.

Train mode for all but synflow (BatchNorm uses batch statistics, as in the papers' code).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = (nn.ReLU, nn.GELU, nn.SiLU, nn.ReLU6, nn.LeakyReLU)


class ProxyError(ValueError):
    """A network this proxy cannot score (the message says why)."""


def seg_loss(logits: Tensor, masks: Tensor) -> Tensor:
    """BCE + soft Dice (1:1) on logits (N, 1, H, W) against masks in {0, 1}."""
    y = masks.float().reshape(logits.shape)
    bce = F.binary_cross_entropy_with_logits(logits, y)
    p = torch.sigmoid(logits)
    inter = (p * y).sum(dim=(1, 2, 3))
    dice = 1 - (2 * inter + 1) / (p.sum(dim=(1, 2, 3)) + y.sum(dim=(1, 2, 3)) + 1)
    return bce + dice.mean()


def _main(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def _params(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def _loss(model: nn.Module, x: Tensor, y: Tensor, loss: Callable) -> Tensor:
    return loss(_main(model(x)), y)


def grad_norm(model, x, y, loss=seg_loss) -> float:
    model.train()
    params = _params(model)
    grads = torch.autograd.grad(_loss(model, x, y, loss), params, allow_unused=True)
    return float(sum(g.norm() for g in grads if g is not None))


def snip(model, x, y, loss=seg_loss) -> float:
    model.train()
    params = _params(model)
    grads = torch.autograd.grad(_loss(model, x, y, loss), params, allow_unused=True)
    with torch.no_grad():
        return float(
            sum((p * g).abs().sum() for p, g in zip(params, grads, strict=True) if g is not None)
        )


def grasp(model, x, y, loss=seg_loss) -> float:
    model.train()
    params = _params(model)
    first = torch.autograd.grad(_loss(model, x, y, loss), params, allow_unused=True)
    first = [
        torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, first, strict=True)
    ]
    grads = torch.autograd.grad(
        _loss(model, x, y, loss), params, create_graph=True, allow_unused=True
    )
    dot = sum((g * f).sum() for g, f in zip(grads, first, strict=True) if g is not None)
    hg = torch.autograd.grad(dot, params, allow_unused=True)
    with torch.no_grad():
        return float(-sum((p * h).sum() for p, h in zip(params, hg, strict=True) if h is not None))


def fisher(model, x, y, loss=seg_loss) -> float:
    model.train()
    acts: list[Tensor] = []

    def keep(_m, _i, out):
        out.retain_grad()
        acts.append(out)

    hooks = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        if not hooks:
            raise ProxyError("fisher needs nn.Conv2d layers; this network has none")
        _loss(model, x, y, loss).backward()
    finally:
        for h in hooks:
            h.remove()
    total = 0.0
    for a in acts:
        if a.grad is None:
            continue
        s = (a * a.grad).sum(dim=(2, 3))  # (N, C)
        total += float(0.5 * s.pow(2).mean(dim=0).sum())
    return total


def synflow(model, x, y=None, loss=None) -> float:
    model = model.double().eval()
    signs = {}
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if p.is_floating_point():
                signs[name] = torch.sign(p)
                p.abs_()
    ones = torch.ones_like(x, dtype=torch.float64)
    out = _main(model(ones))
    params = _params(model)
    grads = torch.autograd.grad(out.sum(), params, allow_unused=True)
    score = sum((p * g).sum() for p, g in zip(params, grads, strict=True) if g is not None)
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if name in signs:
                p.mul_(signs[name])
    value = float(score.detach()) if torch.is_tensor(score) else float(score)
    if not math.isfinite(value):
        raise ProxyError(f"synflow overflowed float64 ({value})")
    return value


def jacob_cov(model, x, y=None, loss=None) -> float:
    model.train()
    x = x.clone().requires_grad_(True)
    out = _main(model(x))
    (jac,) = torch.autograd.grad(out.sum(), x)
    j = jac.reshape(len(x), -1).double()
    corr = torch.corrcoef(j)
    if not torch.isfinite(corr).all():
        raise ProxyError("jacob_cov: an input Jacobian is constant (no correlation defined)")
    eig = torch.linalg.eigvalsh(corr)
    k = 1e-5
    return float(-torch.sum(torch.log(eig + k) + 1.0 / (eig + k)))


def naswot(model, x, y=None, loss=None) -> float:
    model.train()
    n = len(x)
    K = torch.zeros(n, n, dtype=torch.float64)

    def code(_m, inputs, _out):
        c = (inputs[0].detach().reshape(n, -1) > 0).double()
        K.add_(c @ c.T + (1 - c) @ (1 - c).T)

    hooks = [m.register_forward_hook(code) for m in model.modules() if isinstance(m, ACTIVATIONS)]
    try:
        if not hooks:
            raise ProxyError(
                "naswot needs activation modules (ReLU, GELU, SiLU, ReLU6, LeakyReLU); "
                "this network has none"
            )
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    sign, logdet = torch.linalg.slogdet(K)
    if sign <= 0:
        raise ProxyError("naswot: the activation kernel is singular (identical codes)")
    return float(logdet)


FUNCTIONS: dict[str, Callable] = {
    "grad_norm": grad_norm,
    "snip": snip,
    "grasp": grasp,
    "fisher": fisher,
    "synflow": synflow,
    "jacob_cov": jacob_cov,
    "naswot": naswot,
}
PROXIES = tuple(FUNCTIONS)  # the proxies' names, in the order tables list them


def score(
    name: str,
    build: Callable[[], nn.Module],
    images: Tensor,
    masks: Tensor,
    *,
    seed: int = 0,
    threads: int | None = None,
) -> float:
    """The proxy ``name`` of the network ``build()`` makes after ``torch.manual_seed(seed)``, on
    one batch (images: normalised float (N, 3, H, W); masks (N, H, W) or (N, 1, H, W) in {0, 1}).
    Deterministic for a seed (on the CPU); the caller's RNG state is left as it was."""
    if name not in FUNCTIONS:
        raise ValueError(f"unknown proxy {name!r}; choose among {', '.join(PROXIES)}")
    before_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build()
            value = FUNCTIONS[name](model, images, masks)
    except ProxyError:
        raise
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ProxyError(f"{name} failed on this network: {first}") from e
    finally:
        torch.set_num_threads(before_threads)
    if not math.isfinite(value):
        raise ProxyError(f"{name} is not finite on this network ({value})")
    return value
