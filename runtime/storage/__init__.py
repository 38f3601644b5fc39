"""Object storage over the S3 API (AWS S3, or moto's server locally)."""

from runtime.storage.errors import ObjectNotFoundError, StorageError, StorageUnavailableError
from runtime.storage.object_store import ObjectInfo, ObjectStore

__all__ = ["ObjectInfo", "ObjectNotFoundError", "ObjectStore", "StorageError", "StorageUnavailableError"]
