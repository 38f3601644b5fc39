"""`python -m runtime.service [serve]` runs the gateway under uvicorn (uvloop + httptools, with the request
head bounded in size and time: runtime/service/server.py); host, port, workers and bounds come from
settings. Operator commands:

    python -m runtime.service token --subject alice --scope admin --ttl 3600
    python -m runtime.service enroll-mfa --subject alice      # prints the TOTP secret and otpauth URI
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, cast

from runtime.service.settings import GatewaySettings


def serve(settings: GatewaySettings) -> None:
    import uvicorn

    from runtime.service.logs import log_config
    from runtime.service.server import GuardedHttpToolsProtocol, raise_open_files_limit

    s = settings.server
    raise_open_files_limit()  # before the workers start: they inherit it
    uvicorn.run(
        "runtime.service.asgi:app",
        factory=False,
        host=s.host,
        port=s.port,
        workers=s.workers,
        loop="uvloop",
        http=GuardedHttpToolsProtocol,  # httptools with the request head bounded in size and time
        h11_max_incomplete_event_size=s.max_header_bytes,
        timeout_keep_alive=s.keep_alive_seconds,
        lifespan="on",
        access_log=s.access_log,
        proxy_headers=True,
        server_header=False,  # no software banner (and one header less to write per response)
        forwarded_allow_ips=s.forwarded_allow_ips,
        log_config=log_config(
            s.log_level, {"version": settings.version, "color": settings.color, "region": settings.region}
        ),
        timeout_graceful_shutdown=s.graceful_shutdown_seconds,
    )


def issue_token(settings: GatewaySettings, subject: str, scope: str, ttl: float) -> str:
    from runtime.service.tokens import Scope, TokenSigner

    signer = TokenSigner(
        settings.auth.signing_key.get_secret_value().encode(), max_ttl=settings.auth.max_token_ttl_seconds
    )
    return signer.issue(subject, Scope(scope), ttl)


async def enroll_mfa(settings: GatewaySettings, subject: str) -> tuple[str, str]:
    """Enrol a TOTP factor directly in the MFA store (operators only: needs Redis and KMS access)."""
    import pyotp

    from runtime.connections import redis_client
    from runtime.security.envelope import Envelope
    from runtime.security.mfa import MfaManager
    from runtime.service.bootstrap import ensure_kms_alias

    envelope = Envelope(settings.security.encryption)
    if settings.storage.create_bucket:
        from runtime.security.envelope import kms_client

        await asyncio.to_thread(
            ensure_kms_alias,
            kms_client(settings.security.encryption),
            settings.security.encryption.kms_key_id,
        )
    r = settings.redis
    redis = redis_client(r.url, password=r.password.get_secret_value() if r.password else None)
    try:
        mfa = MfaManager(redis, settings.security.mfa, cipher=envelope)
        enrollment = await mfa.begin_totp_enrollment(subject)
        await mfa.confirm_totp_enrollment(subject, pyotp.TOTP(enrollment.secret).now())
    finally:
        await cast(Any, redis).aclose()  # the types-redis stubs predate aclose()
    return enrollment.secret, enrollment.provisioning_uri


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the gateway (default)")
    token = sub.add_parser("token", help="issue an API token signed with STREAMGATE_AUTH__SIGNING_KEY")
    token.add_argument("--subject", required=True)
    token.add_argument("--scope", choices=["viewer", "admin"], default="viewer")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds")
    enroll = sub.add_parser("enroll-mfa", help="enrol a TOTP factor for a subject; prints the secret")
    enroll.add_argument("--subject", required=True)
    args = parser.parse_args(argv)
    settings = GatewaySettings()
    if args.command == "token":
        print(issue_token(settings, args.subject, args.scope, args.ttl))
    elif args.command == "enroll-mfa":
        secret, uri = asyncio.run(enroll_mfa(settings, args.subject))
        print(f"secret: {secret}\nuri: {uri}")
    else:
        serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
