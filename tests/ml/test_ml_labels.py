"""Labels against a plain loop over each position (the textbook triple-barrier procedure)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.labels import forward_returns, make_labels, triple_barrier


def _bars(seed: int, n_sym: int = 3, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(n_sym):
        m = n - 7 * s  # ragged: symbols of different lengths
        close = 20 * np.exp(np.cumsum(0.02 * rng.standard_normal(m)))
        spread = np.abs(rng.normal(0, 0.01, m))
        frames.append(
            pd.DataFrame(
                {
                    "symbol": f"S{s}",
                    "date": pd.bdate_range("2022-01-03", periods=m),
                    "close": close,
                    "high": close * (1 + spread),
                    "low": close * (1 - spread),
                    "open": close,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _reference(bars, h, up_k, dn_k, window, side=None):
    """Loop per symbol and bar: first touch of close*exp(+-k*sigma*sqrt(h)) in bars t+1..t+h."""
    rows = []
    for sym, g in bars.groupby("symbol", sort=True):
        g = g.reset_index(drop=True)
        c, hi, lo = g["close"].to_numpy(), g["high"].to_numpy(), g["low"].to_numpy()
        r = np.diff(np.log(c), prepend=np.nan)
        sides = np.ones(len(g)) if side is None else g["side"].to_numpy()
        for t in range(len(g)):
            s = sides[t]
            if t < window or t + 1 > len(g) - 1 or np.isnan(s):
                rows.append((sym, g["date"][t], np.nan, pd.NaT))
                continue
            sigma = np.std(r[t - window + 1 : t + 1], ddof=1) * np.sqrt(h)
            u = up_k if s > 0 else dn_k
            d = dn_k if s > 0 else up_k
            upper, lower = c[t] * np.exp(u * sigma), c[t] * np.exp(-d * sigma)
            outcome, when = None, None
            for k in range(1, h + 1):
                if t + k >= len(g):
                    break
                hit_u, hit_d = hi[t + k] >= upper, lo[t + k] <= lower
                if hit_u or hit_d:
                    stop = -1 if s > 0 else 1  # on a bar touching both, the stop wins
                    outcome = stop if hit_u and hit_d else (1 if hit_u else -1)
                    when = t + k
                    break
            if outcome is None:
                if t + h >= len(g):
                    rows.append((sym, g["date"][t], np.nan, pd.NaT))
                    continue
                outcome, when = 0, t + h
            target = 1 if s > 0 else -1
            label = float(outcome) if side is None else float(outcome == target)
            rows.append((sym, g["date"][t], label, g["date"][when]))
    return pd.DataFrame(rows, columns=["symbol", "date", "label", "t1"])


@pytest.mark.parametrize("h,up,dn", [(5, 1.0, 1.0), (10, 2.0, 0.5), (1, 0.3, 0.3)])
def test_triple_barrier_matches_loop(h, up, dn):
    bars = _bars(1)
    got = triple_barrier(bars, h, upper=up, lower=dn, window=20)
    ref = _reference(bars, h, up, dn, 20)
    np.testing.assert_array_equal(got["label"].to_numpy(), ref["label"].to_numpy())
    pd.testing.assert_series_equal(
        pd.to_datetime(got["t1"]), pd.to_datetime(ref["t1"]), check_names=False
    )
    assert set(np.unique(got["label"].dropna())) <= {-1.0, 0.0, 1.0}


def test_triple_barrier_with_side_labels_target_before_stop():
    bars = _bars(2)
    rng = np.random.default_rng(5)
    side = rng.choice([1.0, -1.0, np.nan], size=len(bars), p=[0.3, 0.3, 0.4])
    bars = bars.assign(side=side)
    got = triple_barrier(bars, 8, upper=1.5, lower=1.0, window=20)
    ref = _reference(bars, 8, 1.5, 1.0, 20, side=True)
    np.testing.assert_array_equal(got["label"].to_numpy(), ref["label"].to_numpy())
    assert got.loc[np.isnan(side), "label"].isna().all()


def test_forward_returns_and_t1_are_per_symbol():
    bars = _bars(3)
    out = forward_returns(bars, 3)
    for sym, g in bars.groupby("symbol"):
        o = out[out["symbol"] == sym].reset_index(drop=True)
        c = g["close"].to_numpy()
        np.testing.assert_allclose(o["fwd_ret"][:-3], np.log(c[3:] / c[:-3]), rtol=1e-12)
        assert o["fwd_ret"][-3:].isna().all() and o["t1"][-3:].isna().all()
        assert (o["t1"][:-3].to_numpy() == g["date"].to_numpy()[3:]).all()


def test_direction_relative_and_vol_scaled_labels():
    bars = _bars(4, n_sym=4, n=80)
    fwd = forward_returns(bars, 2)
    d = make_labels(bars, "direction", 2)
    np.testing.assert_array_equal(d["y"].dropna(), (fwd["fwd_ret"].dropna() > 0).astype(float))
    rel = make_labels(bars, "fwd_return", 2, relative=True)
    # excess over the date's mean sums to zero on every date where all names have a label
    full = rel.groupby("date")["y"].agg(["sum", "count"])
    np.testing.assert_allclose(full.loc[full["count"] == 4, "sum"], 0.0, atol=1e-12)
    vs = make_labels(bars, "fwd_return", 2, vol_scaled=True)
    g = bars[bars["symbol"] == "S0"].reset_index(drop=True)
    r = np.diff(np.log(g["close"].to_numpy()), prepend=np.nan)
    t = 40
    sigma = np.std(r[t - 19 : t + 1], ddof=1) * np.sqrt(2)
    row = vs[(vs["symbol"] == "S0")].reset_index(drop=True)
    np.testing.assert_allclose(row["y"][t], row["fwd_ret"][t] / sigma, rtol=1e-9)


def test_atr_barriers_use_the_risk_modules_atr():
    from quant_assets.risk.volatility import atr

    bars = _bars(6, n_sym=1, n=100)
    got = triple_barrier(bars, 5, upper=1.0, lower=1.0, method="atr", window=14)
    c, hi, lo = (bars[k].to_numpy() for k in ("close", "high", "low"))
    a = atr(hi, lo, c, 14)
    t = 50
    up, dn = c[t] + a[t], c[t] - a[t]
    first = next((k for k in range(1, 6) if hi[t + k] >= up or lo[t + k] <= dn), None)
    expected = (
        0.0 if first is None else (1.0 if hi[t + first] >= up and lo[t + first] > dn else -1.0)
    )
    assert got["label"][t] == expected


def test_strategy_entries_are_new_positions_only():
    from ml.meta import strategy_entries

    d = pd.bdate_range("2024-01-01", periods=6)
    w = {"A": [0, 0.2, 0.3, 0.0, -0.1, -0.1], "B": [0.5, 0.5, -0.5, 0.0, 0.0, 0.2]}
    signals = pd.DataFrame(
        [
            {"date": day, "symbol": s, "leg": "main", "target_weight": w[s][k]}
            for k, day in enumerate(d)
            for s in w
        ]
    )
    got = strategy_entries(signals)
    expected = [  # opened, flipped or re-opened; held or resized positions are not trades
        (d[0], "B", 1.0),
        (d[1], "A", 1.0),
        (d[2], "B", -1.0),
        (d[4], "A", -1.0),
        (d[5], "B", 1.0),
    ]
    assert list(got.itertuples(index=False, name=None)) == expected
