"""Total-variation smoothing: ROF (TV-L2) and TV-L1."""

from __future__ import annotations

import numpy as np

from fastip.operators import deps
from fastip.operators.registry import check_range, register_operator


@register_operator("rof")
def rof(image: np.ndarray, *, weight: float = 0.1, max_iter: int = 200) -> np.ndarray:
    """Rudin-Osher-Fatemi TV-L2 smoothing, solved by Chambolle's projection algorithm (scikit-image).

    L. I. Rudin, S. Osher, E. Fatemi, "Nonlinear total variation based noise removal algorithms", Physica D 60, 1992;
    A. Chambolle, "An algorithm for total variation minimization and applications", JMIV 20, 2004.

    weight: TV weight against the L2 data term; larger smooths more.
    max_iter: maximum Chambolle iterations.
    """
    check_range("weight", weight, 0.0, open_low=True)
    check_range("max_iter", max_iter, 1)
    restoration = deps.module("skimage.restoration", "the rof operator")
    return restoration.denoise_tv_chambolle(image, weight=weight, max_num_iter=max_iter, channel_axis=-1)


def _grad(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx = np.zeros_like(u)
    gy = np.zeros_like(u)
    gx[:, :-1] = u[:, 1:] - u[:, :-1]
    gy[:-1] = u[1:] - u[:-1]
    return gx, gy


def _div(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """The negative adjoint of `_grad` (Neumann boundary)."""
    d = np.zeros_like(px)
    d[:, :-1] += px[:, :-1]
    d[:, 1:] -= px[:, :-1]
    d[:-1] += py[:-1]
    d[1:] -= py[:-1]
    return d


@register_operator("tv_l1")
def tv_l1(image: np.ndarray, *, lam: float = 0.8, iterations: int = 150) -> np.ndarray:
    """TV-L1 smoothing: min |grad u| + lam |u - f| per channel, by the Chambolle-Pock primal-dual algorithm.

    T. F. Chan, S. Esedoglu, "Aspects of total variation regularized L1 function approximation", SIAM J. Appl. Math.
    65(5), 2005; A. Chambolle, T. Pock, "A first-order primal-dual algorithm for convex problems with applications
    to imaging", JMIV 40, 2011.

    lam: data fidelity; structures thinner than about 2/lam pixels are removed, contrast is not lowered.
    iterations: primal-dual iterations.
    """
    check_range("lam", lam, 0.0, open_low=True)
    check_range("iterations", iterations, 1)
    f = image.astype(np.float32)
    tau = sigma = np.float32(1.0 / np.sqrt(8.0))  # tau * sigma * ||grad||^2 <= 1
    shrink = np.float32(tau * lam)
    u = f.copy()
    u_bar = f.copy()
    px = np.zeros_like(f)
    py = np.zeros_like(f)
    for _ in range(iterations):
        gx, gy = _grad(u_bar)
        px += sigma * gx
        py += sigma * gy
        norm = np.maximum(1.0, np.sqrt(px * px + py * py))
        px /= norm
        py /= norm
        v = u + tau * _div(px, py) - f
        u_new = f + np.sign(v) * np.maximum(np.abs(v) - shrink, 0.0)
        u_bar = 2.0 * u_new - u
        u = u_new
    return u
