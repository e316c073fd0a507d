"""Model specs: the shipped file loads, and a bad entry fails at load naming spec, field, value."""

from __future__ import annotations

import pytest

from ml.features import PRICE_FEATURES, SENTIMENT_FEATURES
from ml.specs import SPECS_PATH, SpecError, load_specs, parse_specs


def _spec(**over):
    base = {"name": "m", "kind": "xgb", "target": "fwd_return", "horizon": 1, "features": ["price"]}
    return {"specs": [{**base, **over}]}


def test_shipped_specs_load_with_feature_sets_expanded():
    specs = load_specs()
    assert list(specs) == list(load_specs(SPECS_PATH))  # cached, file order
    m = specs["xgb_fwd_return_h1"]
    assert m.features == (*PRICE_FEATURES, *SENTIMENT_FEATURES)
    assert m.task == "regression" and m.label_options() == {"vol_scaled": True, "relative": False}
    tb = specs["xgb_triple_barrier_h10"]
    assert tb.task == "classification"
    assert tb.label_options()["upper"] == 1.0 and tb.label_options()["method"] == "vol"
    # the simulation pair differs only in the augmentation
    hist, sim = specs["xgb_price_fwd_return_h1"], specs["xgb_price_sim_fwd_return_h1"]
    assert hist.augment is None and sim.augment is not None and sim.augment.model == "bootstrap"
    assert (hist.target, hist.horizon, hist.features) == (sim.target, sim.horizon, sim.features)
    meta = specs["meta_megacap_momentum_h21"]
    assert meta.strategy == "megacap_momentum" and meta.approve.metric == "auc_z"
    assert m.approve.metric == "rank_ic_t" and m.approve.threshold == 2.0  # the default


def test_every_meta_spec_names_a_library_strategy():
    from quant_assets.strategy.config import load_library

    library = load_library()
    for spec in load_specs().values():
        if spec.strategy is not None:
            assert spec.strategy in library, spec.name


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"target": "fwd"}, "model spec 'm': target: Input should be 'fwd_return'"),
        ({"horizon": 0}, "horizon: Input should be greater than or equal to 1 (got 0)"),
        ({"features": ["price", "bogus"]}, "'bogus' is neither a feature nor a set"),
        ({"kind": "lstm"}, "kind: Input should be 'xgb' or 'linear' (got 'lstm')"),
        ({"colour": "red"}, "colour: unknown field (got 'red')"),
        ({"name": "Bad Name"}, "name: String should match pattern"),
        ({"target": "direction", "vol_scaled": True}, "vol_scaled: only for target fwd_return"),
        ({"barrier": {"upper": 2.0}}, "barrier: only for target triple_barrier"),
        ({"augment": {"model": "garch"}}, "augment.model: Input should be 'bootstrap' or 'regime'"),
        (
            {"features": ["price", "sentiment"], "augment": {}},
            "augment: simulated paths have prices only",
        ),
        ({"strategy": "megacap_momentum"}, "strategy: meta-labelling needs target triple_barrier"),
        ({"approve": {"metric": "sharpe"}}, "approve.metric: Input should be 'rank_ic_t'"),
    ],
)
def test_invalid_spec_names_field_and_value(override, message):
    with pytest.raises(SpecError) as err:
        parse_specs(_spec(**override))
    assert message in str(err.value)


def test_duplicates_and_empty_files_are_refused(tmp_path):
    two = {"specs": [_spec()["specs"][0], _spec()["specs"][0]]}
    with pytest.raises(SpecError, match="model spec 'm': name: defined twice"):
        parse_specs(two)
    with pytest.raises(SpecError, match="no specs"):
        parse_specs({"specs": []})
    bad = tmp_path / "specs.yaml"
    bad.write_text("specs: [unclosed\n")
    with pytest.raises(SpecError, match="cannot read"):
        load_specs(bad)
