"""Prometheus metrics of runtime.security, defined once on the default registry. Labels are bounded
(scopes, results, factors, channels, operations), never user ids or IPs."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# --- rate limiting -------------------------------------------------------------------------------
RATELIMIT_CHECKS = Counter(
    "streamgate_ratelimit_checks_total",
    "Scope checks: every scope of an admitted request counts allowed; a denied request counts only the"
    " scope that denied it (the others consumed nothing).",
    ["scope", "result"],
)
RATELIMIT_FALLBACK = Counter(
    "streamgate_ratelimit_fallback_total",
    "Requests decided without Redis: by the local limiter (open) or refused (closed).",
    ["mode"],
)
RATELIMIT_REDIS_ERRORS = Counter(
    "streamgate_ratelimit_redis_errors_total", "Failed or timed-out Redis round trips of the limiter."
)
RATELIMIT_BATCH_SIZE = Histogram(
    "streamgate_ratelimit_batch_requests",
    "Requests evaluated per Redis round trip.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
RATELIMIT_REDIS_SECONDS = Histogram(
    "streamgate_ratelimit_redis_seconds",
    "Duration of one batched rate-limit round trip.",
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)

# --- MFA -----------------------------------------------------------------------------------------
MFA_VERIFICATIONS = Counter(
    "streamgate_mfa_verifications_total",
    "Second-factor verifications by factor and result (ok, invalid, replay, throttled).",
    ["factor", "result"],
)
MFA_CODES_SENT = Counter("streamgate_mfa_codes_sent_total", "One-time codes handed to a sender.", ["channel"])
MFA_ENROLLMENTS = Counter(
    "streamgate_mfa_enrollments_total", "Completed enrolments and regenerations.", ["factor"]
)

# --- envelope encryption -------------------------------------------------------------------------
CRYPTO_OPERATIONS = Counter(
    "streamgate_crypto_operations_total", "Envelope operations by kind and result.", ["operation", "result"]
)
CRYPTO_BYTES = Counter(
    "streamgate_crypto_bytes_total", "Plaintext bytes encrypted or decrypted.", ["operation"]
)
CRYPTO_KMS_SECONDS = Histogram(
    "streamgate_crypto_kms_request_seconds",
    "Duration of KMS calls.",
    ["call"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
CRYPTO_DATAKEY_CACHE = Counter(
    "streamgate_crypto_datakey_cache_total", "Data-key cache lookups.", ["direction", "result"]
)
