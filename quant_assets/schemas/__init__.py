"""Data contracts: table declarations, pandera frame schemas and pydantic records."""

from quant_assets.schemas.tables import TABLES, Column, Table, get_table

__all__ = ["TABLES", "Column", "Table", "get_table"]
