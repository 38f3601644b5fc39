"""Errors of the storage package; callers catch `StorageError` for all of them."""

from __future__ import annotations


class StorageError(Exception):
    """Base class for object-store failures."""


class ObjectNotFoundError(StorageError, KeyError):
    """The object (or bucket) does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"object not found: {self.key}"


class StorageUnavailableError(StorageError):
    """The store could not be reached or refused the request (network, credentials, throttling)."""
