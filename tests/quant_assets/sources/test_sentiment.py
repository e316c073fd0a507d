"""News sentiment: signs on finance phrases, the LM formula, fan-out, daily aggregation."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from quant_assets.schemas.tables import ARTICLE_SENTIMENT, SENTIMENT_DAILY
from quant_assets.schemas.validation import split_valid
from quant_assets.sources import sentiment
from quant_assets.sources.sentiment import daily_sentiment, score_articles, score_texts

FINANCE_NEGATIVE = [
    "Shares fell after the downgrade",
    "Stock plunges as company misses earnings estimates",
    "Retailer warns of weak holiday sales, cuts outlook",
    "Lender files for bankruptcy after loan defaults",
    "Profit warning sends shares lower",
    "Regulators open fraud probe into crypto exchange",
    "Results were not strong enough to satisfy investors",
]
FINANCE_POSITIVE = [
    "Shares surged after the upgrade",
    "Company beats earnings estimates and posts record revenue",
    "Chipmaker stock jumps on strong guidance",
    "Bitcoin rallies to new high as inflows climb",
    "Drug approval boosts biotech shares",
]


def test_plain_vader_misreads_the_downgrade_headline():
    # The reason for the finance lexicon: stock VADER calls this headline positive.
    assert SentimentIntensityAnalyzer().polarity_scores(FINANCE_NEGATIVE[0])["compound"] > 0


@pytest.mark.parametrize("text", FINANCE_NEGATIVE)
def test_finance_negatives_score_negative(text):
    row = score_texts(pd.Series([text])).iloc[0]
    assert row["score"] < 0 and row["lm_score"] < 0


@pytest.mark.parametrize("text", FINANCE_POSITIVE)
def test_finance_positives_score_positive(text):
    row = score_texts(pd.Series([text])).iloc[0]
    assert row["score"] > 0 and row["lm_score"] > 0


def test_lm_score_is_pos_minus_neg_over_hits_with_negated_positives_counted_negative():
    texts = pd.Series(
        [
            "revenue surged and margins improved despite a loss",  # 2 pos, 1 neg
            "the quarter was not profitable",  # negated positive -> 1 neg
            "the board met on tuesday",  # no hits
        ]
    )
    lm = sentiment.lm_scores(texts)
    assert lm["lm_pos"].tolist() == [2, 0, 0]
    assert lm["lm_neg"].tolist() == [1, 1, 0]
    assert lm["lm_score"].tolist() == pytest.approx([(2 - 1) / 3, -1.0, 0.0])


def test_combined_score_follows_the_documented_weights():
    texts = pd.Series(["Great day: shares jumped", "What a wonderful, lovely day", ""])
    out = score_texts(texts)
    vader = SentimentIntensityAnalyzer()
    for word in sentiment.finance_lexicon().pipe(lambda s: s.index[s == 0]):
        vader.lexicon.pop(word, None)
    for text, (_, row) in zip(texts, out.iterrows(), strict=True):
        v = vader.polarity_scores(text)["compound"]
        hits = sentiment.lm_scores(pd.Series([text]))[["lm_pos", "lm_neg"]].to_numpy().sum()
        w = sentiment.LM_WEIGHT if hits else 0.0
        assert row["vader_compound"] == pytest.approx(v, abs=1e-12)
        assert row["score"] == pytest.approx((1 - w) * v + w * row["lm_score"], abs=1e-12)
        assert -1 <= row["score"] <= 1


def _articles() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "article_id": ["a1", "a2", "a3", "a4"],
            "published_at": pd.to_datetime(
                [
                    "2024-01-02T14:00:00Z",
                    "2024-01-02T23:30:00-05:00",
                    "2024-01-03T01:00:00Z",
                    "2024-01-03T09:00:00Z",
                ],
                utc=True,
            ),
            "published_date": [
                dt.date(2024, 1, 2),
                dt.date(2024, 1, 3),
                dt.date(2024, 1, 3),
                dt.date(2024, 1, 3),
            ],
            "title": [
                "Apple and Microsoft shares fell after the downgrade",
                "Apple beats estimates",
                "Markets are quiet",
                "Microsoft stock surged",
            ],
            "description": [None, "Record iPhone sales.", None, ""],
            "url": ["u1", "u2", "u3", "u4"],
            "publisher": ["X"] * 4,
            "symbols": ["AAPL, MSFT", "AAPL,AAPL", None, "MSFT"],
            "source": ["newsapi"] * 4,
            "is_sample": [False] * 4,
        }
    )


def test_articles_fan_out_to_one_row_per_symbol():
    out = score_articles(_articles())
    pairs = sorted(zip(out["article_id"], out["symbol"], strict=True))
    # a3 has no symbols -> no rows; a2's duplicate symbol collapses to one row.
    assert pairs == [("a1", "AAPL"), ("a1", "MSFT"), ("a2", "AAPL"), ("a4", "MSFT")]
    a1 = out[out["article_id"] == "a1"]
    assert a1["score"].nunique() == 1 and a1["score"].iloc[0] < 0
    assert (out["channel"] == "news").all()
    # The evening New York article is already Jan 3 in UTC.
    assert out.loc[out["article_id"] == "a2", "published_date"].iloc[0] == dt.date(2024, 1, 3)


def test_daily_aggregation_matches_a_hand_computation():
    rng = np.random.default_rng(3)
    n = 40
    frame = pd.DataFrame(
        {
            "article_id": [f"x{i}" for i in range(n)],
            "symbol": rng.choice(["AAPL", "MSFT", "BTC"], n),
            "published_at": pd.Timestamp("2024-03-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 4 * 24 * 60, n), unit="min"),
            "channel": rng.choice(["news", "social"], n),
            "vader_compound": 0.0,
            "lm_score": 0.0,
            "score": rng.uniform(-1, 1, n),
            "source": "newsapi",
            "is_sample": False,
        }
    )
    frame["published_date"] = frame["published_at"].dt.date
    groups: dict[tuple, list[float]] = defaultdict(list)
    for row in frame.itertuples():
        groups[(row.symbol, row.published_at.date(), row.channel)].append(row.score)

    out = daily_sentiment(frame)
    assert len(out) == len(groups)
    for row in out.itertuples():
        scores = groups[(row.symbol, row.date, row.channel)]
        assert row.n_items == len(scores)
        assert row.score_sum == pytest.approx(sum(scores), abs=1e-12)
        assert row.score_mean == pytest.approx(sum(scores) / len(scores), abs=1e-12)


def _assert_contract(df: pd.DataFrame, table) -> None:
    assert list(df.columns) == table.column_names
    for col in table.columns:
        if not col.nullable:
            assert df[col.name].notna().all(), col.name
    valid, rejected = split_valid(table.fqn, df)
    assert len(rejected) == 0, rejected
    assert len(valid) == len(df)


def test_outputs_pass_the_column_contract():
    scored = score_articles(_articles())
    _assert_contract(scored, ARTICLE_SENTIMENT)
    assert str(scored["published_at"].dtype) == "datetime64[ns, UTC]"
    _assert_contract(daily_sentiment(scored), SENTIMENT_DAILY)
    assert list(score_articles(_articles().iloc[:0]).columns) == ARTICLE_SENTIMENT.column_names
