"""TLS for a region's origin: an ACM certificate for `origin.<region>.<domain>` and `api.<domain>` (the Route 53
failover name that resolves to it), validated through DNS records in the stack's zone.

The ingress controller's load balancer terminates HTTPS with it (infra/k8s/addons.py), so CloudFront's
`https-only` origins and Route 53's HTTPS health checks reach a name the certificate covers. ACM gives the same
validation record for a name in every region of an account, so the shared `api` name's record is created once
(by the primary region) and the other regions' validations wait on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.base import child
from infra.names import api_name, origin_name


@dataclass(frozen=True)
class OriginCertificateArgs:
    domain: str
    region: str
    zone: aws.route53.Zone  # validates through it
    # The shared name's validation record, created by the primary region; None in the primary region
    # itself, which creates it.
    api_record_fqdn: pulumi.Output[str] | None = None


class OriginCertificate(pulumi.ComponentResource):
    certificate: aws.acm.Certificate
    validation: aws.acm.CertificateValidation
    api_record_fqdn: pulumi.Output[str]

    def __init__(
        self, name: str, args: OriginCertificateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("streamgate:aws:OriginCertificate", name, None, opts)
        origin, api = origin_name(args.domain, args.region), api_name(args.domain)
        zone, api_record_fqdn = args.zone, args.api_record_fqdn
        self.certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=origin,
            subject_alternative_names=[api],
            validation_method="DNS",
            key_algorithm="EC_prime256v1",
            options={"certificate_transparency_logging_preference": "ENABLED"},
            opts=child(self),
        )
        fqdns = [self._record(f"{name}-validation-origin", zone, origin)]
        if api_record_fqdn is None:
            api_record_fqdn = self._record(f"{name}-validation-api", zone, api)
        self.api_record_fqdn = api_record_fqdn
        fqdns.append(api_record_fqdn)
        self.validation = aws.acm.CertificateValidation(
            f"{name}-cert",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=fqdns,
            opts=child(self),
        )
        self.register_outputs({"certificateArn": self.validation.certificate_arn})

    @property
    def arn(self) -> pulumi.Output[str]:
        """The certificate's ARN once ACM has issued it (what a listener may use)."""
        return self.validation.certificate_arn

    def _record(self, name: str, zone: aws.route53.Zone, domain: str) -> pulumi.Output[str]:
        def option(field: str) -> pulumi.Output[str]:
            def pick(options: Sequence[Any]) -> str:
                match = next((o for o in options if o.domain_name == domain), None)
                return str(getattr(match, field) or "") if match else ""

            return self.certificate.domain_validation_options.apply(pick)

        record = aws.route53.Record(
            name,
            zone_id=zone.zone_id,
            name=option("resource_record_name"),
            type=option("resource_record_type"),
            records=[option("resource_record_value")],
            ttl=300,
            allow_overwrite=True,
            opts=child(self),
        )
        return record.fqdn
