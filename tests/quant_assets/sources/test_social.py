"""Social sentiment slot: file-backed posts scored into the news sentiment tables."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from quant_assets.schemas.tables import ARTICLE_SENTIMENT, SENTIMENT_DAILY
from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.sentiment import score_texts
from quant_assets.sources.social import FilePostFetcher, PostFetcher, SocialSentimentSource

POSTS = [
    {
        "post_id": "1",
        "created_at": "2024-05-01T13:00:00Z",
        "text": "$TSLA shares plunged after the recall",
    },
    {"post_id": "2", "created_at": "2024-05-01T15:00:00Z", "text": "$TSLA $NVDA rally, strong day"},
    {
        "post_id": "3",
        "created_at": "2024-05-02T09:00:00Z",
        "text": "NVDA beats again",
        "symbols": "NVDA",
    },
    {"post_id": "4", "created_at": "2024-05-09T09:00:00Z", "text": "$TSLA out of range"},
    {"post_id": "5", "created_at": "2024-05-01T10:00:00Z", "text": "$GME to the moon"},
]


@pytest.fixture
def source(tmp_path) -> SocialSentimentSource:
    path = tmp_path / "posts.json"
    path.write_text(json.dumps(POSTS))
    return SocialSentimentSource(FilePostFetcher(path))


def test_posts_are_scored_per_symbol_with_channel_social(source):
    out = source.article_sentiment(["TSLA", "NVDA"], dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    assert list(out.columns) == ARTICLE_SENTIMENT.column_names
    assert sorted(zip(out["article_id"], out["symbol"], strict=True)) == [
        ("social_file:1", "TSLA"),
        ("social_file:2", "NVDA"),
        ("social_file:2", "TSLA"),
        ("social_file:3", "NVDA"),
    ]
    assert (out["channel"] == "social").all()
    expected = score_texts(pd.Series([POSTS[0]["text"]]))["score"].iloc[0]
    assert out.loc[out["article_id"] == "social_file:1", "score"].iloc[0] == pytest.approx(expected)
    assert expected < 0


def test_daily_social_sentiment_counts_posts_per_symbol_and_day(source):
    daily = source.sentiment_daily(["TSLA", "NVDA"], dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    assert list(daily.columns) == SENTIMENT_DAILY.column_names
    counts = {(r.symbol, r.date): r.n_items for r in daily.itertuples()}
    assert counts == {
        ("NVDA", dt.date(2024, 5, 1)): 1,
        ("NVDA", dt.date(2024, 5, 2)): 1,
        ("TSLA", dt.date(2024, 5, 1)): 2,
    }


def test_fetcher_protocol_and_errors(tmp_path, source):
    assert isinstance(source.fetcher, PostFetcher)
    with pytest.raises(NotSupported):
        source.ohlcv(["TSLA"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "1", "text": "x"}]))
    with pytest.raises(SourceError, match="post_id"):
        SocialSentimentSource(FilePostFetcher(bad)).article_sentiment(
            ["X"], dt.date(2024, 1, 1), dt.date(2024, 1, 2)
        )
