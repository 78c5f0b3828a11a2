"""AWS::CloudFront::Distribution and AWS::CloudFront::ResponseHeadersPolicy, which moto's
CloudFormation skips.

CloudFormation's DistributionConfig writes lists plainly (``Origins: [...]``) where the
CloudFront API wraps them (``Origins: {Quantity, Items}``) and spells a few names differently
(``AcmCertificateArn`` / ``ACMCertificateArn``); the config is translated and handed to moto's
CloudFront backend, so GetDistribution and ListDistributions show the distribution, origin
groups included.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.cloudfront.models import CloudFrontBackend, DistributionConfig, cloudfront_backends
from moto.cloudfront.models import Distribution as MotoDistribution
from moto.core.common_models import CloudFormationModel
from moto.core.utils import utcnow
from moto.utilities.utils import get_partition

from .cfn_resource import SandboxResource, cfn_tags, to_bool


def _backend(account_id: str, region: str) -> CloudFrontBackend:
    return cloudfront_backends[account_id][get_partition(region)]


def _items(values: list[Any] | None) -> dict[str, Any]:
    values = list(values or [])
    return {"Quantity": len(values), "Items": values} if values else {"Quantity": 0}


def _quantified(block: dict[str, Any] | None) -> dict[str, Any]:
    """A block already in Quantity/Items form (OriginGroups, StatusCodes...), Quantity made right."""
    if not block:
        return {"Quantity": 0}
    items = block.get("Items") or []
    return {**block, "Quantity": len(items), "Items": items} if items else {"Quantity": 0}


def _forwarded_values(fv: dict[str, Any] | None) -> dict[str, Any] | None:
    if fv is None:
        return None
    cookies = dict(fv.get("Cookies") or {"Forward": "none"})
    if "WhitelistedNames" in cookies:
        cookies["WhitelistedNames"] = _items(cookies["WhitelistedNames"])
    return {
        "QueryString": to_bool(fv.get("QueryString")),
        "Cookies": cookies,
        "Headers": _items(fv.get("Headers")),
        "QueryStringCacheKeys": _items(fv.get("QueryStringCacheKeys")),
    }


def _cache_behavior(cb: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {
        "TargetOriginId": cb["TargetOriginId"],
        "ViewerProtocolPolicy": cb["ViewerProtocolPolicy"],
        "TrustedSigners": {"Items": list(cb.get("TrustedSigners") or [])},
        "TrustedKeyGroups": {"Items": list(cb.get("TrustedKeyGroups") or [])},
        "AllowedMethods": {
            "Items": list(cb.get("AllowedMethods") or ["GET", "HEAD"]),
            "CachedMethods": {"Items": list(cb.get("CachedMethods") or ["GET", "HEAD"])},
        },
        "SmoothStreaming": to_bool(cb.get("SmoothStreaming")),
        "Compress": to_bool(cb.get("Compress")),
        "FieldLevelEncryptionId": cb.get("FieldLevelEncryptionId", ""),
        "MinTTL": int(cb.get("MinTTL", 0)),
        "DefaultTTL": int(cb.get("DefaultTTL", 86400)),
        "MaxTTL": int(cb.get("MaxTTL", 31536000)),
    }
    for key in (
        "PathPattern",
        "CachePolicyId",
        "OriginRequestPolicyId",
        "ResponseHeadersPolicyId",
        "RealtimeLogConfigArn",
    ):
        if cb.get(key):
            api[key] = cb[key]
    forwarded = _forwarded_values(cb.get("ForwardedValues"))
    if forwarded is not None:
        api["ForwardedValues"] = forwarded
    return api


def _origin(origin: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {
        "Id": origin["Id"],
        "DomainName": origin["DomainName"],
        "OriginPath": origin.get("OriginPath", ""),
        "CustomHeaders": _items(
            [
                {"HeaderName": h["HeaderName"], "HeaderValue": h["HeaderValue"]}
                for h in origin.get("OriginCustomHeaders") or []
            ]
        ),
        "ConnectionAttempts": int(origin.get("ConnectionAttempts", 3)),
        "ConnectionTimeout": int(origin.get("ConnectionTimeout", 10)),
        "OriginShield": {
            "Enabled": to_bool((origin.get("OriginShield") or {}).get("Enabled")),
            **(
                {"OriginShieldRegion": origin["OriginShield"]["OriginShieldRegion"]}
                if (origin.get("OriginShield") or {}).get("OriginShieldRegion")
                else {}
            ),
        },
    }
    if origin.get("OriginAccessControlId"):
        api["OriginAccessControlId"] = origin["OriginAccessControlId"]
    if "S3OriginConfig" in origin:
        api["S3OriginConfig"] = {
            "OriginAccessIdentity": (origin["S3OriginConfig"] or {}).get("OriginAccessIdentity", "")
        }
    custom = origin.get("CustomOriginConfig")
    if custom is not None:
        api["CustomOriginConfig"] = {
            "HTTPPort": int(custom.get("HTTPPort", 80)),
            "HTTPSPort": int(custom.get("HTTPSPort", 443)),
            "OriginProtocolPolicy": custom["OriginProtocolPolicy"],
            "OriginSslProtocols": _items(custom.get("OriginSSLProtocols") or ["TLSv1", "SSLv3"]),
            "OriginReadTimeout": int(custom.get("OriginReadTimeout", 30)),
            "OriginKeepaliveTimeout": int(custom.get("OriginKeepaliveTimeout", 5)),
        }
    return api


def distribution_config_to_api(config: dict[str, Any], caller_reference: str) -> dict[str, Any]:
    """CloudFormation's DistributionConfig in the CloudFront API's shape."""
    certificate = config.get("ViewerCertificate") or {}
    api: dict[str, Any] = {
        "CallerReference": caller_reference,
        "Aliases": _items(config.get("Aliases")),
        "Origins": _items([_origin(o) for o in config.get("Origins") or []]),
        "OriginGroups": _quantified(config.get("OriginGroups")),
        "DefaultCacheBehavior": _cache_behavior(config["DefaultCacheBehavior"]),
        "CacheBehaviors": _items([_cache_behavior(cb) for cb in config.get("CacheBehaviors") or []]),
        "CustomErrorResponses": _items(
            [
                {
                    "ErrorCode": int(r["ErrorCode"]),
                    **({"ResponsePagePath": r["ResponsePagePath"]} if r.get("ResponsePagePath") else {}),
                    **({"ResponseCode": str(r["ResponseCode"])} if r.get("ResponseCode") is not None else {}),
                    **(
                        {"ErrorCachingMinTTL": int(r["ErrorCachingMinTTL"])}
                        if r.get("ErrorCachingMinTTL") is not None
                        else {}
                    ),
                }
                for r in config.get("CustomErrorResponses") or []
            ]
        ),
        "Comment": config.get("Comment", ""),
        "Enabled": to_bool(config.get("Enabled")),
        "PriceClass": config.get("PriceClass", "PriceClass_All"),
        "HttpVersion": config.get("HttpVersion", "http1.1"),
        "IsIPV6Enabled": to_bool(config.get("IPV6Enabled"), False),
        "DefaultRootObject": config.get("DefaultRootObject", ""),
        "WebACLId": config.get("WebACLId", ""),
        "ViewerCertificate": {
            "CloudFrontDefaultCertificate": to_bool(certificate.get("CloudFrontDefaultCertificate"), not certificate),
            "IAMCertificateId": certificate.get("IamCertificateId", ""),
            "ACMCertificateArn": certificate.get("AcmCertificateArn", ""),
            "SSLSupportMethod": certificate.get("SslSupportMethod", ""),
            "MinimumProtocolVersion": certificate.get("MinimumProtocolVersion", ""),
        },
    }
    if config.get("Logging"):
        api["Logging"] = {
            "Enabled": True,
            "IncludeCookies": to_bool(config["Logging"].get("IncludeCookies")),
            "Bucket": config["Logging"].get("Bucket", ""),
            "Prefix": config["Logging"].get("Prefix", ""),
        }
    geo = (config.get("Restrictions") or {}).get("GeoRestriction")
    if geo:
        api["Restrictions"] = {
            "GeoRestriction": {
                "RestrictionType": geo.get("RestrictionType", "none"),
                "Items": list(geo.get("Locations") or []),
            }
        }
    return api


class Distribution(SandboxResource, CloudFormationModel):
    ATTRIBUTES = ("DomainName", "Id")

    def __init__(self, distribution_id: str, domain_name: str, caller_reference: str):
        self.distribution_id = distribution_id
        self.domain_name = domain_name
        self.caller_reference = caller_reference

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::Distribution"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.distribution_id

    def attributes(self) -> dict[str, Any]:
        return {"DomainName": self.domain_name, "Id": self.distribution_id}

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Distribution:
        props = cloudformation_json["Properties"]
        caller_reference = f"{kwargs.get('StackId', '')}/{kwargs.get('LogicalId', resource_name)}/{resource_name}"
        backend = _backend(account_id, region_name)
        dist, _, _ = backend.create_distribution(
            distribution_config=distribution_config_to_api(props["DistributionConfig"], caller_reference),
            tags=cfn_tags(props.get("Tags")),
        )
        return cls(dist.distribution_id, dist.domain_name, caller_reference)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Distribution,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Distribution:
        props = cloudformation_json["Properties"]
        backend = _backend(account_id, region_name)
        dist: MotoDistribution
        dist, _, _ = backend.update_distribution(
            dist_config=distribution_config_to_api(props["DistributionConfig"], original_resource.caller_reference),
            _id=original_resource.distribution_id,
            if_match=True,
        )
        if "Tags" in props:
            backend.tagger.delete_all_tags_for_resource(dist.arn)
            backend.tagger.tag_resource(dist.arn, cfn_tags(props.get("Tags")))
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        if self.distribution_id in backend.distributions:
            backend.delete_distribution(self.distribution_id, if_match=True)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        backend = _backend(account_id, region_name)
        if resource_name in backend.distributions:
            backend.delete_distribution(resource_name, if_match=True)


class ResponseHeadersPolicy(SandboxResource, CloudFormationModel):
    """AWS::CloudFront::ResponseHeadersPolicy: moto has no such API, so the policy lives only in
    the stack (``Ref``/``Id`` give an ID for the distribution's cache behaviours)."""

    ATTRIBUTES = ("Id", "LastModifiedTime")

    def __init__(self, policy_id: str, config: dict[str, Any]):
        self.policy_id = policy_id
        self.config = config
        self.last_modified_time = utcnow().isoformat()

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::ResponseHeadersPolicy"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @property
    def physical_resource_id(self) -> str:
        return self.policy_id

    def attributes(self) -> dict[str, Any]:
        return {"Id": self.policy_id, "LastModifiedTime": self.last_modified_time}

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ResponseHeadersPolicy:
        config = (cloudformation_json.get("Properties") or {}).get("ResponseHeadersPolicyConfig") or {}
        return cls(str(uuid.uuid4()), config)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: ResponseHeadersPolicy,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> ResponseHeadersPolicy:
        original_resource.config = (cloudformation_json.get("Properties") or {}).get(
            "ResponseHeadersPolicyConfig"
        ) or {}
        original_resource.last_modified_time = utcnow().isoformat()
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        pass

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        pass


# moto requires a cache behaviour's TargetOriginId to name an origin; AWS also accepts an origin
# group (that is how origin failover is set up).
_original_config_init = DistributionConfig.__init__


def distribution_config_init(self: DistributionConfig, config: dict[str, Any]) -> None:
    groups = {g["Id"]: g for g in (config.get("OriginGroups") or {}).get("Items") or []}
    target = (config.get("DefaultCacheBehavior") or {}).get("TargetOriginId")
    if target in groups:
        members = groups[target].get("Members", {}).get("Items") or [{}]
        config["DefaultCacheBehavior"] = {
            **config["DefaultCacheBehavior"],
            "TargetOriginId": members[0].get("OriginId"),
        }
        _original_config_init(self, config)
        self.DefaultCacheBehavior.target_origin_id = target
    else:
        _original_config_init(self, config)


def install() -> None:
    DistributionConfig.__init__ = distribution_config_init  # type: ignore[method-assign]
