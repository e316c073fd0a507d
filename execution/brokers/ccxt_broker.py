"""Crypto exchanges through ccxt (imported lazily), sandbox/testnet unless live trading is allowed.

Our client id travels as `params={'clientOrderId': id}` (Binance accepts ^[a-zA-Z0-9-_]{1,36}$,
which `client_ids` guarantees) and lookups use it (`origClientOrderId` on Binance). Markets
can be loaded from a saved JSON file (`load_markets_file`), so tests and restarts need no
exchangeInfo call. Canonical symbols (BTC) map to unified ccxt symbols (BTC/USDT) through
`symbol_map`, defaulting to `<symbol>/<quote>`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from execution.brokers.base import (
    AccountInfo,
    AuthError,
    BrokerError,
    BrokerOrder,
    BrokerTimeout,
    BrokerUnavailable,
    DuplicateClientOrderId,
    LiveTradingNotAllowed,
    OrderRejected,
    RateLimited,
    status_from_fill,
)
from execution.models import Fill, Order, OrderStatus, OrderType, Position
from quant_assets.settings import Settings, get_settings


def instrument_symbols(
    instruments: Iterable[Any], exchange_id: str, *, quote: str = "USDT", markets: Any = None
) -> dict[str, str]:
    """Universe symbol -> unified ccxt symbol for the crypto instruments this exchange lists.

    Binance ids come from the universe's `vendor_symbols.binance` (BTCUSDT -> BTC/USDT,
    through the exchange's markets when loaded); other exchanges use `<symbol>/<quote>`.
    An instrument the universe gives no id for on this exchange is left out, so routing
    it here is refused with its name.
    """
    by_id = {m["id"]: m["symbol"] for m in (markets or {}).values() if "id" in m}
    out = {}
    for inst in instruments:
        if inst.asset_class != "crypto":
            continue
        if exchange_id == "binance":
            vendor = inst.vendor_symbols.binance
            if not vendor:
                continue
            if vendor in by_id:
                out[inst.symbol] = by_id[vendor]
            elif vendor.endswith(quote):
                out[inst.symbol] = f"{vendor[: -len(quote)]}/{quote}"
        else:
            out[inst.symbol] = f"{inst.symbol}/{quote}"
    return out


def override_urls(exchange: Any, base_url: str) -> None:
    """Point every REST endpoint of `exchange` at `base_url` (scheme and host), keeping paths."""
    base = urlsplit(base_url)
    api = exchange.urls.get("api")
    items = api.items() if isinstance(api, dict) else [("", api)]
    new = {}
    for key, url in items:
        if isinstance(url, str):
            parts = urlsplit(url)
            url = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))
        new[key] = url
    exchange.urls["api"] = new if isinstance(api, dict) else new[""]


def load_markets_file(exchange: Any, path: str | Path) -> None:
    """Give an exchange its markets from a JSON dump of `exchange.markets` (no network)."""
    exchange.set_markets(json.loads(Path(path).read_text()))


def save_markets_file(exchange: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(exchange.markets, indent=1, sort_keys=True, default=str))


class CcxtBroker:
    """Broker protocol over one ccxt exchange object (spot)."""

    dry_run = False

    def __init__(
        self,
        exchange: Any,
        *,
        quote: str = "USDT",
        symbol_map: Mapping[str, str] | None = None,
        name: str | None = None,
    ):
        self.exchange = exchange
        self.quote = quote
        self.symbol_map = dict(symbol_map or {})
        self.reverse_map = {v: k for k, v in self.symbol_map.items()}
        self.name = name or f"ccxt:{exchange.id}"

    @classmethod
    def from_settings(
        cls,
        exchange_id: str = "binance",
        settings: Settings | None = None,
        *,
        live: bool = False,
        instruments: Iterable[Any] = (),
        markets_file: str | Path | None = None,
        **kw: Any,
    ) -> CcxtBroker:
        """Sandbox/testnet unless `live` and the settings allow live ccxt trading.

        QUANT_CCXT_URL points every REST endpoint at another host (ccxt's `urls` override):
        a proxy, or a local server in tests. `instruments` give the symbol map; markets
        come from `markets_file` when given, else from the exchange (one exchangeInfo call).
        """
        s = settings or get_settings()
        if live and not s.live_trading_allowed("ccxt"):
            raise LiveTradingNotAllowed(
                "live ccxt trading needs QUANT_BROKER_MODE=live, QUANT_LIVE_CCXT=true and the kill switch off"
            )
        import ccxt

        config: dict[str, Any] = {"enableRateLimit": True}
        if s.binance_api_key is not None and s.binance_api_secret is not None:
            config.update(
                apiKey=s.binance_api_key.get_secret_value(),
                secret=s.binance_api_secret.get_secret_value(),
            )
        if exchange_id == "binance":  # spot only: no futures markets, no private currency list
            config["options"] = {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            }
        exchange = getattr(ccxt, exchange_id)(config)
        if not live:
            exchange.set_sandbox_mode(True)
        if s.ccxt_url:
            override_urls(exchange, s.ccxt_url)
        instruments = list(instruments)
        if markets_file is not None:
            load_markets_file(exchange, markets_file)
        elif instruments:
            try:
                exchange.load_markets()
            except ccxt.BaseError as exc:
                raise BrokerUnavailable(f"ccxt:{exchange_id}: cannot load markets: {exc}") from None
        quote = kw.pop("quote", "USDT")
        symbol_map = dict(kw.pop("symbol_map", None) or {})
        symbol_map = {
            **instrument_symbols(instruments, exchange_id, quote=quote, markets=exchange.markets),
            **symbol_map,
        }
        return cls(exchange, quote=quote, symbol_map=symbol_map, **kw)

    # --- symbols and errors -------------------------------------------------------------------

    def market_symbol(self, symbol: str) -> str:
        if symbol in self.symbol_map:
            return self.symbol_map[symbol]
        return symbol if "/" in symbol else f"{symbol}/{self.quote}"

    def canonical(self, market_symbol: str) -> str:
        if market_symbol in self.reverse_map:
            return self.reverse_map[market_symbol]
        base, _, rest = market_symbol.partition("/")
        return base if rest.split(":")[0] == self.quote else market_symbol

    def _call(self, fn: Any, *args: Any, writes: bool = False, **kw: Any) -> Any:
        import ccxt

        try:
            return fn(*args, **kw)
        except ccxt.OrderNotFound:
            raise  # a lookup's "no such order" is an answer, not an error (subclass of InvalidOrder)
        except ccxt.DuplicateOrderId as exc:
            raise DuplicateClientOrderId(f"{self.name}: {exc}") from None
        except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as exc:
            raise RateLimited(f"{self.name}: rate limited: {exc}") from None
        except (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended) as exc:
            raise AuthError(f"{self.name}: {type(exc).__name__}: {exc}") from None
        except ccxt.ExchangeNotAvailable as exc:
            if " 403 " in str(exc):  # Binance answers 403 when its firewall blocks the key or IP
                raise AuthError(f"{self.name}: forbidden (HTTP 403)") from None
            if writes:
                raise BrokerTimeout(
                    f"{self.name}: unavailable, the order may exist: {exc}"
                ) from None
            raise BrokerUnavailable(f"{self.name}: unavailable: {exc}") from None
        except ccxt.RequestTimeout as exc:
            if writes:
                raise BrokerTimeout(f"{self.name}: timeout, the order may exist: {exc}") from None
            raise BrokerUnavailable(f"{self.name}: timeout: {exc}") from None
        except (ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.BadSymbol, ccxt.BadRequest) as exc:
            raise OrderRejected(f"{self.name}: {type(exc).__name__}: {exc}") from None
        except ccxt.NetworkError as exc:
            if writes:
                raise BrokerTimeout(
                    f"{self.name}: network error, the order may exist: {exc}"
                ) from None
            raise BrokerUnavailable(f"{self.name}: {exc}") from None
        except ccxt.OperationFailed as exc:  # Binance -1001 "internal error" on a 5xx
            if writes:
                raise BrokerTimeout(
                    f"{self.name}: server error, the order may exist: {exc}"
                ) from None
            raise BrokerUnavailable(f"{self.name}: server error: {exc}") from None
        except ccxt.ExchangeError as exc:
            raise BrokerError(f"{self.name}: {type(exc).__name__}: {exc}") from None

    def _parse(self, o: Mapping[str, Any]) -> BrokerOrder:
        qty = float(o.get("amount") or 0.0)
        filled = float(o.get("filled") or 0.0)
        raw = o.get("status")
        if raw == "open" or raw is None:
            status = status_from_fill(filled, qty)
            if status is OrderStatus.FILLED:
                status = OrderStatus.PARTIALLY_FILLED if filled < qty else status
        elif raw == "closed":
            status = OrderStatus.FILLED
        elif raw == "rejected":
            status = OrderStatus.REJECTED
        else:  # canceled, expired
            status = OrderStatus.CANCELLED
        return BrokerOrder(
            client_order_id=str(o.get("clientOrderId")),
            broker_order_id=None if o.get("id") is None else str(o["id"]),
            symbol=self.canonical(str(o.get("symbol"))),
            side=str(o.get("side")),
            qty=qty,
            status=status,
            filled_qty=filled,
            avg_fill_price=None if o.get("average") is None else float(o["average"]),
            reason=f"exchange status {raw}"
            if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED)
            else None,
        )

    # --- protocol --------------------------------------------------------------------------

    def submit(self, order: Order) -> BrokerOrder:
        sym = self.market_symbol(order.symbol)
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        otype = "market" if order.order_type in (OrderType.MARKET, OrderType.STOP) else "limit"
        if order.stop_price is not None:
            params["stopPrice"] = order.stop_price
        if otype == "limit":
            params["timeInForce"] = "GTC"  # spot venues have no DAY orders
        amount = float(self.exchange.amount_to_precision(sym, order.qty))
        price = (
            None
            if order.limit_price is None
            else float(self.exchange.price_to_precision(sym, order.limit_price))
        )
        data = self._call(
            self.exchange.create_order,
            sym,
            otype,
            order.side.value,
            amount,
            price,
            params,
            writes=True,
        )
        report = self._parse(data)
        if report.client_order_id in ("None", ""):
            report = BrokerOrder(**{**report.__dict__, "client_order_id": order.client_order_id})
        return report

    def get_order_by_client_id(
        self, client_order_id: str, symbol: str | None = None
    ) -> BrokerOrder | None:
        import ccxt

        if symbol is None:
            for o in self.open_orders():
                if o.client_order_id == client_order_id:
                    return o
            return None
        sym = self.market_symbol(symbol)
        try:
            data = self._call(
                self.exchange.fetch_order,
                "",
                sym,
                {"origClientOrderId": client_order_id, "clientOrderId": client_order_id},
            )
        except ccxt.OrderNotFound:
            return None
        return self._parse(data)

    def cancel(self, client_order_id: str, symbol: str | None = None) -> BrokerOrder | None:
        found = self.get_order_by_client_id(client_order_id, symbol)
        if found is None or found.status.is_final:
            return found
        sym = self.market_symbol(found.symbol)
        data = self._call(self.exchange.cancel_order, found.broker_order_id, sym, writes=True)
        return self._parse(data)

    def open_orders(self) -> list[BrokerOrder]:
        return [self._parse(o) for o in self._call(self.exchange.fetch_open_orders)]

    def positions(self) -> list[Position]:
        """Spot balances as positions (the quote currency is cash, not a position)."""
        bal = self._call(self.exchange.fetch_balance)
        totals = bal.get("total") or {}
        return [
            Position(symbol=cur, qty=float(q))
            for cur, q in sorted(totals.items())
            if cur != self.quote and q not in (None, 0, 0.0)
        ]

    def account(self) -> AccountInfo:
        bal = self._call(self.exchange.fetch_balance)
        cash = float((bal.get("total") or {}).get(self.quote) or 0.0)
        free = (bal.get("free") or {}).get(self.quote)
        return AccountInfo(cash=cash, equity=cash, buying_power=None if free is None else float(free),
                           currency=self.quote)  # fmt: skip

    def fills(
        self, since: dt.datetime | None = None, symbols: list[str] | None = None
    ) -> list[Fill]:
        """Trades of the given canonical symbols (default: those held); Binance needs one call per symbol."""
        if symbols is None:
            symbols = [p.symbol for p in self.positions()]
        out = []
        since_ms = None if since is None else int(since.timestamp() * 1000)
        client_ids: dict[str, str] = {}
        for s in symbols:
            sym = self.market_symbol(s)
            for t in self._call(self.exchange.fetch_my_trades, sym, since_ms):
                oid = str(t["order"])
                if oid not in client_ids:  # trades carry the exchange's order id only
                    client_ids[oid] = str(
                        self._call(self.exchange.fetch_order, oid, sym).get("clientOrderId")
                    )
                when = dt.datetime.fromtimestamp(t["timestamp"] / 1000, dt.UTC)
                fee = t.get("fee") or {}
                out.append(
                    Fill(
                        broker=self.name,
                        fill_id=str(t["id"]),
                        client_order_id=client_ids[oid],
                        symbol=s,
                        side=t["side"],
                        qty=float(t["amount"]),
                        price=float(t["price"]),
                        commission=float(fee.get("cost") or 0.0),
                        fill_time=when,
                        trade_date=when.date(),
                    )
                )
        return out
