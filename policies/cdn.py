"""CloudFront: HTTPS only (viewers and origins), TLS 1.2 or newer with SNI, a WAF web ACL in front, access
logs kept, and in prod an origin group that fails over between regions."""

from __future__ import annotations

import re

from pulumi_policy import ResourceValidationArgs

from policies.base import UNKNOWN, Report, flag, get, is_set, items, resource_policy, string

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
HTTPS_VIEWER_POLICIES = ("https-only", "redirect-to-https")
TLS_VERSION = re.compile(r"^TLSv(\d+)(?:\.(\d+))?")


def tls_version(name: object) -> tuple[int, int] | None:
    """("TLSv1.2_2021" -> (1, 2)); "TLSv1" and "TLSv1_2016" are 1.0; SSLv3 and unknown names are None."""
    match = TLS_VERSION.match(str(name))
    return (int(match.group(1)), int(match.group(2) or 0)) if match else None


@resource_policy(
    "cloudfront-https-only",
    "CloudFront must serve and fetch over HTTPS only: set viewer_protocol_policy 'https-only' (or "
    "'redirect-to-https') on every cache behavior and origin_protocol_policy 'https-only' on custom origins.",
    [DISTRIBUTION],
)
def cloudfront_https_only(args: ResourceValidationArgs, report: Report) -> None:
    behaviors = [("default behavior", get(args.props, "defaultCacheBehavior"))] + [
        (f"behavior {get(b, 'pathPattern', default='?')}", b)
        for b in items(get(args.props, "orderedCacheBehaviors"))
    ]
    for where, behavior in behaviors:
        policy = get(behavior, "viewerProtocolPolicy")
        if policy is not UNKNOWN and policy not in HTTPS_VIEWER_POLICIES:
            report(f"{where} allows plain HTTP (viewer_protocol_policy {policy or 'unset'!s})")
    for origin in items(get(args.props, "origins")):
        custom = get(origin, "customOriginConfig")
        policy = get(custom, "originProtocolPolicy")
        if custom is not None and policy is not UNKNOWN and policy != "https-only":
            report(f"origin {get(origin, 'originId', default='?')} is fetched over {policy or 'unset'!s}")


@resource_policy(
    "cloudfront-tls-1-2",
    "CloudFront must refuse TLS older than 1.2: use an ACM certificate with minimum_protocol_version "
    "'TLSv1.2_2021' (cdn.minimumTls) and origin_ssl_protocols ['TLSv1.2'].",
    [DISTRIBUTION],
)
def cloudfront_tls_1_2(args: ResourceValidationArgs, report: Report) -> None:
    cert = get(args.props, "viewerCertificate")
    if flag(get(cert, "cloudfrontDefaultCertificate"), unknown=False):
        report("the default *.cloudfront.net certificate accepts TLSv1: use an ACM certificate")
    else:
        minimum = get(cert, "minimumProtocolVersion")
        version = tls_version(minimum)
        if minimum is not UNKNOWN and (version is None or version < (1, 2)):
            report(f"viewers may connect with {minimum or 'TLSv1 (the default)'!s}")
    for origin in items(get(args.props, "origins")):
        for protocol in items(get(origin, "customOriginConfig", "originSslProtocols")):
            version = tls_version(protocol)
            if protocol is not UNKNOWN and (version is None or version < (1, 2)):
                report(f"origin {get(origin, 'originId', default='?')} allows {protocol}")


@resource_policy(
    "cloudfront-waf-attached",
    "CloudFront must sit behind a WAF: set web_acl_id to a CLOUDFRONT-scope WAFv2 web ACL's ARN "
    "(infra.aws.cdn.Waf).",
    [DISTRIBUTION],
)
def cloudfront_waf_attached(args: ResourceValidationArgs, report: Report) -> None:
    if not is_set(args.props, "webAclId"):
        report("no web ACL is attached")


@resource_policy(
    "cloudfront-logging",
    "CloudFront must write access logs (FSBP CloudFront.5): set logging_config.bucket to a log bucket "
    "(infra.aws.cdn creates one).",
    [DISTRIBUTION],
)
def cloudfront_logging(args: ResourceValidationArgs, report: Report) -> None:
    if not is_set(args.props, "loggingConfig", "bucket"):
        report("no access logs (logging_config.bucket is unset)")


@resource_policy(
    "cloudfront-origin-failover",
    "Prod CloudFront with several origins must read through an origin group, so a failing region's origin "
    "is skipped (FSBP CloudFront.4): target an origin group from the cacheable behaviors.",
    [DISTRIBUTION],
    prod_only=True,
)
def cloudfront_origin_failover(args: ResourceValidationArgs, report: Report) -> None:
    origins = items(get(args.props, "origins"))
    if len(origins) < 2:
        return
    groups = {string(get(g, "originId")) for g in items(get(args.props, "originGroups"))} - {None}
    if not groups:
        report(f"{len(origins)} origins but no origin group: a failing region is never skipped")
        return
    reads = [
        (get(b, "pathPattern", default="?"), get(b, "targetOriginId"))
        for b in items(get(args.props, "orderedCacheBehaviors"))
    ]
    for path, origin in reads:
        if origin is not UNKNOWN and origin not in groups:
            report(f"behavior {path} reads from origin {origin}, not from an origin group")
