"""Which model specs a user's universe and history can serve, and why not."""

from ml.specs import history_skip_reason, load_specs, spec_skip_reason
from quant_assets.strategy.config import Library


def test_meta_labelling_spec_follows_its_strategy() -> None:
    meta = load_specs()["meta_megacap_momentum_h21"]
    plain = load_specs()["linear_fwd_return_h1"]
    skipped = Library(skipped={"megacap_momentum": "group: 'us_megacap' is not a universe group"})
    assert spec_skip_reason(meta, skipped) == (
        "its strategy 'megacap_momentum' is skipped: group: 'us_megacap' is not a universe group"
    )
    assert spec_skip_reason(meta, Library()) == (
        "its strategy 'megacap_momentum' is not in the strategy library"
    )
    assert spec_skip_reason(meta, Library(megacap_momentum=object())) is None
    assert spec_skip_reason(plain, Library()) is None


def test_history_needs_enough_dates_for_every_fold() -> None:
    # 4 folds after the first 40% of dates, 2 out-of-sample dates each: ceil(8 / 0.6) = 14
    assert history_skip_reason(14) is None
    assert history_skip_reason(13) == (
        "too little history: 13 labelled dates, 14 needed for 4 walk-forward folds of "
        "2+ out-of-sample dates each"
    )
    assert history_skip_reason(0, n_splits=2) is not None
