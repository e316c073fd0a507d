"""Numeric kernels behind the stochastic models: plain numpy on arrays, no pandas, no state.

Kept apart from the model classes so each kernel can be read (and tested) as the formula
it implements; the classes only calibrate parameters and call these.
"""

from __future__ import annotations

import numpy as np


def psd_factor(cov: np.ndarray) -> np.ndarray:
    """A with A @ A.T == cov: Cholesky when cov is positive definite, else eigen with clipping.

    Sample covariances of many assets over short windows (a regime, non-jump days) can be
    singular or slightly indefinite; clipping negative eigenvalues keeps the factor real.
    """
    cov = np.asarray(cov, dtype=np.float64)
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh((cov + cov.T) / 2.0)
        return v * np.sqrt(np.clip(w, 0.0, None))


def nearest_psd(cov: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues: pairwise-complete covariances need not be PSD."""
    factor = psd_factor(cov)
    return factor @ factor.T


def correlated_normals(rng: np.random.Generator, factor: np.ndarray, *, out: np.ndarray) -> None:
    """Fill out (rows, n_assets) with draws of N(0, factor @ factor.T), in out's dtype."""
    z = rng.standard_normal(out.shape, dtype=out.dtype)
    np.matmul(z, factor.T.astype(out.dtype), out=out)


def stationary_bootstrap_indices(
    rng: np.random.Generator, n_paths: int, n_days: int, n_obs: int, mean_block: float
) -> np.ndarray:
    """Politis-Romano (1994) stationary bootstrap: row indices into a history of n_obs rows.

    Each day a new block starts with probability p = 1/mean_block at a uniform random row;
    otherwise the path continues with the next row, wrapping around the end (circular).
    Block lengths are therefore geometric with mean `mean_block`.
    """
    p = 1.0 / mean_block
    new_block = rng.random((n_paths, n_days)) < p
    new_block[:, 0] = True
    starts = rng.integers(0, n_obs, size=(n_paths, n_days))
    day = np.broadcast_to(np.arange(n_days), (n_paths, n_days))
    block_start_day = np.maximum.accumulate(np.where(new_block, day, 0), axis=1)
    start_row = np.take_along_axis(starts, block_start_day, axis=1)
    return (start_row + (day - block_start_day)) % n_obs


def add_poisson_jumps(
    rng: np.random.Generator,
    out: np.ndarray,
    intensity: np.ndarray,
    jump_mean: np.ndarray,
    jump_std: np.ndarray,
) -> None:
    """Add compound-Poisson normal jumps to out (paths, days, assets) in place.

    Per asset, the jump count over all path-days is Poisson(intensity * cells) and jump
    times are uniform over the cells: conditionally on the total, cell counts are
    multinomial, so each cell gets an independent Poisson(intensity) count. Cheap when
    jumps are rare, which is the Merton case.
    """
    n_paths, n_days, n_assets = out.shape
    cells = n_paths * n_days
    flat = out.reshape(-1)
    for a in range(n_assets):
        if intensity[a] <= 0.0:
            continue
        k = int(rng.poisson(intensity[a] * cells))
        if k == 0:
            continue
        where = rng.integers(0, cells, size=k) * n_assets + a
        size = rng.normal(jump_mean[a], jump_std[a], size=k).astype(out.dtype)
        np.add.at(flat, where, size)


def garch_recursion(
    z: np.ndarray,
    mu: np.ndarray,
    omega: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    sigma2_next: np.ndarray,
    out: np.ndarray,
) -> None:
    """GARCH(1,1) returns from standardized shocks z (paths, days, assets) into out.

    r_t = mu + sqrt(s2_t) z_t,  s2_{t+1} = omega + alpha (r_t - mu)^2 + beta s2_t,
    with s2 of the first simulated day = sigma2_next (per asset). State kept in float64.
    """
    s2 = np.broadcast_to(np.asarray(sigma2_next, dtype=np.float64), z[:, 0].shape).copy()
    for t in range(z.shape[1]):
        eps = np.sqrt(s2) * z[:, t]
        out[:, t] = mu + eps
        s2 = omega + alpha * eps * eps + beta * s2


def markov_chain(
    rng: np.random.Generator,
    transition: np.ndarray,
    initial: np.ndarray,
    n_paths: int,
    n_days: int,
) -> np.ndarray:
    """Regime paths (paths, days) of a Markov chain; transition[i, j] = P(next=j | now=i)."""
    cum = np.cumsum(transition, axis=1)
    cum[:, -1] = 1.0
    u = rng.random((n_paths, n_days))
    states = np.empty((n_paths, n_days), dtype=np.int8)
    # initial is the distribution of the state *before* day 0; day 0 is one step on.
    prev = np.searchsorted(np.cumsum(initial), rng.random(n_paths), side="right")
    prev = np.minimum(prev, len(initial) - 1)
    for t in range(n_days):
        prev = (u[:, t, None] > cum[prev]).sum(axis=1)
        states[:, t] = prev
    return states
