"""Catalog settings: plain pydantic, nested in the gateway's settings (`STREAMGATE_CATALOG__*`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator


class CatalogSettings(BaseModel):
    """Where the catalog's PostgreSQL is and how the gateway talks to it. Off unless `enabled`."""

    enabled: bool = False
    primary_url: str = Field(
        "postgresql://streamgate@127.0.0.1:5432/catalog",
        description="the writer: postgresql://user@host:port/db (RDS Proxy's endpoint on AWS)",
    )
    replica_url: str | None = Field(
        None, description="a read replica (RDS Proxy's read-only endpoint); none: every read on the primary"
    )
    password: SecretStr | None = Field(None, description="kept out of the URLs (a Kubernetes Secret)")
    iam_auth_region: str | None = Field(
        None,
        description="sign an IAM auth token per connection instead of a password (RDS Proxy with IAM "
        "authentication: the pod's role needs rds-db:connect)",
    )
    pooler: Literal["direct", "transaction"] = Field(
        "direct",
        description="`transaction`: behind PgBouncer or RDS Proxy in transaction mode, where a session's "
        "named prepared statements do not survive (no statement cache; each read in one transaction)",
    )
    statement_cache_size: int = Field(256, ge=0, description="prepared statements per connection (direct)")
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(10, ge=1, description="bounded: beyond it callers wait acquire_timeout")
    acquire_timeout_seconds: float = Field(1.0, gt=0, description="then 503 (the pool is saturated)")
    command_timeout_seconds: float = Field(2.0, gt=0, description="a query running longer is cancelled")
    connect_timeout_seconds: float = Field(2.0, gt=0)
    max_replica_lag_seconds: float = Field(1.0, ge=0, description="beyond it reads go to the primary")
    lag_poll_seconds: float = Field(0.2, gt=0, description="how often the replica's replay lag is read")
    page_size: int = Field(50, ge=1, le=500)
    max_page_size: int = Field(200, ge=1, le=1000)
    max_query_chars: int = Field(100, ge=1, le=1000)
    cache_ttl_seconds: float = Field(60.0, gt=0, description="freshness of cached catalog answers")
    enforce_on_content: bool = Field(
        False,
        description="content segments are served only when the catalog lists them and the title is "
        "available in the gateway's region (403 otherwise)",
    )

    @model_validator(mode="after")
    def _check(self) -> CatalogSettings:
        if self.page_size > self.max_page_size:
            raise ValueError("page_size must be <= max_page_size")
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must be <= pool_max_size")
        return self
