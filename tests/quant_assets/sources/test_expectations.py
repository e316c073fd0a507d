"""The expectation model for releases without a consensus, against a hand computation."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from quant_assets.sources.expectations import Headline, expect, fill_expectations

D = dt.date
OPEN = D(9999, 12, 31)
CPI = Headline("CPIAUCSL", "pct", "% m/m")


def vintages() -> pd.DataFrame:
    """Five monthly CPI levels, each first published on the 12th of the next month; the
    April value is revised on the June release day (100.4 -> 100.5)."""
    rows = [
        (D(2024, 1, 1), D(2024, 2, 12), OPEN, 100.0),
        (D(2024, 2, 1), D(2024, 3, 12), OPEN, 101.0),
        (D(2024, 3, 1), D(2024, 4, 12), OPEN, 100.0),
        (D(2024, 4, 1), D(2024, 5, 12), D(2024, 6, 11), 100.4),
        (D(2024, 4, 1), D(2024, 6, 12), OPEN, 100.5),
        (D(2024, 5, 1), D(2024, 6, 12), OPEN, 102.51),
    ]
    return pd.DataFrame(
        [("CPIAUCSL", d, s, e, v, "fred") for d, s, e, v in rows],
        columns=["series_id", "date", "realtime_start", "realtime_end", "value", "source"],
    )


def test_release_day_values_by_hand():
    got = expect(vintages(), CPI, D(2024, 6, 12), n=12)
    # known on 2024-06-12: 100, 101, 100, 100.5 (revised), 102.51
    assert got["actual"] == pytest.approx(100 * (102.51 / 100.5 - 1))  # 2.0%
    assert got["previous"] == pytest.approx(100 * (100.5 / 100.0 - 1))  # 0.5%, the revision
    # known the day before: 100, 101, 100, 100.4 -> changes 1.0, -0.990099, 0.4; median 0.4
    assert got["consensus"] == pytest.approx(0.4)
    assert got["period"] == "2024-05" and got["unit"] == "% m/m"
    assert got["consensus_source"] == "model"


def test_median_of_the_last_n_prints_only():
    got = expect(vintages(), CPI, D(2024, 6, 12), n=2)
    # the last two changes known on 06-11: -0.990099 and 0.4 -> median -0.2950495
    assert got["consensus"] == pytest.approx((100 * (100 / 101 - 1) + 0.4) / 2)


def test_too_few_prints_leave_no_consensus_and_no_model_mark():
    got = expect(vintages(), CPI, D(2024, 5, 12))  # the day before knows two changes only
    assert got["actual"] == pytest.approx(0.4) and got["consensus"] is None
    assert got["consensus_source"] is None


def test_a_release_day_without_a_new_print_has_no_actual():
    got = expect(vintages(), CPI, D(2024, 6, 20))
    assert got["actual"] is None and got["period"] is None
    assert got["previous"] == pytest.approx(100 * (102.51 / 100.5 - 1))  # the latest change
    assert got["consensus"] == pytest.approx(0.75)  # median of -0.99, 0.5, 1.0, 2.0


def test_diff_headline_and_fill_leaves_other_codes_alone():
    nfp = Headline("CPIAUCSL", "diff", "thousands m/m")
    events = pd.DataFrame(
        {
            "event_code": ["NFP", "FOMC"],
            "release_date": [D(2024, 6, 12), D(2024, 6, 12)],
            "period": [None, None],
            "actual": [None, 5.5],
            "previous": [None, None],
            "consensus": [None, 5.25],
            "unit": [None, "%"],
            "consensus_source": [None, None],
        }
    )
    out = fill_expectations(events, vintages(), {"NFP": nfp})
    assert out.loc[0, "actual"] == pytest.approx(2.01)
    assert out.loc[0, "consensus"] == pytest.approx(0.4)  # median of 1.0, -1.0, 0.4
    assert out.loc[0, "consensus_source"] == "model"
    fomc = out.loc[1]  # no headline series: as the source delivered it
    assert [fomc["actual"], fomc["consensus"], fomc["unit"]] == [5.5, 5.25, "%"]
    assert pd.isna(fomc["previous"]) and fomc["consensus_source"] is None


def test_rows_with_unparsed_dates_are_left_out_not_fatal():
    bad = pd.DataFrame(
        [
            ("CPIAUCSL", None, D(2024, 6, 12), OPEN, 999.0, "fred"),
            ("CPIAUCSL", D(2024, 5, 1), None, OPEN, 999.0, "fred"),
        ],
        columns=vintages().columns,
    )
    got = expect(pd.concat([vintages(), bad], ignore_index=True), CPI, D(2024, 6, 12))
    assert got["actual"] == pytest.approx(100 * (102.51 / 100.5 - 1))
    assert got["consensus"] == pytest.approx(0.4)
