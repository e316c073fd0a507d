"""Social-media sentiment: an adapter slot with a pluggable post fetcher.

No free social feed is usable from here: Reddit's API (praw) needs an approved app since
Nov 2025 and StockTwits has no maintained Python client. So the source is
a slot: give it any `PostFetcher` (a licensed feed, an export, the file fetcher below) and
it scores the posts with the same scorer as news, into news.article_sentiment /
news.sentiment_daily rows with channel='social'.

A fetcher returns one row per post with columns `post_id`, `created_at` (parseable to
UTC), `text`, and optionally `symbols` (comma-separated canonical symbols); posts without
symbols get them from their cashtags ($AAPL).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from quant_assets.sources.base import NotSupported, SourceError
from quant_assets.sources.sentiment import daily_sentiment, score_articles

POST_COLUMNS = ("post_id", "created_at", "text")
_CASHTAG = r"\$([A-Za-z][A-Za-z0-9.\-]{0,9})\b"


@runtime_checkable
class PostFetcher(Protocol):
    """Anything that returns posts mentioning `symbols` created in start..end (UTC dates)."""

    name: str

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame: ...


class FilePostFetcher:
    """Posts from a JSON array, JSON-lines or CSV file: for tests and user exports."""

    def __init__(self, path: str | Path, name: str = "social_file"):
        self.path, self.name = Path(path), name

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        suffix = self.path.suffix.lower()
        if suffix == ".csv":
            return pd.read_csv(self.path, dtype=str)
        text = self.path.read_text(encoding="utf-8")
        if suffix == ".jsonl":
            return pd.DataFrame([json.loads(line) for line in text.splitlines() if line.strip()])
        return pd.DataFrame(json.loads(text))


class SocialSentimentSource:
    """Scores a fetcher's posts; serves no warehouse domain of the `Source` protocol itself."""

    def __init__(self, fetcher: PostFetcher, *, source: str = "social"):
        self.fetcher = fetcher
        self.name = source

    def posts_as_articles(
        self, symbols: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """The fetched posts in news.articles shape, restricted to `symbols` and start..end."""
        posts = self.fetcher.fetch(symbols, start, end)
        missing = [c for c in POST_COLUMNS if c not in posts.columns]
        if missing:
            raise SourceError(self.fetcher.name, f"posts lack columns {missing}", field=missing[0])
        created = pd.to_datetime(posts["created_at"], utc=True, errors="coerce")
        tagged = (
            posts["symbols"] if "symbols" in posts.columns else pd.Series(None, index=posts.index)
        )
        cashtags = posts["text"].fillna("").str.findall(_CASHTAG).map(lambda t: ",".join(t).upper())
        wanted = {s.upper() for s in symbols}
        syms = tagged.fillna("").astype(str).where(tagged.fillna("").astype(str) != "", cashtags)
        syms = syms.str.split(",").map(
            lambda xs: ",".join(x.strip() for x in xs if x.strip().upper() in wanted)
        )
        in_range = created.dt.date.between(start, end) | created.isna()
        return pd.DataFrame(
            {
                "article_id": self.fetcher.name + ":" + posts["post_id"].astype(str),
                "published_at": created,
                "title": posts["text"],
                "description": None,
                "symbols": syms,
                "source": self.name,
                "is_sample": False,
            }
        )[in_range & (syms != "")].reset_index(drop=True)

    def article_sentiment(
        self, symbols: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        """news.article_sentiment rows, channel='social'."""
        return score_articles(self.posts_as_articles(symbols, start, end), channel="social")

    def sentiment_daily(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """news.sentiment_daily rows, channel='social'."""
        return daily_sentiment(self.article_sentiment(symbols, start, end))

    def _unsupported(self, domain: str):
        raise NotSupported(self.name, f"social sentiment does not serve {domain}")

    def ohlcv(self, symbols, start, end):
        self._unsupported("ohlcv")

    def security_events(self, symbols, start, end):
        self._unsupported("security_events")

    def economic_events(self, start, end):
        self._unsupported("economic_events")

    def geopolitical_events(self, start, end):
        self._unsupported("geopolitical_events")

    def macro_observations(self, series_ids, start, end):
        self._unsupported("macro_observations")

    def news(self, symbols, start, end):
        self._unsupported("news")
