"""Drawdown states from equity known at t; exposure limits respected after scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.risk.limits import (
    DrawdownLimits,
    ExposureLimits,
    apply_exposure_limits,
    drawdown_states,
    halt_filter,
)


def test_drawdown_states_hand_path() -> None:
    # peak 105 at bar 1; dd = 1 - e / 105: bar 3 94 -> 10.5% derisk, bar 5 83 -> 20.95% halt
    eq = pd.Series([100, 105, 100, 94, 90, 83, 85, 95, 99, 104.0])
    out = drawdown_states(eq, DrawdownLimits(derisk_at=0.10, halt_at=0.20, derisk_scale=0.5))
    assert out["state"].tolist() == ["normal"] * 3 + ["derisk"] * 2 + ["halt"] * 5
    assert out["scale"].tolist() == [1.0] * 3 + [0.5] * 7
    assert out["drawdown"].iloc[5] == pytest.approx(1 - 83 / 105)


def test_derisk_resumes_with_hysteresis_and_halt_rearms() -> None:
    eq = pd.Series([100, 89, 93, 96.5, 97, 100.0])  # dd 11%, 7%, 3.5%, 3%, 0
    out = drawdown_states(eq, DrawdownLimits(derisk_at=0.10, halt_at=0.30, resume_at=0.04))
    # 7% is between resume (4%) and derisk (10%): stays de-risked; 3.5% resumes
    assert out["state"].tolist() == ["normal", "derisk", "derisk", "normal", "normal", "normal"]
    eq = pd.Series([100, 70, 70, 70, 70, 71.0])
    out = drawdown_states(eq, DrawdownLimits(halt_at=0.25, halt_bars=3))
    # halted at bar 1; after 3 more bars re-armed with the peak reset to 70
    assert out["state"].tolist() == ["normal", "halt", "halt", "halt", "normal", "normal"]
    assert out["drawdown"].iloc[5] == 0.0


def test_drawdown_state_at_t_uses_equity_up_to_t_only() -> None:
    rng = np.random.default_rng(0)
    eq = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 400))))
    lim = DrawdownLimits(derisk_at=0.08, halt_at=0.15, halt_bars=20)
    full = drawdown_states(eq, lim)
    assert full["state"].nunique() == 3  # the path visits every state
    for t in (50, 150, 300):
        perturbed = eq.copy()
        perturbed.iloc[t + 1 :] *= np.exp(rng.normal(0, 0.1, len(eq) - t - 1))
        pd.testing.assert_frame_equal(
            drawdown_states(perturbed, lim).iloc[: t + 1], full.iloc[: t + 1]
        )


def test_halt_filter_only_reduces() -> None:
    held = np.array([0.5, 0.5, -0.3, 0.0, 0.2])
    target = np.array([0.3, 0.8, 0.4, 0.1, 0.0])
    np.testing.assert_allclose(halt_filter(target, held), [0.3, 0.5, 0.0, 0.0, 0.0])


GROUPS = {"tech": ["a", "b", "c"], "ai": ["b", "c", "d"], "energy": ["e", "f"]}
CLASSES = {"a": "stock", "b": "stock", "c": "etf", "d": "etf", "e": "etf", "f": "crypto"}


def _check(w: pd.Series, lim: ExposureLimits, tol: float = 1e-10) -> None:
    assert (w.abs() <= (lim.max_name or np.inf) + tol).all()
    assert w.abs().sum() <= (lim.max_gross or np.inf) + tol
    assert abs(w.sum()) <= (lim.max_net or np.inf) + tol
    for members in GROUPS.values():
        assert w[members].abs().sum() <= (lim.group_gross or np.inf) + tol
        assert abs(w[members].sum()) <= (lim.group_net or np.inf) + tol
    for c in set(CLASSES.values()):
        members = [s for s, k in CLASSES.items() if k == c]
        assert w[members].abs().sum() <= lim.class_gross_by.get(c, lim.class_gross or np.inf) + tol


def test_exposure_limits_respected_after_scaling() -> None:
    rng = np.random.default_rng(5)
    lim = ExposureLimits(
        max_name=0.25, max_gross=1.2, max_net=0.6, group_gross=0.5, group_net=0.35,
        class_gross=0.7, class_gross_by={"crypto": 0.05},
    )  # fmt: skip
    panel = pd.DataFrame(rng.normal(0, 0.4, (200, 6)), columns=list("abcdef"))
    out, report = apply_exposure_limits(panel, lim, groups=GROUPS, asset_class=CLASSES)
    for _, row in out.iterrows():
        _check(row, lim)
    # only scaled down, never flipped or grown
    assert (out.abs() <= panel.abs() + 1e-15).all().all()
    assert (np.sign(out) * np.sign(panel) >= 0).all().all()
    # report: "after" is within every limit; a gross limit is flagged bound only if it was
    # breached before (scaling never raises a gross exposure; it can raise a net one)
    assert (report["after"] <= report["limit"] * (1 + 1e-9) + 1e-12).all()
    gross = report.index.get_level_values("measure") == "gross"
    assert not (report["bound"] & (report["before"] <= report["limit"]))[gross].any()
    assert report["bound"].any()
    # rows are independent: one row alone gives the same answer
    one, _ = apply_exposure_limits(panel.iloc[17], lim, groups=GROUPS, asset_class=CLASSES)
    pd.testing.assert_series_equal(one, out.iloc[17], check_names=False)


def test_single_breach_scales_that_group_proportionally() -> None:
    w = pd.Series({"a": 0.3, "b": 0.2, "c": 0.1, "d": 0.0, "e": 0.2, "f": 0.1})
    out, report = apply_exposure_limits(
        w, ExposureLimits(group_gross_by={"tech": 0.3}), groups=GROUPS
    )
    # tech gross 0.6 over 0.3: a, b, c halved; others untouched
    np.testing.assert_allclose(out.to_numpy(), [0.15, 0.1, 0.05, 0.0, 0.2, 0.1])
    assert report.loc[("group", "tech", "gross"), "bound"]
    assert report["bound"].sum() == 1
