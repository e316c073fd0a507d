"""`quant`: the command line of the platform.

`quant main` is the README's main job: it creates the warehouse and materializes the daily
graph on the configured sources (offline sample by default), catching up from the last
loaded day in one run per partition range. `quant api` serves the warehouse read-only
over HTTP (the `api` package). `quant ask` / `quant chat` question the platform's data
through the LLM engine (`quant_assets.llm`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quant_assets.defs.pipeline import Reload
    from quant_assets.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quant", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("main", help="create the warehouse and materialize the daily graph")
    run.add_argument(
        "--through", type=dt.date.fromisoformat, help="last day to load (default: today)"
    )
    run.add_argument(
        "--reload",
        type=_reload,
        metavar="FROM[..TO]",
        help="re-read the raw feeds of the years FROM..TO cover (corrected files, vendor "
        "restatements), e.g. 2024-01-01..2024-03-31; without ..TO from FROM's year through "
        "--through; the derived layer of the later years is rebuilt on them and every model "
        "refitted",
    )
    sub.add_parser("migrate", help="create or upgrade the warehouse schemas and tables")
    init = sub.add_parser("init", help="write an editable starter universe, strategies and specs")
    init.add_argument("dir", nargs="?", default=".", help="folder to write (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    sub.add_parser("settings", help="print the effective settings (secrets masked)")
    scen = sub.add_parser(
        "scenarios", help="verify: the historical stress scenarios' moves against FRED series"
    )
    scen.add_argument("action", choices=["verify"])
    scen.add_argument("--file", help="your scenarios YAML, read after the packaged one")
    sub.add_parser("kill-switch", help="on|off|status [--reason ...]: stop or allow every order")
    sub.add_parser("orders", help="list|approve|reject [--date ...]: the day's order set")
    api = sub.add_parser("api", help="serve the read-only HTTP API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    ask = sub.add_parser("ask", help="ask one question about the platform's data (LLM + tools)")
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--session", help="continue this conversation (default: a new one)")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    chat = sub.add_parser(
        "chat", help="an interactive conversation (LLM + tools); empty line quits"
    )
    chat.add_argument("--session", help="resume this conversation (default: a new one)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kill-switch"]:
        from execution.cli_commands import kill_switch_command

        return kill_switch_command(argv[1:])
    if argv[:1] == ["orders"]:
        from execution.cli_commands import orders_command

        return orders_command(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "init":  # before settings: it writes what settings will point at
        return init_project(Path(args.dir), force=args.force)

    from quant_assets.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"quant: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.command == "settings":
        print(settings.describe())
        return 0
    if args.command == "migrate":
        applied = _migrate(settings.warehouse_url)
        shown = settings.describe_value("warehouse_url")
        print(f"warehouse {shown}: {len(applied)} migration(s) applied")
        return _publish_snapshot(settings.warehouse_url)
    if args.command == "api":
        return _serve_api(settings, args.host, args.port)
    if args.command == "scenarios":
        return _verify_scenarios(settings, args.file)
    if args.command in ("ask", "chat"):
        from quant_assets.llm.cli import ask_command, chat_command

        if args.command == "ask":
            return ask_command(settings, args.question, session=args.session, as_json=args.json)
        return chat_command(settings, session=args.session)
    through = args.through or dt.datetime.now(dt.UTC).date()
    if args.reload is not None:
        try:
            args.reload.years(through, settings.sample_start)
        except ValueError as exc:
            print(f"quant main: {exc}", file=sys.stderr)
            return 2
    prepare_dagster_home(settings.dagster_home)
    from quant_assets.defs.pipeline import run_daily

    summary = run_daily(settings, through=through, reload=args.reload)
    print(summary.render())
    # after a failed run too: readers get what the runs before it wrote (each slice is
    # replaced in one transaction, so the file is consistent)
    published = _publish_snapshot(settings.warehouse_url)
    return 1 if not summary.ok else published


def _reload(text: str) -> Reload:
    """argparse type of `--reload`: a bad range is a usage error naming the value."""
    from quant_assets.defs.pipeline import Reload

    try:
        return Reload.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


STARTER_DIR = Path(__file__).with_name("starter")


def init_project(target: Path, *, force: bool = False) -> int:
    """Copy the starter set (universe, strategies, model specs, files mapping) to `target`
    and print the settings that point at it. Existing files are kept unless `force`."""
    files = sorted(p for p in STARTER_DIR.rglob("*") if p.is_file())
    existing = [target / p.relative_to(STARTER_DIR) for p in files]
    clashes = [str(p) for p in existing if p.exists()]
    if clashes and not force:
        print(f"quant init: would overwrite {', '.join(clashes)} (use --force)", file=sys.stderr)
        return 1
    for src, dst in zip(files, existing, strict=True):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    (target / "files" / "ohlcv").mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    print(f"wrote {len(files)} files under {root}; to use them:")
    print(f"  export QUANT_UNIVERSE={root / 'universe.yaml'}")
    print(f"  export QUANT_STRATEGIES={root / 'strategies'}")
    print(f"  export QUANT_MODEL_SPECS={root / 'model_specs.yaml'}")
    print(f"  export QUANT_SOURCE_MODE=files QUANT_FILES_DIR={root / 'files'}")
    print("then put daily bars in files/ohlcv/<SYMBOL>.csv and run: quant main")
    return 0


def _migrate(url: str) -> list[str]:
    from quant_assets.warehouse import connect

    with connect(url) as wh:
        return wh.migrate()


def _publish_snapshot(url: str) -> int:
    """Refresh the read snapshot the app, API and CLI read (DuckDB only); 1 if it failed."""
    from quant_assets.warehouse import WarehouseError
    from quant_assets.warehouse.snapshot import is_current, publish_snapshot, snapshot_path

    if snapshot_path(url) is None:
        return 0
    if is_current(url):
        print(f"read snapshot {snapshot_path(url)}: current (nothing written since published)")
        return 0
    try:
        info = publish_snapshot(url)
    except WarehouseError as exc:
        print(f"quant: the read snapshot was not published: {exc}", file=sys.stderr)
        return 1
    print(f"read snapshot {info.path}: {info.bytes / 1e6:.1f} MB in {info.seconds:.2f} s")
    return 0


def _verify_scenarios(settings: Settings, user_file: str | None) -> int:
    """Fetch each factor's FRED series over every crisis window and compare; 1 if a stated
    move is off by more than the tolerance, 2 without a FRED key."""
    from quant_assets.sim.scenario_check import FRED_SERIES, check_moves, render
    from quant_assets.sim.scenarios import HistoricalScenario, load_scenarios
    from quant_assets.sources.http import AuthError
    from quant_assets.sources.registry import build_source

    scenarios = load_scenarios(*([user_file] if user_file else []))
    windows = [s for s in scenarios.scenarios.values() if isinstance(s, HistoricalScenario)]
    try:
        fred = build_source("fred", settings=settings)
    except AuthError as exc:
        print(f"quant scenarios verify: {exc}", file=sys.stderr)
        return 2
    first = min(s.start for s in windows) - dt.timedelta(days=10)  # a start on a holiday
    last = max(s.end for s in windows)
    factors = {f for s in windows for f in s.moves if f in FRED_SERIES}
    series = {f: fred.latest_values(FRED_SERIES[f], first, last) for f in sorted(factors)}
    report = check_moves(scenarios, series)
    print(render(report))
    off = report[report["within_tolerance"] == False]  # noqa: E712 (None = not checked)
    checked = int(report["within_tolerance"].notna().sum())
    print(f"\n{checked} moves checked against FRED, {len(off)} off, "
          f"{len(report) - checked} not checked")  # fmt: skip
    return 1 if len(off) else 0


def _serve_api(settings: Settings, host: str, port: int) -> int:
    """Run the HTTP API in the foreground until interrupted."""
    import uvicorn

    from api import create_app

    if not settings.api_key_list():
        print(
            "quant api: QUANT_API_KEYS is not set, so every /v1 route answers 401 "
            "(/health and /metrics stay open)",
            file=sys.stderr,
        )
    uvicorn.run(create_app(settings), host=host, port=port)
    return 0


def prepare_dagster_home(dagster_home: Path) -> None:
    """Point Dagster at a persistent local instance so the UI shows the runs of `quant main`."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(dagster_home.resolve())


if __name__ == "__main__":
    raise SystemExit(main())
