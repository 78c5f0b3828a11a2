"""API Gateway for CloudFormation: AWS::ApiGateway::Stage (skipped by moto), and fixes to
moto's Method and Deployment.

moto's AWS::ApiGateway::Method fails the whole stack (HTTP 500) for an integration without
``Uri`` or ``IntegrationHttpMethod`` (MOCK) and ignores the method's and integration's
responses; ``Ref`` to a Method or Deployment returns the object rather than an ID, so a Stage's
``DeploymentId: !Ref Deployment`` would not resolve.
"""

from __future__ import annotations

from typing import Any

from moto.apigateway.models import APIGatewayBackend, Deployment, Method, apigateway_backends
from moto.core.common_models import CloudFormationModel

from .cfn_resource import SandboxResource, to_bool


def _backend(account_id: str, region: str) -> APIGatewayBackend:
    return apigateway_backends[account_id][region]


class Stage(SandboxResource, CloudFormationModel):
    def __init__(self, rest_api_id: str, stage_name: str, region_name: str):
        self.rest_api_id = rest_api_id
        self.stage_name = stage_name
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGateway::Stage"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "StageName"

    @property
    def physical_resource_id(self) -> str:
        return self.stage_name

    @staticmethod
    def _apply(stage: Any, props: dict[str, Any]) -> None:
        stage.deployment_id = props.get("DeploymentId")
        stage.description = props.get("Description", "")
        stage.variables = dict(props.get("Variables") or {})
        stage.tracing_enabled = to_bool(props.get("TracingEnabled"))
        stage.cache_cluster_enabled = to_bool(props.get("CacheClusterEnabled"))
        stage.tags = {t["Key"]: t["Value"] for t in props.get("Tags") or []} or None
        access_log = props.get("AccessLogSetting")
        stage.access_log_settings = (
            {"destinationArn": access_log.get("DestinationArn"), "format": access_log.get("Format")}
            if access_log
            else None
        )
        stage.method_settings = {
            f"{m.get('ResourcePath', '/*').lstrip('/') or '*'}/{m.get('HttpMethod', '*')}": {
                "metricsEnabled": to_bool(m.get("MetricsEnabled")),
                "loggingLevel": m.get("LoggingLevel", "OFF"),
                "dataTraceEnabled": to_bool(m.get("DataTraceEnabled")),
                "throttlingBurstLimit": m.get("ThrottlingBurstLimit", 5000),
                "throttlingRateLimit": float(m.get("ThrottlingRateLimit", 10000.0)),
                "cachingEnabled": to_bool(m.get("CachingEnabled")),
                "cacheTtlInSeconds": m.get("CacheTtlInSeconds", 300),
                "cacheDataEncrypted": to_bool(m.get("CacheDataEncrypted")),
                "requireAuthorizationForCacheControl": True,
                "unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITH_RESPONSE_HEADER",
            }
            for m in props.get("MethodSettings") or []
        }

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Stage:
        props = cloudformation_json["Properties"]
        stage = _backend(account_id, region_name).create_stage(
            function_id=props["RestApiId"],
            stage_name=resource_name,
            deploymentId=props.get("DeploymentId"),
            description=props.get("Description", ""),
        )
        cls._apply(stage, props)
        return cls(props["RestApiId"], resource_name, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Stage,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Stage:
        props = cloudformation_json["Properties"]
        if props["RestApiId"] != original_resource.rest_api_id or new_resource_name != original_resource.stage_name:
            replacement = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource.delete(account_id, region_name)
            return replacement
        cls._apply(_backend(account_id, region_name).get_stage(props["RestApiId"], new_resource_name), props)
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        api = _backend(account_id, self.region_name).apis.get(self.rest_api_id)
        if api is not None:
            api.stages.pop(self.stage_name, None)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        props = cloudformation_json.get("Properties") or {}
        cls(props.get("RestApiId", ""), resource_name, region_name).delete(account_id, region_name)


def method_create_from_cloudformation_json(
    cls: type[Method],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> Method:
    props = cloudformation_json["Properties"]
    rest_api_id, resource_id, http_method = props["RestApiId"], props["ResourceId"], props["HttpMethod"]
    backend = _backend(account_id, region_name)
    method = backend.put_method(
        function_id=rest_api_id,
        resource_id=resource_id,
        method_type=http_method,
        authorization_type=props.get("AuthorizationType", "NONE"),
        api_key_required=to_bool(props.get("ApiKeyRequired")),
        request_parameters=props.get("RequestParameters"),
        request_models=props.get("RequestModels"),
        operation_name=props.get("OperationName"),
        authorizer_id=props.get("AuthorizerId"),
        authorization_scopes=props.get("AuthorizationScopes"),
        request_validator_id=props.get("RequestValidatorId"),
    )
    for response in props.get("MethodResponses") or []:
        method.create_response(
            str(response["StatusCode"]), response.get("ResponseModels") or {}, response.get("ResponseParameters") or {}
        )
    integration = props.get("Integration")
    if integration:
        backend.put_integration(
            function_id=rest_api_id,
            resource_id=resource_id,
            method_type=http_method,
            integration_type=integration["Type"],
            uri=integration.get("Uri"),
            integration_method=integration.get("IntegrationHttpMethod"),
            credentials=integration.get("Credentials"),
            request_templates=integration.get("RequestTemplates"),
            passthrough_behavior=integration.get("PassthroughBehavior"),
            timeout_in_millis=integration.get("TimeoutInMillis"),
            request_parameters=integration.get("RequestParameters"),
            content_handling=integration.get("ContentHandling"),
            connection_type=integration.get("ConnectionType"),
        )
        for response in integration.get("IntegrationResponses") or []:
            backend.put_integration_response(
                function_id=rest_api_id,
                resource_id=resource_id,
                method_type=http_method,
                status_code=str(response["StatusCode"]),
                selection_pattern=response.get("SelectionPattern"),
                response_templates=response.get("ResponseTemplates") or {},
                response_parameters=response.get("ResponseParameters") or {},
                content_handling=response.get("ContentHandling"),
            )
    method.sandbox_id = f"{rest_api_id}-{resource_id}-{http_method}"
    return method


def method_physical_resource_id(self: Method) -> str:
    return getattr(self, "sandbox_id", "")


def deployment_physical_resource_id(self: Deployment) -> str:
    return self.id


def install() -> None:
    Method.create_from_cloudformation_json = classmethod(method_create_from_cloudformation_json)  # type: ignore[method-assign,assignment]
    Method.physical_resource_id = property(method_physical_resource_id)  # type: ignore[attr-defined]
    Deployment.physical_resource_id = property(deployment_physical_resource_id)  # type: ignore[attr-defined]
