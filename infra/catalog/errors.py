"""Errors of the catalog's setup (migrations, seed, servers): the CLI exits 2 for bad input, 1 otherwise."""

from __future__ import annotations

from infra.errors import StreamgateError


class CatalogSetupError(StreamgateError):
    """The catalog database could not be prepared."""
