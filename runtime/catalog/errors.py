"""The catalog's exceptions; the routes turn them into 4xx/503 answers."""

from __future__ import annotations


class CatalogError(Exception):
    """Base of the catalog's errors."""


class BadRequestError(CatalogError):
    """The request cannot be answered as asked (bad cursor, oversized page, malformed body): 4xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class NotFoundError(CatalogError):
    """No such title, rendition or segment (or not available in this region): 404."""


class ConflictError(CatalogError):
    """A write conflicts with the stored state (stale version, duplicate id): 409."""


class UnavailableError(CatalogError):
    """The database could not be reached in time, or the pool stayed saturated: 503."""
