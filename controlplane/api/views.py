"""The REST API: thin views that parse, check the role, and call the same services and
selectors as the pages. Names follow ``<Entity><Action>Api``."""

from __future__ import annotations

from django.db import transaction
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import reports
from audit.models import AuditEvent, ReportPack
from audit.selectors import report_pack_get, report_pack_list
from controlplane.accounts.models import ApiToken, Role
from controlplane.accounts.tokens import api_token_may_decide
from controlplane.api import filters
from controlplane.api import serializers as s
from controlplane.api.etag import gate_etag, if_match_values
from controlplane.api.exceptions import Conflict, FreshSignInRequired, Gone, PreconditionFailed, PreconditionRequired
from controlplane.api.permissions import ANY_ROLE
from controlplane.dashboard import selectors as dashboard_selectors
from migrations_app import deployments, selectors, services
from migrations_app.forms import EnvironmentForm
from migrations_app.models import (
    CutoverPlan,
    Deployment,
    Environment,
    Execution,
    Gate,
    GateCheck,
    StackDeployment,
)
from reconciliation import services as reconciliation_services
from reconciliation.models import Finding, ReconciliationRun, WindowCount

ENGINEER = (Role.ENGINEER,)
APPROVER = (Role.APPROVER,)
PACK_ROLES = reports.READ_ROLES  # auditors and approvers, as on the report pages


class ErrorBody(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ErrorOutput(serializers.Serializer):
    error = ErrorBody()


def errors(*codes: int) -> dict:
    """The documented error responses of an operation (every one has the same body)."""
    return {code: OpenApiResponse(ErrorOutput, description="See docs/api.md, Errors.") for code in codes}


READ_ERRORS = errors(401, 403, 404)
WRITE_ERRORS = errors(400, 401, 403, 404, 409)


def parse(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def environment_by_name(name: str, field: str = "environment") -> Environment:
    environment = Environment.objects.filter(name=name).first()
    if environment is None:
        raise serializers.ValidationError({field: [f"No environment is named {name!r}."]})
    return environment


# --- who am I ----------------------------------------------------------------------------------


class MeApi(APIView):
    @extend_schema(responses={200: s.MeOutput, **READ_ERRORS}, summary="The authenticated person and their roles")
    def get(self, request):
        return Response(s.MeOutput(request.user, context={"request": request}).data)


# --- environments and plans ----------------------------------------------------------------------


class EnvironmentListCreateApi(generics.ListAPIView):
    write_roles = ENGINEER
    serializer_class = s.EnvironmentOutput
    filterset_class = filters.EnvironmentFilter
    queryset = Environment.objects.select_related("deployed_plan").order_by("name")

    @extend_schema(request=s.EnvironmentCreateInput, responses={201: s.EnvironmentOutput, **WRITE_ERRORS})
    def post(self, request):
        data = parse(s.EnvironmentCreateInput, request)
        form = EnvironmentForm(data={k: v for k, v in data.items() if v not in ("", False)})
        if not form.is_valid():  # the page's own rules for a new environment
            raise serializers.ValidationError(
                {("non_field_errors" if k == "__all__" else k): v for k, v in form.errors.items()}
            )
        if Environment.objects.filter(name=form.cleaned_data["name"]).exists():
            raise serializers.ValidationError({"name": ["An environment with this name exists."]})
        environment = services.environment_create(actor=request.user, **form.cleaned_data)
        return Response(
            s.EnvironmentOutput(environment).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:environment-detail", args=[environment.name])},
        )


class EnvironmentDetailApi(generics.RetrieveAPIView):
    serializer_class = s.EnvironmentOutput
    queryset = Environment.objects.select_related("deployed_plan")
    lookup_field = "name"


class EnvironmentPlanApi(APIView):
    """The environment's current plan (the newest version); PUT records a new version and
    redeploys the state machine (plan_update), refused while a cutover runs."""

    write_roles = ENGINEER

    def _current(self, environment: Environment) -> CutoverPlan:
        plan = environment.plans.select_related("environment", "created_by").order_by("-version").first()
        if plan is None:
            from rest_framework.exceptions import NotFound

            raise NotFound(f"Environment {environment.name} has no plan.")
        return plan

    @extend_schema(responses={200: s.PlanOutput, **READ_ERRORS})
    def get(self, request, name: str):
        environment = get_object_or_404(Environment, name=name)
        return Response(s.PlanOutput(self._current(environment)).data)

    @extend_schema(request=s.PlanUpdateInput, responses={200: s.PlanOutput, **WRITE_ERRORS})
    def put(self, request, name: str):
        environment = get_object_or_404(Environment, name=name)
        data = parse(s.PlanUpdateInput, request)
        row = services.plan_update(environment=environment, actor=request.user, plan=data["plan"])
        row = CutoverPlan.objects.select_related("environment", "created_by").get(pk=row.pk)
        return Response(s.PlanOutput(row).data)


class PlanListApi(generics.ListAPIView):
    serializer_class = s.PlanOutput
    filterset_class = filters.PlanFilter
    queryset = CutoverPlan.objects.select_related("environment", "created_by").order_by("environment__name", "-version")


class PlanDetailApi(generics.RetrieveAPIView):
    serializer_class = s.PlanOutput
    queryset = CutoverPlan.objects.select_related("environment", "created_by")


# --- deployments -----------------------------------------------------------------------------------

_deployments = Deployment.objects.select_related("environment", "requested_by").prefetch_related("stacks__confirmed_by")


class DeploymentListCreateApi(generics.ListAPIView):
    write_roles = ENGINEER
    serializer_class = s.DeploymentOutput
    filterset_class = filters.DeploymentFilter
    queryset = _deployments.order_by("-created_at")

    @extend_schema(request=s.DeploymentCreateInput, responses={201: s.DeploymentOutput, **WRITE_ERRORS})
    def post(self, request):
        data = parse(s.DeploymentCreateInput, request)
        environment = environment_by_name(data["environment"])
        deployment = deployments.deployment_start(
            environment=environment, actor=request.user, stack_keys=data.get("stacks")
        )
        return Response(
            s.DeploymentOutput(_deployments.get(pk=deployment.pk)).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:deployment-detail", args=[deployment.pk])},
        )


class DeploymentDetailApi(generics.RetrieveAPIView):
    serializer_class = s.DeploymentOutput
    queryset = _deployments


class DeploymentStackConfirmApi(APIView):
    """Execute the change set of one stack, after reading its changes (stack_deployment_confirm)."""

    write_roles = ENGINEER

    @extend_schema(request=s.EmptyInput, responses={200: s.StackDeploymentOutput, **WRITE_ERRORS})
    def post(self, request, pk: int, stack_key: str):
        parse(s.EmptyInput, request)
        stack = get_object_or_404(
            StackDeployment.objects.select_related("deployment__environment"), deployment_id=pk, stack_key=stack_key
        )
        stack = deployments.stack_deployment_confirm(stack=stack, actor=request.user)
        return Response(s.StackDeploymentOutput(StackDeployment.objects.get(pk=stack.pk)).data)


class DeploymentCancelApi(APIView):
    write_roles = ENGINEER

    @extend_schema(request=s.DeploymentCancelInput, responses={200: s.DeploymentOutput, **WRITE_ERRORS})
    def post(self, request, pk: int):
        data = parse(s.DeploymentCancelInput, request)
        deployment = get_object_or_404(Deployment.objects.select_related("environment"), pk=pk)
        deployments.deployment_cancel(deployment=deployment, actor=request.user, reason=data["reason"])
        return Response(s.DeploymentOutput(_deployments.get(pk=pk)).data)


# --- executions ------------------------------------------------------------------------------------

_executions = Execution.objects.select_related("environment", "started_by", "stop_requested_by")


class ExecutionListStartApi(generics.ListAPIView):
    write_roles = ENGINEER
    serializer_class = s.ExecutionOutput
    filterset_class = filters.ExecutionFilter
    queryset = _executions.order_by("-created_at")

    @extend_schema(
        request=s.ExecutionStartInput,
        responses={201: s.ExecutionOutput, **WRITE_ERRORS},
        summary="Start a cutover of an environment",
    )
    def post(self, request):
        data = parse(s.ExecutionStartInput, request)
        environment = environment_by_name(data["environment"])
        execution = services.execution_start(environment=environment, actor=request.user)
        return Response(
            s.ExecutionOutput(_executions.get(pk=execution.pk)).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:execution-detail", args=[execution.pk])},
        )


class ExecutionDetailApi(generics.RetrieveAPIView):
    serializer_class = s.ExecutionOutput
    queryset = _executions


class ExecutionStopApi(APIView):
    write_roles = ENGINEER

    @extend_schema(request=s.ReasonInput, responses={200: s.ExecutionOutput, **WRITE_ERRORS})
    def post(self, request, pk: int):
        data = parse(s.ReasonInput, request)
        execution = get_object_or_404(Execution, pk=pk)
        services.execution_stop(execution=execution, actor=request.user, reason=data["reason"])
        return Response(s.ExecutionOutput(_executions.get(pk=pk)).data)


class ExecutionTimelineApi(generics.ListAPIView):
    """Every audit row about the execution and its gates, oldest first (the page's audit trail)."""

    serializer_class = s.AuditEventOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AuditEvent.objects.none()
        execution = get_object_or_404(Execution, pk=self.kwargs["pk"])
        return selectors.execution_audit_trail(execution=execution).select_related("actor")


# --- gates -----------------------------------------------------------------------------------------


class GateListApi(generics.ListAPIView):
    serializer_class = s.GateOutput
    filterset_class = filters.GateFilter
    queryset = Gate.objects.select_related("execution__environment", "execution__started_by").order_by("-arrived_at")


def _gate_detail(pk: int) -> Gate:
    return (
        Gate.objects.select_related("execution__environment", "execution__started_by", "delivery")
        .prefetch_related("checks", "approvals__approver")
        .get(pk=pk)
    )


def _gate_response(gate: Gate, code: int = 200) -> Response:
    data = s.GateDetailOutput(gate).data
    return Response(data, status=code, headers={"ETag": data["etag"], "Cache-Control": "no-cache"})


class GateDetailApi(APIView):
    """A gate with its evidence and approvals. The ETag header (also ``etag`` in the body)
    changes when the gate's state, approvals or evidence change; send it back in If-Match to
    decide."""

    @extend_schema(
        responses={
            200: s.GateDetailOutput,
            304: OpenApiResponse(description="Not modified (If-None-Match)"),
            **READ_ERRORS,
        },
        parameters=[OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False)],
    )
    def get(self, request, pk: int):
        gate = get_object_or_404(Gate, pk=pk)
        gate = _gate_detail(gate.pk)
        etag = gate_etag(gate)
        if etag in if_match_values(request.headers.get("If-None-Match", "")):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return _gate_response(gate)


IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="The gate's ETag as last read. Missing: 428. Stale: 412.",
)


class _GateDecisionApi(APIView):
    write_roles = APPROVER

    def decide(self, request, pk: int, decision) -> Response:
        header = request.headers.get("If-Match", "")
        if not header.strip():
            raise PreconditionRequired()
        tags = if_match_values(header)
        if "*" in tags:
            raise PreconditionRequired("If-Match: * does not say which evidence you read; send the gate's ETag.")
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None and not api_token_may_decide(token=token):
            raise FreshSignInRequired(
                f"Deciding a gate through the API needs a token created within "
                f"{_minutes()} minutes of an IdP sign-in, and used within that window: sign in again and "
                "create a new token on your profile page."
            )
        with transaction.atomic():
            gate = get_object_or_404(Gate.objects.select_for_update(), pk=pk)
            # Hold the evidence still while comparing: a collector writing new checks waits.
            list(GateCheck.objects.select_for_update().filter(gate=gate).values_list("pk", flat=True))
            if gate_etag(gate) not in tags and gate.is_open:
                raise PreconditionFailed()
            # A gate decided meanwhile: the service refuses it with its own message (409).
            decision(gate)
        return _gate_response(_gate_detail(pk))


def _minutes() -> int:
    from django.conf import settings

    return settings.APPROVAL_FRESH_AUTH_SECONDS // 60


DECISION_ERRORS = errors(400, 401, 403, 404, 409, 412, 428)


class GateApproveApi(_GateDecisionApi):
    @extend_schema(
        request=s.GateApproveInput,
        responses={200: s.GateDetailOutput, **DECISION_ERRORS},
        parameters=[IF_MATCH],
        summary="Approve a gate (four-eyes, fresh sign-in, evidence unchanged)",
    )
    def post(self, request, pk: int):
        data = parse(s.GateApproveInput, request)
        return self.decide(
            request,
            pk,
            lambda gate: services.gate_approve(
                gate=gate, actor=request.user, comment=data["comment"], override_reason=data["override_reason"]
            ),
        )


class GateOverrideApi(_GateDecisionApi):
    @extend_schema(
        request=s.GateOverrideInput,
        responses={200: s.GateDetailOutput, **DECISION_ERRORS},
        parameters=[IF_MATCH],
        summary="Approve a gate although hard checks fail, with a reason (needs a second approver)",
    )
    def post(self, request, pk: int):
        data = parse(s.GateOverrideInput, request)
        return self.decide(
            request,
            pk,
            lambda gate: services.gate_approve(
                gate=gate, actor=request.user, comment=data["comment"], override_reason=data["reason"]
            ),
        )


class GateRejectApi(_GateDecisionApi):
    @extend_schema(
        request=s.ReasonInput,
        responses={200: s.GateDetailOutput, **DECISION_ERRORS},
        parameters=[IF_MATCH],
        summary="Reject a gate with a reason: the cutover rolls back to the last approved step",
    )
    def post(self, request, pk: int):
        data = parse(s.ReasonInput, request)
        return self.decide(
            request, pk, lambda gate: services.gate_reject(gate=gate, actor=request.user, reason=data["reason"])
        )


class GateEvidenceRefreshApi(APIView):
    """Ask for fresh evidence now; a worker collects it (the ETag changes if it differs)."""

    write_roles = ANY_ROLE

    @extend_schema(
        request=s.EmptyInput,
        responses={202: inline_serializer("EvidenceRequested", {"detail": serializers.CharField()}), **WRITE_ERRORS},
    )
    def post(self, request, pk: int):
        parse(s.EmptyInput, request)
        gate = get_object_or_404(Gate, pk=pk)
        services.gate_evidence_request(gate=gate)
        return Response({"detail": "Collecting fresh evidence."}, status=status.HTTP_202_ACCEPTED)


# --- reconciliation --------------------------------------------------------------------------------


class ReconciliationRunListApi(generics.ListAPIView):
    serializer_class = s.ReconciliationRunOutput
    filterset_class = filters.ReconciliationRunFilter
    queryset = ReconciliationRun.objects.select_related("environment").order_by("-window_start", "id")


class ReconciliationRunDetailApi(generics.RetrieveAPIView):
    serializer_class = s.ReconciliationRunOutput
    queryset = ReconciliationRun.objects.select_related("environment")


class WindowCountListApi(generics.ListAPIView):
    serializer_class = s.WindowCountOutput
    filterset_class = filters.WindowCountFilter
    queryset = WindowCount.objects.select_related("environment").order_by("window_start", "region", "id")


class FindingListApi(generics.ListAPIView):
    serializer_class = s.FindingOutput
    filterset_class = filters.FindingFilter
    queryset = Finding.objects.select_related("environment", "acknowledged_by", "resolved_by").order_by(
        "-detected_at", "-id"
    )


class FindingDetailApi(generics.RetrieveAPIView):
    serializer_class = s.FindingOutput
    queryset = FindingListApi.queryset


class _FindingActionApi(APIView):
    # The service decides who may; this only keeps auditors and outsiders from reaching it.
    write_roles = (Role.ENGINEER, Role.APPROVER)
    service = None

    @extend_schema(request=s.FindingNoteInput, responses={200: s.FindingOutput, **WRITE_ERRORS})
    def post(self, request, pk: int):
        data = parse(s.FindingNoteInput, request)
        finding = get_object_or_404(Finding, pk=pk)
        type(self).service(finding=finding, actor=request.user, note=data["note"])
        return Response(s.FindingOutput(FindingListApi.queryset.get(pk=pk)).data)


class FindingAcknowledgeApi(_FindingActionApi):
    service = reconciliation_services.finding_acknowledge


class FindingResolveApi(_FindingActionApi):
    service = reconciliation_services.finding_resolve


# --- audit -----------------------------------------------------------------------------------------


class AuditEventListApi(generics.ListAPIView):
    """The audit trail, newest first; filter by time range, actor, event type, object, environment."""

    serializer_class = s.AuditEventOutput
    filterset_class = filters.AuditEventFilter
    queryset = AuditEvent.objects.select_related("actor").order_by("-id")


class AuditEventDetailApi(generics.RetrieveAPIView):
    serializer_class = s.AuditEventOutput
    queryset = AuditEvent.objects.select_related("actor")


# --- report packs ----------------------------------------------------------------------------------


def _report_pack(uid) -> ReportPack:
    try:
        return report_pack_get(uid=uid)
    except ReportPack.DoesNotExist:
        raise exceptions.NotFound("No such report pack.") from None


class ReportPackListRequestApi(generics.ListAPIView):
    """Every report pack, newest first (auditors and approvers see all of them, as on /reports/);
    POST requests a new one, built by a worker: poll its detail until ``status`` is ready."""

    read_roles = PACK_ROLES
    write_roles = reports.REQUEST_ROLES
    serializer_class = s.ReportPackOutput
    filterset_class = filters.ReportPackFilter

    def get_queryset(self):
        return report_pack_list(limit=None)

    @extend_schema(
        request=s.ReportPackRequestInput,
        responses={202: s.ReportPackOutput, **WRITE_ERRORS},
        summary="Request a report pack for a period (built in the background)",
    )
    def post(self, request):
        data = parse(s.ReportPackRequestInput, request)
        environment = environment_by_name(data["environment"])
        try:
            pack = reports.report_pack_request(
                actor=request.user,
                environment=environment,
                period_start=data["period_start"],
                period_end=data["period_end"],
                region=data["region"],
                subjects=data["subjects"],
            )
        except reports.ReportPackForbidden as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        except reports.ReportPackError as exc:
            raise serializers.ValidationError({exc.field or "non_field_errors": [str(exc)]}) from None
        return Response(
            s.ReportPackOutput(_report_pack(pack.uid)).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("api:report-pack-detail", args=[pack.uid])},
        )


class ReportPackDetailApi(APIView):
    """One pack: what was asked, and the build's progress (status, progress %, stage, error)."""

    read_roles = PACK_ROLES

    @extend_schema(responses={200: s.ReportPackOutput, **READ_ERRORS})
    def get(self, request, uid):
        return Response(s.ReportPackOutput(_report_pack(uid)).data)


class ReportPackDownloadApi(APIView):
    """The pack's ZIP, streamed, with its SHA-256 in ``X-Content-SHA256``. Every download (and
    every attempt on a lost file) is an AuditEvent, as on the page."""

    read_roles = PACK_ROLES

    def perform_content_negotiation(self, request, force=False):
        # The body is a ZIP whatever the client accepts; errors are the API's JSON body.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The signed ZIP; header X-Content-SHA256 holds its SHA-256."
            ),
            **errors(401, 403, 404, 409, 410),
        },
        summary="Download a ready pack (409 while it builds, 410 if it failed or its file is gone)",
    )
    def get(self, request, uid):
        pack = _report_pack(uid)
        try:
            download = reports.report_pack_download(pack=pack, actor=request.user)
        except reports.ReportPackForbidden as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        except reports.ReportPackError as exc:
            raise (Conflict if pack.is_pending else Gone)(str(exc)) from None
        response = FileResponse(
            download.stream, as_attachment=True, filename=download.filename, content_type="application/zip"
        )
        response["X-Content-SHA256"] = download.sha256
        return response


# --- telemetry -------------------------------------------------------------------------------------


class EnvironmentTelemetryApi(APIView):
    """The newest telemetry snapshot the collector stored (never AWS), with its age and whether
    it is stale, as the dashboard computes them."""

    @extend_schema(responses={200: s.TelemetryOutput, **READ_ERRORS})
    def get(self, request, name: str):
        environment = get_object_or_404(Environment, name=name)
        now = timezone.now()
        fresh = dashboard_selectors.freshness(environment=environment, now=now)
        data = {
            "environment": environment.name,
            "now": now,
            "stale": fresh.stale,
            "age_seconds": fresh.age_seconds,
            "age": fresh.age_text,
            "stale_after_seconds": fresh.limit_seconds,
            "interval_seconds": fresh.interval_seconds,
            "snapshot": fresh.snapshot,
        }
        return Response(s.TelemetryOutput(data).data, headers={"Cache-Control": "no-cache"})
