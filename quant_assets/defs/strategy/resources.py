"""How the library becomes a book: capital, sizing rule and limits, as one resource.

Every asset that sizes or values positions (target book, scenarios, recommendations)
reads the same resource, so they agree on the capital and the rules.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from quant_assets.risk.limits import DrawdownLimits, ExposureLimits
from quant_assets.strategy.recommend import BookConfig


class BookResource(dg.ConfigurableResource):
    """Paper capital, capital split, sizing rule, exposure and drawdown limits, windows."""

    capital: float = 1_000_000.0
    capital_split: dict[str, float] = Field(default_factory=dict)  # empty: equal split
    sizing_rule: str = "volatility_target"  # or "strategy_weights"
    target_vol: float = 0.10
    max_sleeve_scale: float = 1.0
    max_name: float = 0.15
    max_gross: float = 1.5
    max_net: float = 1.0
    group_gross: float = 0.40
    crypto_gross: float = 0.15
    derisk_at: float = 0.10
    halt_at: float = 0.20
    history_days: int = 5 * 365  # bars behind signals and backtests
    signal_days: int = 10  # calendar days of signals stored per run
    valuation_paths: int = 2_000  # bootstrap paths behind the backtest statistics' intervals
    events_days: int = 5

    def book_config(self) -> BookConfig:
        return BookConfig(
            capital=self.capital,
            capital_split=dict(self.capital_split) or None,
            sizing_rule=self.sizing_rule,
            target_vol=self.target_vol,
            max_sleeve_scale=self.max_sleeve_scale,
            limits=ExposureLimits(
                max_name=self.max_name,
                max_gross=self.max_gross,
                max_net=self.max_net,
                group_gross=self.group_gross,
                class_gross_by={"crypto": self.crypto_gross},
            ),
            drawdown=DrawdownLimits(derisk_at=self.derisk_at, halt_at=self.halt_at),
            events_days=self.events_days,
        )
