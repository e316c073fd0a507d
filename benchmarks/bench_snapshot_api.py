"""Read snapshot and API under load: publish time and size, p50/p99 with and without a writer.

    .venv/bin/python benchmarks/bench_snapshot_api.py --warehouse data/warehouse.duckdb
    .venv/bin/python benchmarks/bench_snapshot_api.py --warehouse W --readers 20 --seconds 30

The warehouse file is copied to a temporary directory first (the original is never
opened). Then:
1. the read snapshot is published --publishes times (lock, CHECKPOINT, copy, fsync, swap);
2. `quant api` serves the copy on 127.0.0.1 and --readers threads call /v1/bars without
   pause for --seconds, with no writer;
3. the same again while a writer process runs --rounds rounds of: open the live file
   read-write, rewrite one symbol's last year of bars (replace_slice), close, publish
   the snapshot (readers measured from the writer's start to its exit).
Failed requests (any status but 200, connection errors) and failed writer rounds are
counted. `--live` runs 2 and 3 without any snapshot, the API reading the live file (the
design before the snapshot), for comparison. `uptime`'s load average is printed first: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

KEY = "bench-key-0123456789abcdef"
WRITER = textwrap.dedent(
    """
    import sys, time
    from quant_assets.schemas.tables import OHLCV_DAILY
    from quant_assets.warehouse import connect
    from quant_assets.warehouse.snapshot import publish_snapshot

    url, rounds, publish = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "publish"
    print("ready", flush=True)
    ok = failed = 0
    for _ in range(rounds):
        try:
            with connect(url) as wh:
                bars = wh.read_table(OHLCV_DAILY.fqn, where={"symbol": ["SPY"]})
                last = bars[bars["date"] >= bars["date"].max() - __import__("pandas").Timedelta(days=365)]
                wh.replace_slice(OHLCV_DAILY.fqn, last, start=last["date"].min().date(),
                                 end=last["date"].max().date(), where={"symbol": ["SPY"]})
            if publish:
                publish_snapshot(url)
            ok += 1
        except Exception as exc:
            failed += 1
            print(f"writer round failed: {exc}", file=sys.stderr)
    print(ok, failed)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readers(
    base: str, n: int, seconds: float, until_done: subprocess.Popen | None = None
) -> tuple[list[float], Counter]:
    """Read for `seconds`, or (with `until_done`) until that process exits."""
    stop = threading.Event()
    lat: list[list[float]] = [[] for _ in range(n)]
    codes: Counter = Counter()
    lock = threading.Lock()

    def loop(out: list[float]) -> None:
        req = urllib.request.Request(
            f"{base}/v1/bars?symbols=SPY,QQQ&start=2024-01-01&limit=500",
            headers={"X-API-Key": KEY},
        )
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    resp.read()
                    code = resp.status
            except urllib.error.HTTPError as exc:
                code = exc.code
            except OSError:
                code = -1
            out.append(time.perf_counter() - t0)
            with lock:
                codes[code] += 1

    threads = [threading.Thread(target=loop, args=(lat[i],), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    if until_done is None:
        time.sleep(seconds)
    else:
        until_done.wait(timeout=1800)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    return sorted(x for xs in lat for x in xs), codes


def _pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1)))] * 1000 if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, required=True, help="a DuckDB warehouse file")
    ap.add_argument("--readers", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--publishes", type=int, default=3)
    ap.add_argument(
        "--live",
        action="store_true",
        help="no snapshot: the API reads the live file (the old design), for comparison",
    )
    ap.add_argument("--rounds", type=int, default=3, help="writer rounds in the second phase")
    args = ap.parse_args()
    print("load average:", os.getloadavg())

    from quant_assets.warehouse.snapshot import publish_snapshot

    work = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    try:
        live = work / "warehouse.duckdb"
        shutil.copyfile(args.warehouse, live)
        url = f"duckdb:///{live}"
        mode = "live" if args.live else "publish"
        if not args.live:
            infos = [publish_snapshot(url) for _ in range(args.publishes)]
            secs = [i.seconds for i in infos]
            print(
                f"\nsnapshot: {infos[-1].bytes / 1e6:.1f} MB; publish median "
                f"{statistics.median(secs):.2f} s (min {min(secs):.2f}, max {max(secs):.2f}) "
                f"over {len(secs)} runs"
            )
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_")}
        env.update(QUANT_WAREHOUSE_URL=url, QUANT_API_KEYS=KEY, QUANT_DATA_DIR=str(work))
        api = subprocess.Popen(
            [sys.executable, "-m", "quant_assets.cli", "api", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{base}/metrics", timeout=5).read()
                    break
                except OSError:
                    time.sleep(0.3)
            rows = []
            lat, codes = _readers(base, args.readers, args.seconds)
            rows.append(("no writer", lat, codes, ""))
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, url, str(args.rounds), mode],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
            t0 = time.perf_counter()
            lat, codes = _readers(base, args.readers, 0, until_done=writer)
            writer_s = time.perf_counter() - t0
            ok, failed = writer.stdout.read().split()[-2:]
            rows.append(
                ("writer running", lat, codes, f"{ok} ok / {failed} failed in {writer_s:.0f} s")
            )
        finally:
            api.terminate()
            api.wait(timeout=30)
        print(
            f"\n| {args.readers} readers | requests | p50 ms | p99 ms "
            "| non-200 | writer rounds (write + publish) |"
        )
        print("|---|---|---|---|---|---|")
        for name, lat, codes, w in rows:
            bad = sum(v for k, v in codes.items() if k != 200)
            print(
                f"| {name} | {len(lat)} | {_pct(lat, 0.5):.0f} | {_pct(lat, 0.99):.0f} | {bad} | {w} |"
            )
        print("\nload average:", os.getloadavg())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
