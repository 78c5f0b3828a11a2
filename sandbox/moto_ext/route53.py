"""Route 53 record sets made by CloudFormation get the fully qualified name (trailing dot),
as the Route 53 API gives every name. moto stores the name as the template wrote it, so a
later API UPSERT of the same record (the state machine's weight shift) added a second record
instead of replacing the first: real Route 53 cannot get into that state."""

from __future__ import annotations

from typing import Any

_installed = False


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.route53.models import RecordSet

    original_create = RecordSet.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, *args, **kwargs):
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get("Name"), str):
            properties["Name"] = _fqdn(properties["Name"])
        return original_create(cls, resource_name, cloudformation_json, *args, **kwargs)

    RecordSet.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    _installed = True
