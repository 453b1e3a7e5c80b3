"""Sparse solves of (D + L_w) u = b on the pixel grid, shared by RTV, WLS and pencil texture fitting."""

from __future__ import annotations

import numpy as np

from fastip.operators import deps


def solve(data_weight: np.ndarray | float, wx: np.ndarray, wy: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve (diag(data_weight) + L_w) u = rhs with a 5-point weighted Laplacian L_w.

    wx (H, W-1) weighs each pixel's link to its right neighbour, wy (H-1, W) to the one below; rhs is (H, W) or
    (H, W, C), and all channels share one sparse LU factorisation.
    """
    sp = deps.module("scipy.sparse", "the sparse smoothing solve")
    sla = deps.module("scipy.sparse.linalg", "the sparse smoothing solve")
    h, w = rhs.shape[:2]
    n = h * w
    idx = np.arange(n).reshape(h, w)
    rows = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    cols = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    vals = np.concatenate([np.asarray(wx, np.float64).ravel(), np.asarray(wy, np.float64).ravel()])
    degree = np.zeros((h, w))
    degree[:, :-1] += wx
    degree[:, 1:] += wx
    degree[:-1, :] += wy
    degree[1:, :] += wy
    diagonal = (np.broadcast_to(np.asarray(data_weight, np.float64), (h, w)) + degree).ravel()
    off = sp.coo_matrix((-vals, (rows, cols)), shape=(n, n))
    matrix = (off + off.T + sp.diags(diagonal)).tocsc()
    b = rhs.reshape(n, -1).astype(np.float64)
    if n == 1:
        return (b / diagonal[0]).reshape(rhs.shape).astype(np.float32)
    # The matrix is symmetric positive definite: a symmetric ordering without pivoting keeps fill-in low.
    lu = sla.splu(matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return lu.solve(b).reshape(rhs.shape).astype(np.float32)
