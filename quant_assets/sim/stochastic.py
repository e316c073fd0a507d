"""Stochastic return models calibrated on a returns panel, simulated as Monte Carlo paths.

Input to `fit` is a DataFrame (dates x symbols) of daily log returns; rows with any NaN are
dropped, so pass a panel on one calendar. Output of `simulate` is an array
(n_paths, n_days, n_assets) of daily log returns in the panel's column order.

Reproducibility: paths are generated in fixed blocks of PATH_BLOCK paths, block b drawing
from its own stream SeedSequence(seed, spawn_key=(b,)). The draw depends on (model, seed,
n_paths, n_days, dtype) and never on how the caller chunks the run: the same seed gives
identical arrays, and `simulate_chunks` concatenated equals `simulate`. Blocks are
independent, so they run on a thread pool (numpy releases the GIL while drawing and in BLAS).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, Self

import numpy as np
import pandas as pd

from quant_assets.sim import _kernels as k
from quant_assets.sim.risk_measures import portfolio_log_returns

PATH_BLOCK = 256  # paths per random stream; part of the reproducibility contract
WORKERS = min(os.cpu_count() or 1, 4)
MIN_OBSERVATIONS = 30


def _panel(returns: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(returns, pd.DataFrame) or returns.shape[1] == 0:
        raise TypeError("returns must be a DataFrame of dates x symbols")
    panel = returns.astype(np.float64).dropna(how="any")
    if not np.isfinite(panel.to_numpy()).all():
        raise ValueError("returns contain inf")
    if len(panel) < MIN_OBSERVATIONS:
        raise ValueError(f"need at least {MIN_OBSERVATIONS} complete rows, got {len(panel)}")
    return panel


def _place(out: np.ndarray, start: int, stop: int, b: int, values: np.ndarray) -> None:
    """Copy the part of block b's paths that falls in the chunk [start, stop)."""
    lo, hi = max(start, b * PATH_BLOCK), min(stop, (b + 1) * PATH_BLOCK)
    out[lo - start : hi - start] = values[lo - b * PATH_BLOCK : hi - b * PATH_BLOCK]


def _block_rng(seed: int, block: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))


class StochasticModel(ABC):
    """Common API: `fit(returns)` calibrates, `simulate`/`simulate_chunks` draw log-return paths."""

    symbols: list[str]

    @abstractmethod
    def fit(self, returns: pd.DataFrame) -> Self: ...

    @abstractmethod
    def _fill_block(self, rng: np.random.Generator, out: np.ndarray) -> None:
        """Write (paths, days, assets) log returns drawn from one random stream into out."""

    @property
    def n_assets(self) -> int:
        self._check_fitted()
        return len(self.symbols)

    def _check_fitted(self) -> None:
        if not hasattr(self, "symbols"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(returns) first")

    def simulate_chunks(
        self,
        n_paths: int,
        n_days: int,
        seed: int,
        *,
        chunk_size: int | None = None,
        dtype: type | np.dtype = np.float32,
    ) -> Iterator[np.ndarray]:
        """Yield consecutive path chunks (<= chunk_size paths each) of the same draw as `simulate`.

        Memory stays at one chunk plus a few blocks, so callers can reduce paths to a
        portfolio or a risk number without holding all paths at once.
        """
        self._check_fitted()
        if not isinstance(seed, int | np.integer):
            raise TypeError("seed must be an integer: it names the random streams")
        if n_paths <= 0 or n_days <= 0:
            raise ValueError("n_paths and n_days must be positive")
        dtype = np.dtype(dtype)
        chunk = n_paths if chunk_size is None else int(chunk_size)
        if chunk <= 0:
            raise ValueError("chunk_size must be positive")

        def job(b: int, out: np.ndarray, start: int, stop: int) -> np.ndarray | None:
            """Fill out's rows of block b; return the block when it also feeds the next chunk."""
            first_path = b * PATH_BLOCK
            rows = min(PATH_BLOCK, n_paths - first_path)
            if start <= first_path and first_path + rows <= stop:  # block inside the chunk
                self._fill_block(
                    _block_rng(seed, b), out[first_path - start : first_path - start + rows]
                )
                return None
            values = np.empty((rows, n_days, self.n_assets), dtype=dtype)
            self._fill_block(_block_rng(seed, b), values)
            _place(out, start, stop, b, values)
            return values if first_path + rows > stop else None

        carry: tuple[int, np.ndarray] | None = None  # the block straddling two chunks
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            for start in range(0, n_paths, chunk):
                stop = min(start + chunk, n_paths)
                out = np.empty((stop - start, n_days, self.n_assets), dtype=dtype)
                first, last = start // PATH_BLOCK, (stop - 1) // PATH_BLOCK
                kept = None
                if carry is not None and first <= carry[0] <= last:
                    _place(out, start, stop, *carry)
                    if carry[0] == last and stop < min(n_paths, (last + 1) * PATH_BLOCK):
                        kept = carry
                todo = [b for b in range(first, last + 1) if carry is None or b != carry[0]]
                futures = [pool.submit(job, b, out, start, stop) for b in todo]
                for b, fut in zip(todo, futures, strict=True):
                    values = fut.result()
                    if values is not None:
                        kept = (b, values)
                carry = kept
                yield out

    def simulate(
        self,
        n_paths: int,
        n_days: int,
        seed: int,
        *,
        chunk_size: int | None = None,
        dtype: type | np.dtype = np.float32,
    ) -> np.ndarray:
        """(n_paths, n_days, n_assets) daily log returns; identical for any chunk_size."""
        chunks = self.simulate_chunks(n_paths, n_days, seed, chunk_size=chunk_size, dtype=dtype)
        if chunk_size is None or chunk_size >= n_paths:
            return next(chunks)
        out = np.empty((n_paths, n_days, self.n_assets), dtype=np.dtype(dtype))
        pos = 0
        for c in chunks:
            out[pos : pos + len(c)] = c
            pos += len(c)
        return out


class CorrelatedGBM(StochasticModel):
    """Geometric Brownian motion: daily log returns iid N(mean_, cov_), correlated by Cholesky."""

    def fit(self, returns: pd.DataFrame) -> Self:
        panel = _panel(returns)
        self.symbols = [str(c) for c in panel.columns]
        self.mean_ = panel.mean()
        self.cov_ = panel.cov()
        self._factor = k.psd_factor(self.cov_.to_numpy())
        self._mean = self.mean_.to_numpy()
        return self

    def _fill_block(self, rng, out):
        flat = out.reshape(-1, self.n_assets)  # a view: out is C-contiguous
        k.correlated_normals(rng, self._factor, out=flat)
        flat += self._mean.astype(out.dtype)


class StationaryBootstrap(StochasticModel):
    """Politis-Romano stationary bootstrap of whole historical return vectors (rows).

    Resampling rows keeps cross-sectional correlation and fat tails exactly as observed;
    blocks of mean length `mean_block` keep short-range dependence (volatility clusters).
    """

    def __init__(self, mean_block: float = 10.0) -> None:
        if mean_block < 1.0:
            raise ValueError("mean_block must be >= 1")
        self.mean_block = float(mean_block)

    def fit(self, returns: pd.DataFrame) -> Self:
        panel = _panel(returns)
        self.symbols = [str(c) for c in panel.columns]
        self.history_ = panel
        self._history = panel.to_numpy()
        return self

    def indices(self, rng: np.random.Generator, n_paths: int, n_days: int) -> np.ndarray:
        """Row indices into `history_` for each path-day (exposed to check block lengths)."""
        return k.stationary_bootstrap_indices(
            rng, n_paths, n_days, len(self._history), self.mean_block
        )

    def _fill_block(self, rng, out):
        history = self._history.astype(out.dtype, copy=False)
        np.take(history, self.indices(rng, out.shape[0], out.shape[1]), axis=0, out=out)


class MertonJumpDiffusion(StochasticModel):
    """Correlated Gaussian diffusion plus per-asset compound-Poisson normal jumps.

    Calibration per asset (threshold method): iteratively flag days with
    |r - mean| > threshold * std of the unflagged days; jump intensity = flagged share of
    days, jump size mean/std = of flagged returns net of the diffusion drift. The diffusion
    correlation comes from non-jump days (pairwise), its variance is set so the total
    variance sigma_d^2 + lambda (mu_J^2 + sigma_J^2) matches the sample variance, and its
    drift so the total mean mu_d + lambda mu_J matches the sample mean.
    The default threshold 3.5 trades a few missed small jumps for almost no false ones
    (a normal day exceeds 3.5 sd with probability 0.05%).
    """

    def __init__(self, threshold: float = 3.5, max_iter: int = 50) -> None:
        self.threshold = float(threshold)
        self.max_iter = int(max_iter)

    def fit(self, returns: pd.DataFrame) -> Self:
        panel = _panel(returns)
        x = panel.to_numpy()
        n, n_assets = x.shape
        jumps = np.zeros_like(x, dtype=bool)
        for a in range(n_assets):
            r, flag = x[:, a], np.zeros(n, dtype=bool)
            for _ in range(self.max_iter):
                m, s = r[~flag].mean(), r[~flag].std(ddof=1)
                new = np.abs(r - m) > self.threshold * s
                if np.array_equal(new, flag):
                    break
                flag = new
            jumps[:, a] = flag

        intensity = jumps.mean(axis=0)
        jump_mean, jump_std = np.zeros(n_assets), np.zeros(n_assets)
        quiet = np.where(jumps, np.nan, x)
        quiet_mean = np.nanmean(quiet, axis=0)
        for a in range(n_assets):
            sizes = x[jumps[:, a], a] - quiet_mean[a]
            if len(sizes) >= 2:
                jump_mean[a], jump_std[a] = sizes.mean(), sizes.std(ddof=1)
            else:  # too few jumps to estimate a size distribution: no jump component
                intensity[a] = 0.0

        total_var = x.var(axis=0, ddof=1)
        jump_var = intensity * (jump_mean**2 + jump_std**2)
        quiet_var = np.nanvar(quiet, axis=0, ddof=1)
        diffusion_var = np.maximum(total_var - jump_var, 0.1 * quiet_var)
        corr = pd.DataFrame(quiet).corr().to_numpy()  # pairwise over non-jump days
        corr = np.nan_to_num(corr, nan=0.0)
        np.fill_diagonal(corr, 1.0)
        sd = np.sqrt(diffusion_var)
        cov = k.nearest_psd(corr * np.outer(sd, sd))

        self.symbols = [str(c) for c in panel.columns]
        idx = pd.Index(self.symbols)
        self.intensity_ = pd.Series(intensity, index=idx)  # jumps per day
        self.jump_mean_ = pd.Series(jump_mean, index=idx)
        self.jump_std_ = pd.Series(jump_std, index=idx)
        self.diffusion_mean_ = pd.Series(x.mean(axis=0) - intensity * jump_mean, index=idx)
        self.diffusion_cov_ = pd.DataFrame(cov, index=idx, columns=idx)
        self.jump_days_ = pd.DataFrame(jumps, index=panel.index, columns=idx)
        self._factor = k.psd_factor(cov)
        self._jumps = (intensity, jump_mean, jump_std)
        self._drift = self.diffusion_mean_.to_numpy()
        return self

    def _fill_block(self, rng, out):
        flat = out.reshape(-1, self.n_assets)
        k.correlated_normals(rng, self._factor, out=flat)
        flat += self._drift.astype(out.dtype)
        k.add_poisson_jumps(rng, out, *self._jumps)


class GARCHModel(StochasticModel):
    """Per-asset GARCH(1,1) with constant mean (fitted by `arch`), correlated shocks.

    Shocks are drawn as N(0, R) with R the correlation of the fitted standardized residuals
    (innovations="normal"), or as whole rows of those residuals resampled with replacement
    (innovations="bootstrap", filtered historical simulation: keeps their fat tails).
    Returns are scaled by `scale` for the optimizer (arch's advice for daily data);
    parameters are reported back in return units: omega_ in return^2, mu_ in return.
    start="last" starts from the one-day-ahead variance after the sample, "unconditional"
    from omega / (1 - alpha - beta).

    After `fit`, per asset and in return units (as if arch had fitted the unscaled returns):
    `params_`, `std_errors_` (arch's robust standard errors), `loglikelihood_` (arch's
    value on the scaled series plus n x log(scale), the change of variables), `aic_`,
    `bic_` (from that log-likelihood with 4 parameters), `nobs_` and
    `conditional_volatility_` (dates x assets, daily).
    """

    def __init__(
        self,
        *,
        innovations: Literal["normal", "bootstrap"] = "normal",
        start: Literal["last", "unconditional"] = "last",
        scale: float = 100.0,
    ) -> None:
        self.innovations = innovations
        self.start = start
        self.scale = float(scale)

    def fit(self, returns: pd.DataFrame) -> Self:
        from arch import arch_model

        panel = _panel(returns)
        rows, resid, next_var = [], [], []
        ses, llfs, nobs, cond_vol = [], [], [], []
        for col in panel.columns:
            res = arch_model(
                panel[col] * self.scale,
                mean="Constant",
                vol="GARCH",
                p=1,
                q=1,
                dist="normal",
                rescale=False,
            ).fit(disp="off")
            p = res.params
            rows.append((p["mu"], p["omega"], p["alpha[1]"], p["beta[1]"]))
            se = res.std_err
            ses.append((se["mu"], se["omega"], se["alpha[1]"], se["beta[1]"]))
            llfs.append(res.loglikelihood)
            nobs.append(res.nobs)
            cond_vol.append(res.conditional_volatility.to_numpy() / self.scale)
            resid.append(res.std_resid.to_numpy())
            last_eps = res.resid.iloc[-1]
            last_var = res.conditional_volatility.iloc[-1] ** 2
            next_var.append(p["omega"] + p["alpha[1]"] * last_eps**2 + p["beta[1]"] * last_var)

        self.symbols = [str(c) for c in panel.columns]
        idx = pd.Index(self.symbols)
        params = np.array(rows)
        s2 = self.scale**2
        self.params_ = pd.DataFrame(
            {
                "mu": params[:, 0] / self.scale,
                "omega": params[:, 1] / s2,
                "alpha": params[:, 2],
                "beta": params[:, 3],
            },
            index=idx,
        )
        se = np.array(ses)
        self.std_errors_ = pd.DataFrame(
            {"mu": se[:, 0] / self.scale, "omega": se[:, 1] / s2, "alpha": se[:, 2],
             "beta": se[:, 3]},
            index=idx,
        )  # fmt: skip
        n_obs = np.array(nobs, dtype=np.int64)
        llf = np.array(llfs) + n_obs * np.log(self.scale)
        n_params = 4
        self.nobs_ = pd.Series(n_obs, index=idx)
        self.loglikelihood_ = pd.Series(llf, index=idx)
        self.aic_ = pd.Series(-2.0 * llf + 2.0 * n_params, index=idx)
        self.bic_ = pd.Series(-2.0 * llf + n_params * np.log(n_obs), index=idx)
        self.conditional_volatility_ = pd.DataFrame(
            np.column_stack(cond_vol), index=panel.index, columns=idx
        )
        persistence = self.params_["alpha"] + self.params_["beta"]
        self.unconditional_variance_ = (self.params_["omega"] / (1.0 - persistence)).where(
            persistence < 1.0
        )
        self.next_variance_ = pd.Series(np.array(next_var) / s2, index=idx)
        self.std_resid_ = pd.DataFrame(np.column_stack(resid), index=panel.index, columns=idx)
        self.residual_corr_ = self.std_resid_.corr()
        self._factor = k.psd_factor(self.residual_corr_.to_numpy())
        # plain arrays for the simulation threads (no pandas indexing off the main thread)
        self._params = tuple(self.params_[c].to_numpy() for c in ("mu", "omega", "alpha", "beta"))
        self._start_var = {
            "last": self.next_variance_.to_numpy(),
            "unconditional": self.unconditional_variance_.to_numpy(),
        }
        self._z_hist = self.std_resid_.to_numpy()
        return self

    def simulate_chunks(self, *args, **kwargs) -> Iterator[np.ndarray]:
        if self.start == "unconditional" and np.isnan(self._start_var["unconditional"]).any():
            raise ValueError("alpha + beta >= 1 for some asset: no unconditional variance")
        return super().simulate_chunks(*args, **kwargs)

    def _fill_block(self, rng, out):
        n_paths, n_days, n_assets = out.shape
        if self.innovations == "bootstrap":
            rows = rng.integers(0, len(self._z_hist), size=(n_paths, n_days))
            z = self._z_hist[rows].astype(out.dtype)
        else:
            z = np.empty_like(out)
            k.correlated_normals(rng, self._factor, out=z.reshape(-1, n_assets))
        k.garch_recursion(z, *self._params, self._start_var[self.start], out)


class MarkovRegimeModel(StochasticModel):
    """Regime-switching Gaussian returns: a Markov chain of regimes, N(mean_k, cov_k) per regime.

    Regimes are found on one market series (the `market` column, or the equal-weight mean
    of the panel) with statsmodels' MarkovRegression (switching mean and variance); each
    regime's panel mean and covariance are then weighted by the smoothed regime
    probabilities. Regimes are ordered by market variance: 0 is the calmest.
    start="last" draws the state before the first simulated day from the smoothed
    probabilities of the last observed day; "stationary" from the chain's stationary law.
    """

    def __init__(
        self,
        n_regimes: int = 2,
        *,
        market: str | None = None,
        start: Literal["last", "stationary"] = "last",
        scale: float = 100.0,
    ) -> None:
        self.n_regimes = int(n_regimes)
        self.market = market
        self.start = start
        self.scale = float(scale)

    def fit(self, returns: pd.DataFrame) -> Self:
        from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

        panel = _panel(returns)
        market = panel[self.market] if self.market is not None else panel.mean(axis=1)
        mod = MarkovRegression(
            market.to_numpy() * self.scale,
            k_regimes=self.n_regimes,
            trend="c",
            switching_variance=True,
        )
        res = mod.fit(disp=False, search_reps=10)
        probs = np.asarray(res.smoothed_marginal_probabilities)  # (T, k)
        # statsmodels: P[i, j] = P(s_t = i | s_{t-1} = j); we use rows = from, cols = to.
        transition = np.asarray(mod.regime_transition_matrix(res.params))[:, :, 0].T
        market_var = np.array(
            [np.average((market - np.average(market, weights=w)) ** 2, weights=w) for w in probs.T]
        )
        order = np.argsort(market_var)
        probs, transition = probs[:, order], transition[np.ix_(order, order)]

        x = panel.to_numpy()
        means, covs = [], []
        for w in probs.T:
            w = w / w.sum()
            m = w @ x
            d = x - m
            covs.append((d * w[:, None]).T @ d / (1.0 - np.sum(w**2)))  # unbiased weighted cov
            means.append(m)

        self.symbols = [str(c) for c in panel.columns]
        idx = pd.Index(self.symbols)
        regimes = pd.RangeIndex(self.n_regimes, name="regime")
        self.transition_ = pd.DataFrame(transition, index=regimes, columns=regimes)
        self.regime_probabilities_ = pd.DataFrame(probs, index=panel.index, columns=regimes)
        self.means_ = pd.DataFrame(np.array(means), index=regimes, columns=idx)
        self.covs_ = np.array(covs)
        self.market_variance_ = pd.Series(market_var[order], index=regimes)
        self.stationary_ = pd.Series(_stationary(transition), index=regimes)
        self.statsmodels_result_ = res
        self._factors = [k.psd_factor(c) for c in covs]
        self._means = np.array(means)
        self._transition = transition
        self._initial = {"stationary": self.stationary_.to_numpy(), "last": probs[-1]}
        return self

    def simulate_regimes(self, rng: np.random.Generator, n_paths: int, n_days: int) -> np.ndarray:
        """(n_paths, n_days) regime paths, drawn as the first step of each block."""
        initial = self._initial[self.start]
        return k.markov_chain(rng, self._transition, initial, n_paths, n_days)

    def _fill_block(self, rng, out):
        states = self.simulate_regimes(rng, out.shape[0], out.shape[1]).reshape(-1)
        z = rng.standard_normal((states.size, self.n_assets), dtype=out.dtype)
        flat = out.reshape(-1, self.n_assets)
        for r, factor in enumerate(self._factors):
            rows = states == r
            flat[rows] = z[rows] @ factor.T.astype(out.dtype) + self._means[r].astype(out.dtype)


def _stationary(transition: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eig(transition.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1.0))])
    return pi / pi.sum()


def simulate_portfolio(
    model: StochasticModel,
    weights: np.ndarray | pd.Series,
    n_paths: int,
    n_days: int,
    seed: int,
    *,
    chunk_size: int = 2048,
    rebalance: Literal["daily", "buy_and_hold"] = "daily",
    dtype: type | np.dtype = np.float32,
) -> np.ndarray:
    """(n_paths, n_days) portfolio log returns, streamed so asset paths never all sit in memory."""
    if isinstance(weights, pd.Series):
        weights = weights.reindex(model.symbols).fillna(0.0).to_numpy()
    parts = [
        portfolio_log_returns(chunk, weights, rebalance=rebalance)
        for chunk in model.simulate_chunks(
            n_paths, n_days, seed, chunk_size=chunk_size, dtype=dtype
        )
    ]
    return np.concatenate(parts, axis=0)
