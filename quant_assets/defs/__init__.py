"""The Dagster layer: thin wiring of domain functions into assets, checks and schedules."""

import warnings

import dagster as dg

# BackfillPolicy is marked beta; single-run backfills are the design, so say it once here.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
