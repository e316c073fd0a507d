"""The one-row path (`write_rows`, `read_rows`) on each backend: same rows as the frame path,
the table contract still enforced per value, one transaction per call."""

from __future__ import annotations

import datetime as dt

import pytest

from quant_assets.warehouse import RowWrite

ACCOUNTS = "execution.accounts"
EVENTS = "execution.order_events"
T0 = dt.datetime(2024, 3, 1, 14, 30, tzinfo=dt.UTC)


def _account(name: str, cash: float, at: dt.datetime = T0) -> dict:
    return {"account": name, "cash": cash, "initial_cash": 100.0, "updated_at": at}


def _event(seq: int, **kw) -> dict:
    row = {"client_order_id": "c1", "seq": seq, "event_time": T0, "from_status": None,
           "to_status": "new", "filled_qty": 0.0, "avg_fill_price": None,
           "broker_order_id": None, "reason": None}  # fmt: skip
    row.update(kw)
    return row


def test_rows_written_read_back_as_by_the_frame_path(warehouse):
    assert warehouse.write_rows(RowWrite(ACCOUNTS, [_account("a", 1.5), _account("b", 2.0)])) == 2
    rows = warehouse.read_rows(ACCOUNTS, where={"account": "b"})
    assert rows == [_account("b", 2.0)]
    frame = warehouse.read_table(ACCOUNTS)
    assert frame["account"].tolist() == ["a", "b"]
    assert frame["cash"].tolist() == [1.5, 2.0]
    assert frame["updated_at"].iloc[0] == T0
    assert warehouse.read_rows(ACCOUNTS, where={"account": "zz"}) == []
    assert warehouse.read_rows(ACCOUNTS, columns=["cash"], limit=1) == [{"cash": 1.5}]


def test_upsert_updates_a_stored_key_and_inserts_a_new_one(warehouse):
    warehouse.write_rows(RowWrite(ACCOUNTS, [_account("a", 1.0)]))
    later = T0 + dt.timedelta(hours=1)
    n = warehouse.write_rows(
        RowWrite(ACCOUNTS, [_account("a", 5.0, later), _account("b", 7.0)], upsert=True)
    )
    assert n == 2
    got = {r["account"]: (r["cash"], r["updated_at"]) for r in warehouse.read_rows(ACCOUNTS)}
    assert got == {"a": (5.0, later), "b": (7.0, T0)}


def test_a_stored_key_fails_the_whole_transaction(warehouse):
    warehouse.write_rows(RowWrite(EVENTS, [_event(0)]))
    with pytest.raises(Exception, match=r"(?i)duplicate|constraint|unique"):
        warehouse.write_rows(
            RowWrite(ACCOUNTS, [_account("a", 1.0)]),  # written first, then rolled back
            RowWrite(EVENTS, [_event(0, to_status="submitted")]),
        )
    assert warehouse.read_rows(ACCOUNTS) == []
    assert [r["to_status"] for r in warehouse.read_rows(EVENTS)] == ["new"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cash": None}, "may not be null"),
        ({"cash": float("nan")}, "may not be null"),
        ({"cash": "1.0"}, r"cash \(double\) got str"),
        ({"cash": True}, r"cash \(double\) got bool"),
        ({"updated_at": dt.datetime(2024, 3, 1)}, r"updated_at \(timestamp\)"),
        ({"updated_at": dt.date(2024, 3, 1)}, r"updated_at \(timestamp\) got date"),
    ],
)
def test_values_are_checked_against_the_contract(warehouse, change, message):
    with pytest.raises(ValueError, match=message):
        warehouse.write_rows(RowWrite(ACCOUNTS, [{**_account("a", 1.0), **change}]))
    assert warehouse.read_rows(ACCOUNTS) == []


def test_columns_must_be_exactly_the_tables(warehouse):
    row = _account("a", 1.0)
    with pytest.raises(ValueError, match="missing column"):
        warehouse.write_rows(RowWrite(ACCOUNTS, [{k: v for k, v in row.items() if k != "cash"}]))
    with pytest.raises(ValueError, match="unknown column"):
        warehouse.write_rows(RowWrite(ACCOUNTS, [{**row, "extra": 1}]))


def test_nan_in_a_nullable_column_is_stored_as_null(warehouse):
    warehouse.write_rows(RowWrite(EVENTS, [_event(0, avg_fill_price=float("nan"))]))
    assert warehouse.read_rows(EVENTS, columns=["avg_fill_price"]) == [{"avg_fill_price": None}]


def test_a_date_column_refuses_a_datetime(warehouse):
    row = {"broker": "p", "fill_id": "f", "client_order_id": "c", "symbol": "S", "side": "buy",
           "qty": 1.0, "price": 2.0, "commission": 0.0, "spread_cost": None, "slippage_cost": None,
           "fill_time": T0, "trade_date": T0}  # fmt: skip
    with pytest.raises(ValueError, match=r"trade_date \(date\) got datetime"):
        warehouse.write_rows(RowWrite("execution.fills", [row]))
    warehouse.write_rows(RowWrite("execution.fills", [{**row, "trade_date": T0.date()}]))
    assert warehouse.read_rows("execution.fills", columns=["trade_date"]) == [
        {"trade_date": dt.date(2024, 3, 1)}
    ]


def test_raw_tables_keep_the_frame_path(warehouse):
    with pytest.raises(ValueError, match="upsert or bulk_load"):
        warehouse.write_rows(RowWrite("market_data.ohlcv_daily", []))
