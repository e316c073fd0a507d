"""Model specs: what each daily model predicts, from which features, with which learner.

`ml/specs.yaml` lists them; each name is a partition of the Dagster `ml` assets and the
name its versions are registered under in MLflow. A bad entry (unknown field, target or
feature, a duplicate name) raises `SpecError` naming the spec, the field and the value
when the file loads, so a typo never trains the wrong model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ml.augment import PathModel
from ml.features import CONTEXT_FEATURES, PRICE_FEATURES, SENTIMENT_FEATURES
from ml.labels import BarrierMethod, Target, task_of
from ml.models import Kind

SPECS_PATH = Path(__file__).with_name("specs.yaml")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "price": PRICE_FEATURES,
    "sentiment": SENTIMENT_FEATURES,
    "context": CONTEXT_FEATURES,  # mart only: group ranks, macro as known, event flags
}


class SpecError(ValueError):
    """An invalid model spec (names the spec, field and value)."""


class Barrier(BaseModel):
    """Triple-barrier settings (`ml.labels.triple_barrier`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upper: float = Field(1.0, gt=0)
    lower: float = Field(1.0, gt=0)
    method: BarrierMethod = "vol"
    window: int = Field(20, ge=2)


class Augment(BaseModel):
    """Synthetic training paths from the stochastic simulator (`ml.augment.Augmenter`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: PathModel = "bootstrap"
    n_paths: int = Field(2, ge=1, le=20)  # per symbol
    n_days: int = Field(504, ge=60, le=5040)  # bars per path
    weight: float = Field(1.0, gt=0, le=10)  # sample weight of a synthetic row


APPROVAL_METRICS = ("rank_ic_t", "ic_t", "auc_z")  # out-of-sample statistics, ml.evaluate


class Approval(BaseModel):
    """When a fitted version becomes the champion: its out-of-sample `metric` >= threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Literal["rank_ic_t", "ic_t", "auc_z"] = "rank_ic_t"
    threshold: float = 2.0


class ModelSpec(BaseModel):
    """One daily model: target and horizon, features, learner and its parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    description: str = ""
    kind: Kind
    target: Target
    horizon: int = Field(ge=1, le=252)
    vol_scaled: bool = False
    relative: bool = False
    barrier: Barrier | None = None
    augment: Augment | None = None
    # Meta-labelling: the library strategy whose new trades are labelled (1 = the target
    # barrier is touched before the stop within `horizon` bars; target_barrier only).
    strategy: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")
    approve: Approval = Field(default_factory=Approval)
    features: tuple[str, ...] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("features", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> tuple[str, ...]:
        """Set names (price, sentiment) expand to their columns; unknown names are errors."""
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list of feature or set names, got {value!r}")
        known = {f for names in FEATURE_SETS.values() for f in names}
        out: list[str] = []
        for item in value:
            names = FEATURE_SETS.get(item, (item,))
            for n in names:
                if n not in known:
                    raise ValueError(
                        f"{item!r} is neither a feature nor a set ({', '.join(FEATURE_SETS)})"
                    )
                if n not in out:
                    out.append(n)
        return tuple(out)

    @property
    def task(self) -> Literal["classification", "regression"]:
        return task_of(self.target)

    def label_options(self) -> dict[str, Any]:
        """Keyword arguments of `ml.features.build_dataset` beyond target and horizon."""
        opts: dict[str, Any] = {"vol_scaled": self.vol_scaled, "relative": self.relative}
        if self.target == "triple_barrier":
            opts.update((self.barrier or Barrier()).model_dump())
        return opts

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if self.barrier is not None and self.target != "triple_barrier":
            raise ValueError(f"barrier: only for target triple_barrier, not {self.target!r}")
        if self.vol_scaled and self.target != "fwd_return":
            raise ValueError(f"vol_scaled: only for target fwd_return, not {self.target!r}")
        if self.strategy is not None and self.target != "triple_barrier":
            raise ValueError(
                f"strategy: meta-labelling needs target triple_barrier, not {self.target!r}"
            )
        if self.strategy is not None and self.augment is not None:
            raise ValueError("augment: simulated paths have no strategy trades to meta-label")
        if self.augment is not None:
            extra = [f for f in self.features if f not in PRICE_FEATURES]
            if extra:
                raise ValueError(
                    f"augment: simulated paths have prices only, so features must be price "
                    f"features; got {extra}"
                )
        return self


def _describe(name: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        if where:  # a whole-spec rule names its field in the message
            value = "" if e["type"] == "missing" else f" (got {e.get('input')!r})"
            msg = f"{where}: {msg}{value}"
        lines.append(f"model spec {name!r}: {msg}")
    return "\n".join(lines)


def parse_specs(raw: Any, where: str = "specs") -> dict[str, ModelSpec]:
    """Validate a `{specs: [...]}` mapping into specs by name; all errors reported together."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("specs"), list):
        raise SpecError(f"{where}: expected a mapping with a list under 'specs'")
    out: dict[str, ModelSpec] = {}
    errors: list[str] = []
    for i, entry in enumerate(raw["specs"]):
        name = str(entry.get("name", f"specs[{i}]")) if isinstance(entry, Mapping) else f"[{i}]"
        try:
            spec = ModelSpec.model_validate(entry)
        except ValidationError as e:
            errors.append(_describe(name, e))
            continue
        if spec.name in out:
            errors.append(f"model spec {spec.name!r}: name: defined twice")
        out[spec.name] = spec
    if not out and not errors:
        errors.append("no specs")
    if errors:
        raise SpecError(f"{where}:\n" + "\n".join(errors))
    return out


def configured_specs_path() -> Path:
    """The user's specs (setting QUANT_MODEL_SPECS) or else the packaged ml/specs.yaml."""
    from quant_assets.settings import get_settings

    return get_settings().model_specs_path or SPECS_PATH


def load_specs(path: Path | None = None) -> dict[str, ModelSpec]:
    """The model specs of `path` (default: QUANT_MODEL_SPECS, else ml/specs.yaml) by name."""
    return _load_specs(Path(path) if path is not None else configured_specs_path())


@cache
def _load_specs(path: Path) -> dict[str, ModelSpec]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from exc
    return parse_specs(raw, str(path))


# Each walk-forward fold must have out-of-sample dates to score; below 2 per fold the
# splitter fails or a fold is a single date. With the first 40% of dates as the initial
# training window and 4 folds that is ceil(2 * 4 / 0.6) = 14 labelled dates. (A
# meta-labelling dataset has a few trades a month, so a stricter floor would refuse it;
# the approval rule, not this floor, judges whether the fit is good enough.)
MIN_TEST_DATES_PER_FOLD = 2


def spec_skip_reason(spec: ModelSpec, library: Mapping[str, Any]) -> str | None:
    """Why a spec cannot run with this strategy library (None: it can).

    A meta-labelling spec needs its strategy; a user's universe may leave it out (the
    library then lists it under `skipped`), which skips the spec instead of failing it."""
    if spec.strategy is None:
        return None
    skipped = getattr(library, "skipped", {})
    if spec.strategy in skipped:
        return f"its strategy {spec.strategy!r} is skipped: {skipped[spec.strategy]}"
    if spec.strategy not in library:
        return f"its strategy {spec.strategy!r} is not in the strategy library"
    return None


def history_skip_reason(n_dates: int, *, n_splits: int = 4, min_train: float = 0.4) -> str | None:
    """Why a dataset of `n_dates` labelled dates is too short to fit and score (None: fine)."""
    need = math.ceil(MIN_TEST_DATES_PER_FOLD * n_splits / (1.0 - min_train))
    if n_dates >= need:
        return None
    return (
        f"too little history: {n_dates} labelled dates, {need} needed for {n_splits} "
        f"walk-forward folds of {MIN_TEST_DATES_PER_FOLD}+ out-of-sample dates each"
    )
