"""Data keys from KMS (GenerateDataKey, Decrypt, ReEncrypt through boto3) and a bounded cache of them."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runtime.security import metrics
from runtime.security.errors import KeyManagementError, TamperedError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


@dataclass(slots=True)
class DataKey:
    plaintext: bytes
    wrapped: bytes
    key_id: str  # the KMS key ARN that wrapped it
    created: float = field(default_factory=time.monotonic)
    uses: int = 0
    header_tail: bytes = b""  # the envelope's variable header for this key, encoded once


class KmsKeys:
    """Thin KMS adapter: maps botocore errors onto the envelope's exceptions and times each call."""

    def __init__(self, client: KMSClient) -> None:
        self._client = client

    def generate(self, key_id: str, context: Mapping[str, str]) -> DataKey:
        reply = self._call(
            "GenerateDataKey",
            self._client.generate_data_key,
            KeyId=key_id,
            KeySpec="AES_256",
            EncryptionContext=dict(context),
        )
        return DataKey(plaintext=reply["Plaintext"], wrapped=reply["CiphertextBlob"], key_id=reply["KeyId"])

    def unwrap(self, wrapped: bytes, key_id: str, context: Mapping[str, str]) -> bytes:
        reply = self._call(
            "Decrypt",
            self._client.decrypt,
            CiphertextBlob=wrapped,
            KeyId=key_id,
            EncryptionContext=dict(context),
        )
        plaintext: bytes = reply["Plaintext"]
        return plaintext

    def rewrap(
        self, wrapped: bytes, source_key_id: str, context: Mapping[str, str], new_key_id: str
    ) -> tuple[bytes, str]:
        """KMS re-encrypts the data key under `new_key_id` without it ever leaving KMS in clear."""
        reply = self._call(
            "ReEncrypt",
            self._client.re_encrypt,
            CiphertextBlob=wrapped,
            SourceKeyId=source_key_id,
            SourceEncryptionContext=dict(context),
            DestinationKeyId=new_key_id,
            DestinationEncryptionContext=dict(context),
        )
        return reply["CiphertextBlob"], reply["KeyId"]

    @staticmethod
    def _call(operation: str, method: Callable[..., Any], **params: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise TamperedError(
                    f"KMS {operation} refused the wrapped data key ({code}): the header was altered or"
                    " the context is wrong"
                ) from exc
            raise KeyManagementError(f"KMS {operation} failed: {code or exc}") from exc
        except BotoCoreError as exc:
            raise KeyManagementError(f"KMS {operation} failed: {type(exc).__name__}") from exc
        finally:
            metrics.CRYPTO_KMS_SECONDS.labels(operation).observe(time.perf_counter() - started)


class DataKeyCache:
    """LRU of data keys, each retired after `max_age` seconds or `max_uses` uses (None: unlimited uses).
    `max_entries` 0 disables it. Thread-safe: envelope calls run in worker threads."""

    def __init__(self, *, max_entries: int, max_age: float, max_uses: int | None, direction: str) -> None:
        self._entries: OrderedDict[Hashable, DataKey] = OrderedDict()
        self._max_entries = max_entries
        self._max_age = max_age
        self._max_uses = max_uses
        self._lock = threading.Lock()
        self._hit = metrics.CRYPTO_DATAKEY_CACHE.labels(direction, "hit")
        self._miss = metrics.CRYPTO_DATAKEY_CACHE.labels(direction, "miss")

    def take(self, key: Hashable) -> DataKey | None:
        """The cached key (counting one use), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() - entry.created > self._max_age:
                del self._entries[key]
                entry = None
            if entry is None:
                self._miss.inc()
                return None
            entry.uses += 1
            if self._max_uses is not None and entry.uses >= self._max_uses:
                del self._entries[key]
            else:
                self._entries.move_to_end(key)
            self._hit.inc()
            return entry

    def put(self, key: Hashable, entry: DataKey) -> None:
        """Store a key that has just been used once."""
        if self._max_entries <= 0 or (self._max_uses is not None and self._max_uses <= 1):
            return
        with self._lock:
            entry.uses = max(entry.uses, 1)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
