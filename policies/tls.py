"""TLS from the edge to the gateway: the regional origins CloudFront and Route 53 reach over HTTPS hold an
ACM certificate validated by DNS, the ingress load balancer terminates HTTPS with it (and nothing listens in
clear text), and the health checks probe the gateway's real health path over HTTPS."""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from policies.base import (
    UNKNOWN,
    Report,
    StackIndex,
    flag,
    get,
    items,
    number,
    resource_policy,
    stack_policy,
)
from policies.cdn import DISTRIBUTION
from runtime.service import paths

CERTIFICATE = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
INGRESS_CHART = "ingress-nginx"
NLB = "service.beta.kubernetes.io/aws-load-balancer-"
GATEWAY_HEALTH_PATHS = (paths.READY, paths.HEALTH)


def covers(pattern: str, name: str) -> bool:
    """Whether a certificate name covers a host name (`*.example.com` covers one label, as TLS does)."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


@stack_policy(
    "origin-tls-certificate",
    "Every host CloudFront's origins and Route 53's HTTPS health checks connect to needs a DNS-validated ACM "
    "certificate covering it (infra.aws.tls.OriginCertificate, per region): add the name to a certificate.",
)
def origin_tls_certificate(args: StackValidationArgs, report: Report) -> None:
    index = StackIndex(args.resources)
    validated = index.referenced_by(VALIDATION, "certificateArn", [CERTIFICATE])
    names: list[tuple[str, str]] = []  # (name, who needs it)
    for cert in index.of_type(CERTIFICATE):
        if get(cert.props, "validationMethod") != "DNS":
            report(f"certificate {cert.name} is not DNS-validated (renewals would need a human)", cert.urn)
    certificates = [
        c
        for c in index.of_type(CERTIFICATE)
        if get(c.props, "validationMethod") == "DNS" and c.urn in validated
    ]
    for distribution in index.of_type(DISTRIBUTION):
        for origin in items(get(distribution.props, "origins")):
            if get(origin, "customOriginConfig") is not None:
                names.append((str(get(origin, "domainName", default="?")), distribution.urn))
    for check in index.of_type(HEALTH_CHECK):
        if str(get(check.props, "type", default="")).startswith("HTTPS"):
            names.append((str(get(check.props, "fqdn", default="?")), check.urn))
    for name, urn in names:
        if name in ("?", str(UNKNOWN)):
            continue
        if not any(
            covers(str(n), name)
            for c in certificates
            for n in [get(c.props, "domainName"), *items(get(c.props, "subjectAlternativeNames"))]
            if isinstance(n, str)
        ):
            report(f"no issued (DNS-validated) ACM certificate covers {name}", urn)


@resource_policy(
    "health-check-https",
    "Route 53 health checks of a region must probe the gateway over HTTPS with SNI on port 443, at one of "
    f"its health paths ({', '.join(GATEWAY_HEALTH_PATHS)}): set type HTTPS, port 443, enable_sni and "
    "resource_path.",
    [HEALTH_CHECK],
)
def health_check_https(args: ResourceValidationArgs, report: Report) -> None:
    props = args.props
    kind = get(props, "type")
    if kind is not UNKNOWN and kind not in ("HTTPS", "HTTPS_STR_MATCH"):
        report(f"checks over {kind or 'unset'!s}, not HTTPS")
        return
    port = number(get(props, "port"))
    if port is not None and port != 443:
        report(f"checks port {port:g}, not the origin's 443")
    if not flag(get(props, "enableSni"), unknown=True):
        report("does not send SNI (the origin's certificate is chosen by name)")
    path = get(props, "resourcePath")
    if path is not UNKNOWN and path not in GATEWAY_HEALTH_PATHS:
        report(f"probes {path or '/'!s}, which is not a gateway health path")


@resource_policy(
    "ingress-https-only",
    "The ingress controller's load balancer must terminate HTTPS with an ACM certificate and serve nothing in "
    "clear text: in the ingress-nginx values set controller.service.enableHttp false and the NLB's "
    "ssl-cert, ssl-ports https and ssl-negotiation-policy annotations (infra/k8s/addons.py).",
    [HELM_RELEASE],
)
def ingress_https_only(args: ResourceValidationArgs, report: Report) -> None:
    if get(args.props, "chart") != INGRESS_CHART:
        return
    service = get(args.props, "values", "controller", "service")
    if flag(get(service, "enableHttp"), unknown=False) or get(service, "enableHttp") is None:
        report("the load balancer also listens on plain HTTP (controller.service.enableHttp)")
    annotations = get(service, "annotations", default={})
    cert = get(annotations, f"{NLB}ssl-cert")
    if cert is not UNKNOWN and not str(cert or "").startswith("arn:aws:acm:"):
        report("the load balancer has no ACM certificate (aws-load-balancer-ssl-cert)")
    ports = get(annotations, f"{NLB}ssl-ports")
    if ports is not UNKNOWN and "https" not in str(ports or "").split(","):
        report("the https port does not terminate TLS (aws-load-balancer-ssl-ports)")
    policy = get(annotations, f"{NLB}ssl-negotiation-policy")
    if policy is not UNKNOWN and "TLS13" not in str(policy or "") and "TLS-1-2" not in str(policy or ""):
        report(f"TLS policy {policy or 'the default (TLS 1.0)'!s} allows protocols older than TLS 1.2")
