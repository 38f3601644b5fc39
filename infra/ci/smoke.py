"""The smoke check after a deploy: GET a URL through the CDN until it answers 200 from a region.

    python -m infra.ci.smoke https://d111111abcdef8.cloudfront.net/version [--region us-east-1]

The gateway's `/version` names the region that served it (JSON `region`, or the region router's header);
with --region that must be the one. Retries cover a CloudFront deployment still propagating. Exit 0 when
answered, 1 when not within the attempts.
"""

from __future__ import annotations

import argparse
import sys
import time

from infra import http
from infra.automation.adapters.local_region import served_by


def check(url: str, region: str | None, attempts: int, interval: float, timeout: float) -> bool:
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        status, headers, body, _ = http.get(url, timeout)
        served = served_by(headers, body)
        ok = status == 200 and served is not None and (region is None or served == region)
        elapsed = (time.monotonic() - started) * 1000
        print(f"attempt {attempt}: GET {url} → {status} from {served} in {elapsed:.0f} ms", flush=True)
        if ok:
            return True
        if attempt < attempts:
            time.sleep(interval)
    return False


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--region", help="the region that must answer (default: any)")
    parser.add_argument("--attempts", type=int, default=10)
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between attempts")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        print(f"error: {args.url!r} is not an http(s) URL", file=sys.stderr)
        return 2
    if check(args.url, args.region, args.attempts, args.interval, args.timeout):
        print("smoke ok")
        return 0
    print(f"smoke failed: no 200 from {args.region or 'a region'} after {args.attempts} attempts")
    return 1


if __name__ == "__main__":
    sys.exit(main())
