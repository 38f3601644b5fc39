"""The content catalog on PostgreSQL: titles, renditions, segments and regional availability, read
through the multi-level cache and written by admins (see service.py, database.py, queries.py).

`CatalogSettings` is plain pydantic; the rest loads on first use (it imports asyncpg and Redis)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.catalog.settings import CatalogSettings
from runtime.lazy import lazy_attributes

if TYPE_CHECKING:
    from runtime.catalog.database import Database
    from runtime.catalog.service import CatalogService

__all__ = ["CatalogService", "CatalogSettings", "Database"]

__getattr__ = lazy_attributes(
    __name__, {"Database": "runtime.catalog.database", "CatalogService": "runtime.catalog.service"}
)
