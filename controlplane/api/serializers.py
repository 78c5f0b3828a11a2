"""Input and output shapes of the API. Inputs are strict: an unknown field, or a value of the
wrong JSON type, is a 400 (a typo in a pipeline must not be silently ignored)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.models import AuditEvent, ReportPack
from controlplane.accounts.models import User
from migrations_app import statemachine
from migrations_app.models import (
    Approval,
    CutoverPlan,
    Deployment,
    Environment,
    Execution,
    Gate,
    GateCheck,
    GateDelivery,
    StackDeployment,
    TelemetrySnapshot,
)
from reconciliation.models import Finding, ReconciliationRun, WindowCount

# --- strict input -------------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        k: [f"Unknown field; this request takes {', '.join(self.fields) or 'no fields'}."]
                        for k in unknown
                    }
                )
        return super().to_internal_value(data)


class TextField(serializers.CharField):
    """A JSON string, not a number or a boolean turned into one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class WholeNumberField(serializers.IntegerField):
    """A JSON integer, not "10" or 10.5 or true."""

    default_error_messages = {"invalid": "A whole number (JSON integer) is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "true or false (JSON boolean) is required."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class EmptyInput(StrictSerializer):
    """An action that takes no fields (an empty body or {})."""


class EnvironmentCreateInput(StrictSerializer):
    """The fields of the page's form, validated by that same form."""

    name = TextField(max_length=24)
    kind = serializers.ChoiceField(choices=Environment.Kind.choices)
    source_region = TextField(required=False, default="us-east-1")
    target_region = TextField(required=False, default="eu-central-1")
    aws_endpoint_url = TextField(required=False, allow_blank=True, default="")
    hosted_zone_name = TextField()
    record_name = TextField()
    create_hosted_zone = StrictBooleanField(required=False, default=False)
    control_plane_principal_arn = TextField(required=False, allow_blank=True, default="")


class PlanStepInput(StrictSerializer):
    target_weight = WholeNumberField(help_text="Percent of traffic to the target region, 0..100.")
    required_approvals = WholeNumberField(required=False, default=1)
    soak_seconds = WholeNumberField(required=False, default=0)


class PlanUpdateInput(StrictSerializer):
    steps = PlanStepInput(many=True, allow_empty=False)
    window_seconds = WholeNumberField()
    close_required_approvals = WholeNumberField(required=False, default=2)

    def validate(self, data):
        plan = statemachine.Plan(
            steps=[statemachine.PlanStep(**step) for step in data["steps"]],
            window_seconds=data["window_seconds"],
            close_required_approvals=data["close_required_approvals"],
        )
        try:  # the state machine builder's own rules, not a copy of them
            statemachine.plan_validate(plan)
        except statemachine.PlanInvalid as exc:
            raise serializers.ValidationError({"steps": [f"The plan is not valid: {exc}."]}) from None
        data["plan"] = plan
        return data


class DeploymentCreateInput(StrictSerializer):
    environment = TextField(help_text="Environment name.")
    stacks = serializers.ListField(
        child=TextField(),
        required=False,
        allow_empty=False,
        help_text="Stack keys; all, in bootstrap order, if absent.",
    )


class ReasonInput(StrictSerializer):
    reason = TextField(max_length=2000, help_text="Required, not blank.")


class DeploymentCancelInput(StrictSerializer):
    reason = TextField(max_length=2000, required=False, allow_blank=True, default="")


class ExecutionStartInput(StrictSerializer):
    environment = TextField(help_text="Environment name.")


class GateApproveInput(StrictSerializer):
    comment = TextField(max_length=2000, required=False, allow_blank=True, default="")
    override_reason = TextField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Needed when a hard check fails; an overridden gate needs a second approver.",
    )


class GateOverrideInput(StrictSerializer):
    reason = TextField(max_length=2000, help_text="Why the failed checks are acceptable. Required.")
    comment = TextField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_reason(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("An override needs a reason.")
        return value


class FindingNoteInput(StrictSerializer):
    note = TextField(max_length=4000, help_text="What was found or done. Required.")


class UtcDateTimeInput(serializers.DateTimeField):
    """ISO 8601 text; without an offset it is UTC. An offset beyond ±14:00 (PostgreSQL refuses
    them) is a 400, not a server error; so is a time that leaves the calendar in UTC."""

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601 text")
        return super().to_internal_value(value)

    def enforce_timezone(self, value):
        offset = value.utcoffset()
        if offset is not None and abs(offset) > timedelta(hours=14):
            raise serializers.ValidationError("Enter a time zone offset between -14:00 and +14:00.")
        return super().enforce_timezone(value)


class ReportPackRequestInput(StrictSerializer):
    environment = TextField(help_text="Environment name.")
    period_start = UtcDateTimeInput(help_text="Start of the period, inclusive (ISO 8601; no offset: UTC).")
    period_end = UtcDateTimeInput(help_text="End of the period, exclusive; after the start, at most 400 days later.")
    region = TextField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="One of the environment's two regions; blank or absent: both. Needed with subjects.",
    )
    subjects = serializers.ListField(
        child=TextField(allow_blank=True),
        required=False,
        default=list,
        help_text="Data-subject (user) ids whose transactions the region's replica holds; at most 20.",
    )


# --- output ----------------------------------------------------------------------------------


class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(slug_field="username", **kwargs)


class EnvironmentOutput(serializers.ModelSerializer):
    is_provisioned = serializers.BooleanField(read_only=True)
    deployed_plan_version = serializers.IntegerField(source="deployed_plan.version", read_only=True, allow_null=True)

    class Meta:
        model = Environment
        fields = [
            "name",
            "kind",
            "source_region",
            "target_region",
            "aws_endpoint_url",
            "hosted_zone_name",
            "hosted_zone_id",
            "record_name",
            "record_ttl",
            "source_endpoint",
            "target_endpoint",
            "state_machine_arn",
            "is_provisioned",
            "provisioned_at",
            "deployed_plan_version",
            "s3_missing_objects",
            "s3_surveyed_at",
            "created_at",
        ]


class PlanStepOutput(serializers.Serializer):
    target_weight = serializers.IntegerField()
    required_approvals = serializers.IntegerField()
    soak_seconds = serializers.IntegerField()


class PlanOutput(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    steps = PlanStepOutput(many=True)
    created_by = UsernameField(allow_null=True)
    deployed = serializers.SerializerMethodField()

    class Meta:
        model = CutoverPlan
        fields = [
            "id",
            "environment",
            "version",
            "steps",
            "window_seconds",
            "close_required_approvals",
            "created_by",
            "created_at",
            "deployed",
        ]

    def get_deployed(self, obj) -> bool:
        """Whether the environment's state machine runs this version."""
        return obj.environment.deployed_plan_id == obj.pk


class StackDeploymentOutput(serializers.ModelSerializer):
    confirmed_by = UsernameField(allow_null=True)

    class Meta:
        model = StackDeployment
        fields = [
            "id",
            "order",
            "stack_key",
            "template",
            "region",
            "stack_name",
            "status",
            "change_set_id",
            "change_set_type",
            "template_sha256",
            "changes",
            "outputs",
            "status_reason",
            "confirmed_by",
            "started_at",
            "finished_at",
        ]


class DeploymentOutput(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = UsernameField(allow_null=True)
    stacks = StackDeploymentOutput(many=True, read_only=True)

    class Meta:
        model = Deployment
        fields = [
            "id",
            "environment",
            "status",
            "auto_confirm",
            "requested_by",
            "error",
            "created_at",
            "finished_at",
            "stacks",
        ]


class ExecutionOutput(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    started_by = UsernameField()
    stop_requested_by = UsernameField(allow_null=True)

    class Meta:
        model = Execution
        fields = [
            "id",
            "name",
            "environment",
            "arn",
            "status",
            "plan",
            "started_by",
            "created_at",
            "started_at",
            "stopped_at",
            "error",
            "cause",
            "stop_requested_by",
            "stop_reason",
            "last_synced_at",
        ]


class GateCheckOutput(serializers.ModelSerializer):
    blocks = serializers.BooleanField(read_only=True)

    class Meta:
        model = GateCheck
        fields = ["key", "label", "hard", "verdict", "value", "detail", "observed_at", "collected_at", "blocks"]


class ApprovalOutput(serializers.ModelSerializer):
    approver = UsernameField()

    class Meta:
        model = Approval
        fields = ["id", "approver", "decision", "comment", "override", "override_reason", "created_at"]


class DeliveryOutput(serializers.ModelSerializer):
    class Meta:
        model = GateDelivery
        fields = ["kind", "status", "attempts", "last_error", "created_at", "delivered_at"]


class GateOutput(serializers.ModelSerializer):
    """A gate without its task token (a bearer credential that never leaves the database)."""

    execution = serializers.PrimaryKeyRelatedField(read_only=True)
    execution_name = serializers.CharField(source="execution.name", read_only=True)
    environment = serializers.CharField(source="execution.environment.name", read_only=True)
    started_by = serializers.CharField(source="execution.started_by.username", read_only=True)
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = Gate
        fields = [
            "id",
            "execution",
            "execution_name",
            "environment",
            "started_by",
            "state_name",
            "kind",
            "step",
            "target_weights",
            "required_approvals",
            "status",
            "is_open",
            "arrived_at",
            "decided_at",
            "expired_reason",
        ]


class GateDetailOutput(GateOutput):
    checks = serializers.SerializerMethodField()
    approvals = ApprovalOutput(many=True, read_only=True)
    delivery = serializers.SerializerMethodField()
    approvals_needed = serializers.SerializerMethodField()
    etag = serializers.SerializerMethodField()

    class Meta(GateOutput.Meta):
        fields = [*GateOutput.Meta.fields, "approvals_needed", "checks", "approvals", "delivery", "etag"]

    @extend_schema_field(GateCheckOutput(many=True))
    def get_checks(self, gate):
        from migrations_app.checks import checks_registered

        order = {spec.key: i for i, spec in enumerate(checks_registered())}
        checks = sorted(gate.checks.all(), key=lambda c: (order.get(c.key, len(order)), c.key))
        return GateCheckOutput(checks, many=True).data

    @extend_schema_field(DeliveryOutput(allow_null=True))
    def get_delivery(self, gate):
        try:
            return DeliveryOutput(gate.delivery).data
        except GateDelivery.DoesNotExist:
            return None

    def get_approvals_needed(self, gate) -> int:
        """As the page counts: two when an approval overrode or a hard check blocks."""
        approvals = list(gate.approvals.all())
        if any(a.override for a in approvals) or any(c.blocks for c in gate.checks.all()):
            return max(gate.required_approvals, 2)
        return gate.required_approvals

    def get_etag(self, gate) -> str:
        """The value to send back in If-Match when deciding (the same as the ETag header)."""
        from controlplane.api.etag import gate_etag

        return gate_etag(gate)


class AuditEventOutput(serializers.ModelSerializer):
    actor = UsernameField(allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor",
            "actor_name",
            "actor_issuer",
            "actor_subject",
            "event_type",
            "target_type",
            "target_id",
            "target_repr",
            "environment",
            "before",
            "after",
            "outcome",
            "ip",
            "request_id",
            "prev_hash",
            "hash",
        ]


class ReconciliationRunOutput(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "environment",
            "window_start",
            "window_end",
            "region_a",
            "region_b",
            "status",
            "attempt",
            "started_at",
            "finished_at",
            "counts",
            "buckets_compared",
            "buckets_mismatched",
            "keys_read",
            "read_units",
            "error",
        ]


class WindowCountOutput(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = WindowCount
        fields = [
            "id",
            "environment",
            "run",
            "window_start",
            "window_end",
            "region",
            "processed",
            "stored",
            "replicated_in",
            "amount_sum",
            "findings",
            "recorded_at",
        ]


class FindingOutput(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    acknowledged_by = UsernameField(allow_null=True)
    resolved_by = UsernameField(allow_null=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "environment",
            "run",
            "kind",
            "status",
            "window_start",
            "transaction_ids",
            "regions",
            "summary",
            "detail",
            "detected_at",
            "acknowledged_by",
            "acknowledged_at",
            "acknowledgement_note",
            "resolved_by",
            "resolved_at",
            "resolution_note",
        ]


class ReportPackOutput(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = UsernameField()
    download_url = serializers.SerializerMethodField(help_text="Present once the pack is ready.")

    class Meta:
        model = ReportPack
        fields = [
            "uid",
            "environment",
            "period_start",
            "period_end",
            "region",
            "subjects",
            "requested_by",
            "requested_at",
            "status",
            "progress",
            "stage",
            "started_at",
            "finished_at",
            "error",
            "size_bytes",
            "sha256",
            "download_url",
        ]

    @extend_schema_field(OpenApiTypes.STR)
    def get_download_url(self, pack: ReportPack) -> str | None:
        from django.urls import reverse

        return reverse("api:report-pack-download", args=[pack.uid]) if pack.is_ready else None


class TelemetrySnapshotOutput(serializers.ModelSerializer):
    class Meta:
        model = TelemetrySnapshot
        fields = ["id", "status", "started_at", "collected_at", "duration_ms", "sources", "payload"]


class TelemetryOutput(serializers.Serializer):
    """The environment's newest finished snapshot, with its age and whether it is stale,
    computed as the dashboard does (older than TELEMETRY_STALE_FACTOR intervals, or none)."""

    environment = serializers.CharField()
    now = serializers.DateTimeField(help_text="The server's time the age is measured at.")
    stale = serializers.BooleanField(help_text="True when there is no snapshot or it is older than the limit.")
    age_seconds = serializers.FloatField(allow_null=True, help_text="Null when no snapshot was collected yet.")
    age = serializers.CharField(help_text="The age in words, as the dashboard shows it ('never' without one).")
    stale_after_seconds = serializers.FloatField()
    interval_seconds = serializers.FloatField()
    snapshot = TelemetrySnapshotOutput(allow_null=True)


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField(source="display_name")
    email = serializers.EmailField()
    roles = serializers.SerializerMethodField()
    idp_authenticated_at = serializers.DateTimeField(allow_null=True)
    authenticated_by = serializers.SerializerMethodField()
    token_prefix = serializers.SerializerMethodField()
    may_decide_gates_until = serializers.SerializerMethodField()

    def get_roles(self, user: User) -> list[str]:
        return sorted(user.roles)

    def _token(self):
        from controlplane.accounts.models import ApiToken

        auth = self.context["request"].auth
        return auth if isinstance(auth, ApiToken) else None

    def get_authenticated_by(self, user) -> str:
        return "token" if self._token() else "session"

    def get_token_prefix(self, user) -> str | None:
        token = self._token()
        return token.prefix if token else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_may_decide_gates_until(self, user):
        """Until when a gate decision is allowed by the fresh sign-in rule (null: not now)."""
        from datetime import timedelta

        from django.utils import timezone

        token = self._token()
        if token is not None:
            until = token.may_decide_until(settings.APPROVAL_FRESH_AUTH_SECONDS)
        elif user.idp_authenticated_at:
            until = user.idp_authenticated_at + timedelta(seconds=settings.APPROVAL_FRESH_AUTH_SECONDS)
        else:
            until = None
        return until if until and until > timezone.now() else None
