"""CloudFront in front of the regional origins, with origin failover, per-content-type caching and WAF."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.base import child
from infra.aws.storage import secure_bucket
from infra.config import CdnConfig, CorsConfig
from infra.names import cdn_name, origin_name
from runtime import content_paths
from runtime.security.cors import ALLOW_HEADERS, ALLOW_METHODS, EXPOSE_HEADERS

# AWS-managed policies (stable ids published by CloudFront).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
FAILOVER_STATUS_CODES = [500, 502, 503, 504]
# AWSManagedRulesCommonRuleSet blocks request bodies over 8 KB: segments and rendition sets are larger
# (the gateway bounds uploads itself, 413), so that one rule only counts.
COMMON_RULES_COUNT_ONLY = ("SizeRestrictions_BODY",)


@dataclass(frozen=True)
class WafArgs:
    stack: str
    rate_per_five_minutes: int  # per viewer IP


@dataclass(frozen=True)
class CdnArgs:
    stack: str
    domain: str
    cdn: CdnConfig  # cache lifetimes
    cors: CorsConfig  # the player origins it answers
    regions: Sequence[str]  # origins, primary first
    zone: aws.route53.Zone
    waf: Waf
    log_key: aws.kms.Key


class Waf(pulumi.ComponentResource):
    """A CLOUDFRONT-scope web ACL (it must live in us-east-1): per-IP rate limit, content paths outside the
    URL scheme refused before they reach an origin, and AWS's common rules."""

    acl: aws.wafv2.WebAcl

    def __init__(self, name: str, args: WafArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("streamgate:aws:Waf", name, None, opts)

        def visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgsDict:
            return {
                "cloudwatch_metrics_enabled": True,
                "metric_name": metric,
                "sampled_requests_enabled": True,
            }

        # Paths under /v1/content/ outside the URL scheme are refused here, before they reach an origin.
        content_paths_rule: aws.wafv2.WebAclRuleArgsDict = {
            "name": "content-paths",
            "priority": 1,
            "action": {"block": {}},
            "statement": {
                "and_statement": {
                    "statements": [
                        {
                            "byte_match_statement": {
                                "field_to_match": {"uri_path": {}},
                                "positional_constraint": "STARTS_WITH",
                                "search_string": "/v1/content/",
                                "text_transformations": [{"priority": 0, "type": "NONE"}],
                            }
                        },
                        {
                            "not_statement": {
                                "statement": {
                                    "regex_match_statement": {
                                        "field_to_match": {"uri_path": {}},
                                        "regex_string": content_paths.API_PATH,
                                        "text_transformations": [{"priority": 0, "type": "NONE"}],
                                    }
                                }
                            }
                        },
                    ]
                }
            },
            "visibility_config": visibility("content-paths"),
        }
        self.acl = aws.wafv2.WebAcl(
            f"{name}-acl",
            scope="CLOUDFRONT",
            default_action={"allow": {}},
            rules=[
                {
                    "name": "rate-per-ip",
                    "priority": 0,
                    "action": {"block": {}},
                    "statement": {
                        "rate_based_statement": {
                            "limit": args.rate_per_five_minutes,
                            "aggregate_key_type": "IP",
                            "evaluation_window_sec": 300,
                        }
                    },
                    "visibility_config": visibility("rate-per-ip"),
                },
                content_paths_rule,
                {
                    "name": "aws-common",
                    "priority": 2,
                    "override_action": {"none": {}},
                    "statement": {
                        "managed_rule_group_statement": {
                            "vendor_name": "AWS",
                            "name": "AWSManagedRulesCommonRuleSet",
                            "rule_action_overrides": [
                                {"name": rule, "action_to_use": {"count": {}}}
                                for rule in COMMON_RULES_COUNT_ONLY
                            ],
                        }
                    },
                    "visibility_config": visibility("aws-common"),
                },
            ],
            visibility_config=visibility(f"streamgate-{args.stack}"),
            opts=child(self),
        )
        self.register_outputs({"aclArn": self.acl.arn})


class Cdn(pulumi.ComponentResource):
    distribution: aws.cloudfront.Distribution

    def __init__(self, name: str, args: CdnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("streamgate:aws:Cdn", name, None, opts)
        ttl, regions, zone, waf, log_key = args.cdn, args.regions, args.zone, args.waf, args.log_key
        cert = aws.acm.Certificate(
            f"{name}-cert", domain_name=cdn_name(args.domain), validation_method="DNS", opts=child(self)
        )
        validation = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=zone.zone_id,
            ttl=60,
            allow_overwrite=True,
            name=cert.domain_validation_options.apply(lambda o: o[0].resource_record_name or ""),
            type=cert.domain_validation_options.apply(lambda o: o[0].resource_record_type or "CNAME"),
            records=[cert.domain_validation_options.apply(lambda o: o[0].resource_record_value or "")],
            opts=child(self),
        )
        validated = aws.acm.CertificateValidation(
            f"{name}-cert",
            certificate_arn=cert.arn,
            validation_record_fqdns=[validation.fqdn],
            opts=child(self),
        )
        logs = secure_bucket(
            self, f"{name}-logs", log_key, acls=True
        )  # CloudFront logs are written with ACLs

        def cache_policy(kind: str, seconds: int) -> aws.cloudfront.CachePolicy:
            return aws.cloudfront.CachePolicy(
                f"{name}-{kind}",
                comment=f"StreamGate {kind}",
                min_ttl=0,
                default_ttl=seconds,
                max_ttl=max(seconds, 1),
                parameters_in_cache_key_and_forwarded_to_origin={
                    "cookies_config": {"cookie_behavior": "none"},
                    "headers_config": {"header_behavior": "none"},
                    "query_strings_config": {"query_string_behavior": "none"},
                    "enable_accept_encoding_gzip": True,
                    "enable_accept_encoding_brotli": True,
                },
                opts=child(self),
            )

        segment_policy = cache_policy("segments", ttl.segment_ttl_seconds)
        manifest_policy = cache_policy("manifests", ttl.manifest_ttl_seconds)
        # CORS answered at the edge for each viewer from the stack's allow-list, whatever a cached response
        # carries (origin_override), as the local edge does: one cached copy per URL, right for every origin.
        cors = args.cors
        self.cors_policy = (
            aws.cloudfront.ResponseHeadersPolicy(
                f"{name}-cors",
                name=f"streamgate-{args.stack}-cors",
                comment=f"StreamGate {args.stack}: player origins (cors.allowOrigins)",
                cors_config={
                    "access_control_allow_credentials": False,
                    "access_control_allow_headers": {"items": list(ALLOW_HEADERS)},
                    "access_control_allow_methods": {"items": list(ALLOW_METHODS)},
                    "access_control_allow_origins": {"items": list(cors.allow_origins)},
                    "access_control_expose_headers": {"items": list(EXPOSE_HEADERS)},
                    "access_control_max_age_sec": cors.max_age_seconds,
                    "origin_override": True,
                },
                opts=child(self),
            )
            if cors.allow_origins
            else None
        )
        cors_policy_id = self.cors_policy.id if self.cors_policy else None
        origins: list[aws.cloudfront.DistributionOriginArgsDict] = [
            {
                "origin_id": region,
                "domain_name": origin_name(args.domain, region),
                "custom_origin_config": {
                    "http_port": 80,
                    "https_port": 443,
                    "origin_protocol_policy": "https-only",
                    "origin_ssl_protocols": ["TLSv1.2"],
                    "origin_read_timeout": 30,
                },
                "custom_headers": [{"name": "X-StreamGate-Edge", "value": "cloudfront"}],
            }
            for region in regions
        ]
        # An origin group has exactly two members: the primary region first, then the next region.
        groups: list[aws.cloudfront.DistributionOriginGroupArgsDict] = (
            [
                {
                    "origin_id": "regional-failover",
                    "failover_criteria": {"status_codes": FAILOVER_STATUS_CODES},
                    "members": [{"origin_id": regions[0]}, {"origin_id": regions[1]}],
                }
            ]
            if len(regions) > 1
            else []
        )
        read_target = "regional-failover" if groups else regions[0]

        def behavior(
            path: str, policy: aws.cloudfront.CachePolicy
        ) -> aws.cloudfront.DistributionOrderedCacheBehaviorArgsDict:
            args: aws.cloudfront.DistributionOrderedCacheBehaviorArgsDict = {
                "path_pattern": path,
                "target_origin_id": read_target,
                "cache_policy_id": policy.id,
                "viewer_protocol_policy": "https-only",
                "allowed_methods": ["GET", "HEAD", "OPTIONS"],
                "cached_methods": ["GET", "HEAD"],
                "compress": True,
            }
            if cors_policy_id is not None:
                args["response_headers_policy_id"] = cors_policy_id
            return args

        default_behavior: aws.cloudfront.DistributionDefaultCacheBehaviorArgsDict = {
            "target_origin_id": regions[0],
            "viewer_protocol_policy": "https-only",
            "allowed_methods": ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
            "cached_methods": ["GET", "HEAD"],
            "cache_policy_id": CACHING_DISABLED,
            "origin_request_policy_id": ALL_VIEWER_EXCEPT_HOST,
            "compress": True,
        }
        if cors_policy_id is not None:  # playback events are POSTed cross-origin too
            default_behavior["response_headers_policy_id"] = cors_policy_id

        self.distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=ttl.price_class,
            comment=f"StreamGate {args.stack}",
            aliases=[cdn_name(args.domain)],
            web_acl_id=waf.acl.arn,
            origins=origins,
            origin_groups=groups,
            ordered_cache_behaviors=[
                *(behavior(p, segment_policy) for p in content_paths.CDN_SEGMENTS),
                *(behavior(p, manifest_policy) for p in content_paths.CDN_PLAYLISTS),
            ],
            # Writes and events cannot go through an origin group (GET/HEAD/OPTIONS only): primary origin.
            default_cache_behavior=default_behavior,
            viewer_certificate={
                "acm_certificate_arn": validated.certificate_arn,
                "ssl_support_method": "sni-only",
                "minimum_protocol_version": ttl.minimum_tls,
            },
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            logging_config={
                "bucket": logs.bucket.bucket_domain_name,
                "prefix": "cloudfront/",
                "include_cookies": False,
            },
            opts=child(self),
        )
        aws.route53.Record(
            f"{name}-alias",
            zone_id=zone.zone_id,
            name=cdn_name(args.domain),
            type="A",
            aliases=[
                {
                    "name": self.distribution.domain_name,
                    "zone_id": self.distribution.hosted_zone_id,
                    "evaluate_target_health": False,
                }
            ],
            opts=child(self),
        )
        self.register_outputs({"domainName": self.distribution.domain_name})
