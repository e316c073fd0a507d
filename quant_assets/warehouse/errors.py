"""Warehouse exceptions (a module of their own so every warehouse module can raise them)."""

from __future__ import annotations


class WarehouseError(RuntimeError):
    """A warehouse operation failed; the message says which table and why."""


class ReadOnlyError(WarehouseError):
    """A write was attempted through a read-only connection."""


class DuplicateKeyError(WarehouseError):
    """A write would store two rows with the same natural key; the message names the key."""


class AmbiguousPanelError(WarehouseError):
    """Several bars share a (symbol, date) in a panel read, e.g. from two sources."""
