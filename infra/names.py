"""The stack's DNS names, in one place for the program (records, certificates, the CDN) and the automation
(which reaches the regions through them). Plain functions of the domain: nothing to import but this."""

from __future__ import annotations


def api_name(domain: str) -> str:
    """The failover name viewers' API calls use: Route 53 sends it to the first healthy region."""
    return f"api.{domain}"


def origin_name(domain: str, region: str) -> str:
    """The regional origin: the ingress load balancer of that region's cluster answers under this name."""
    return f"origin.{region}.{domain}"


def cdn_name(domain: str) -> str:
    return f"cdn.{domain}"
