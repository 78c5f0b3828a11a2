from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from controlplane.aws import AwsTarget


class Environment(models.Model):
    """An AWS account (or the sandbox) with the two regions the cutover moves between."""

    class Kind(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (moto)"
        AWS = "aws", "AWS account"

    # Every physical name derives from it; S3 bucket names (63 characters) set the limit:
    # <name>-documents-<region>-<account id>.
    name = models.CharField(
        max_length=24,
        unique=True,
        validators=[
            RegexValidator(r"^[a-z][a-z0-9-]*$", "Use lowercase letters, digits and hyphens, starting with a letter.")
        ],
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SANDBOX)
    source_region = models.CharField(max_length=32, default="us-east-1")
    target_region = models.CharField(max_length=32, default="eu-central-1")
    aws_endpoint_url = models.URLField(blank=True, help_text="Endpoint override (the sandbox); blank for AWS.")
    approval_role_arn = models.CharField(
        max_length=2048, blank=True, help_text="Role assumed with SourceIdentity = the approver to resume executions."
    )
    hosted_zone_name = models.CharField(max_length=255)
    hosted_zone_id = models.CharField(max_length=64, blank=True)
    record_name = models.CharField(max_length=255)
    record_ttl = models.PositiveIntegerField(default=60)
    # Record values of the weighted records: the regions' API domains, from the regional stacks.
    source_endpoint = models.CharField(max_length=255, blank=True, help_text="Record value for the source region.")
    target_endpoint = models.CharField(max_length=255, blank=True, help_text="Record value for the target region.")
    state_machine_arn = models.CharField(max_length=2048, blank=True)
    gate_queue_url = models.CharField(max_length=2048, blank=True)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    # The plan the deployed state machine was generated from.
    deployed_plan = models.ForeignKey("CutoverPlan", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    control_plane_principal_arn = models.CharField(
        max_length=2048, blank=True, help_text="Principal allowed to assume the approval role (blank: the account)."
    )
    # Snapshot of the document buckets' replication gap, taken by a Celery job (never on page load).
    s3_missing_objects = models.IntegerField(null=True, blank=True)
    s3_surveyed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def home_region(self) -> str:
        """Where the state machine, its gate queue and the SSM records live."""
        return self.source_region

    def aws_target(self, region: str | None = None) -> AwsTarget:
        return AwsTarget(region=region or self.home_region, endpoint_url=self.aws_endpoint_url or None)

    @property
    def is_provisioned(self) -> bool:
        return bool(self.state_machine_arn and self.gate_queue_url and self.hosted_zone_id)

    def ssm_prefix(self) -> str:
        return f"/cutover/{self.name}"

    def region_for(self, role: str) -> str:
        return {"source": self.source_region, "target": self.target_region}[role]

    def peer_of(self, region: str) -> str:
        return self.target_region if region == self.source_region else self.source_region


class Execution(models.Model):
    """One run of the cutover state machine."""

    class Status(models.TextChoices):
        STARTING = "STARTING", "Starting"
        RUNNING = "RUNNING", "Running"
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"
        TIMED_OUT = "TIMED_OUT", "Timed out"
        ABORTED = "ABORTED", "Stopped"
        START_FAILED = "START_FAILED", "Could not start"

    ACTIVE = (Status.STARTING, Status.RUNNING)

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="executions")
    name = models.CharField(max_length=80, unique=True)
    arn = models.CharField(max_length=2048, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STARTING)
    plan = models.JSONField(default=dict, help_text="The plan (version, steps, window) the execution runs.")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=256, blank=True)
    cause = models.TextField(blank=True)
    stop_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stop_reason = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class Gate(models.Model):
    """A Step Functions task waiting for a decision (a task token), one per state entry."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"

    execution = models.ForeignKey(Execution, on_delete=models.PROTECT, related_name="gates")
    state_name = models.CharField(max_length=80)
    # Distinguishes a second entry into the same state (a retried or looped gate).
    entered_at = models.CharField(max_length=64)
    KIND_STEP, KIND_CLOSE = "step", "close_window"
    kind = models.CharField(max_length=16, default=KIND_STEP, help_text="A weight step, or the window's close gate.")
    step = models.PositiveIntegerField()
    target_weights = models.JSONField(default=dict)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    ssm_parameter = models.CharField(max_length=2048, blank=True)
    # Bearer credential: never rendered, logged, put in a URL or e-mailed.
    task_token = models.TextField(editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITING)
    arrived_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    expired_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-arrived_at"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "state_name", "entered_at"], name="gate_unique_state_entry")
        ]

    def __str__(self) -> str:
        return f"{self.execution.name} / {self.state_name}"

    def __repr__(self) -> str:  # never include the token
        return f"<Gate {self.pk} {self.state_name} {self.status}>"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.WAITING

    @property
    def target_share(self) -> int | None:
        """The percentage of traffic this gate sends to the target (EU) region."""
        return self.target_weights.get(self.execution.environment.target_region)


class Approval(models.Model):
    """One person's decision on a gate, with the IdP identity it was made under."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    gate = models.ForeignKey(Gate, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True)
    identity = models.JSONField(help_text="IdP issuer, subject, e-mail and sign-in time at the moment of deciding.")
    override = models.BooleanField(default=False, help_text="Approved although a hard check failed.")
    override_reason = models.TextField(blank=True)
    evidence = models.JSONField(default=list, blank=True, help_text="The checks as the approver saw them.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["gate", "approver"], name="approval_one_per_person")]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.identity.get('email') or self.approver_id}"


class GateDelivery(models.Model):
    """Outbox row: the decision still to be sent to Step Functions. Committed with the Approval."""

    class Kind(models.TextChoices):
        SUCCESS = "success", "SendTaskSuccess"
        FAILURE = "failure", "SendTaskFailure"

    class Status(models.TextChoices):
        PENDING = "pending", "Delivering"
        DELIVERED = "delivered", "Delivered"
        GONE = "gone", "Token no longer valid"
        FAILED = "failed", "Failed: needs attention"

    gate = models.OneToOneField(Gate, on_delete=models.PROTECT, related_name="delivery")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker owns the attempt until then.")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="After a transient error: when the next attempt is due (backoff)."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for gate {self.gate_id}: {self.status}"


class Deployment(models.Model):
    """One deploy of an environment's stacks, in bootstrap order, through change sets."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        AWAITING_CONFIRMATION = "awaiting_confirmation", "Waiting for confirmation"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.RUNNING, Status.AWAITING_CONFIRMATION)

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="deployments")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    auto_confirm = models.BooleanField(
        default=False, help_text="Execute each change set without a person confirming it."
    )
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_advanced_at = models.DateTimeField(null=True, blank=True)
    advance_lease_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"deployment {self.pk} of {self.environment.name}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class StackDeployment(models.Model):
    """One stack of a deployment: its change set, the changes shown, the outcome and outputs."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CREATING_CHANGE_SET = "creating_change_set", "Creating change set"
        AWAITING_CONFIRMATION = "awaiting_confirmation", "Waiting for confirmation"
        EXECUTING = "executing", "Executing"
        COMPLETE = "complete", "Complete"
        NO_CHANGES = "no_changes", "No changes"
        FAILED = "failed", "Failed"
        NOT_RUN = "not_run", "Not run"

    DONE = (Status.COMPLETE, Status.NO_CHANGES)

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="stacks")
    order = models.PositiveSmallIntegerField()
    stack_key = models.CharField(max_length=64)
    template = models.CharField(max_length=128)
    region = models.CharField(max_length=32)
    stack_name = models.CharField(max_length=128)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING)
    change_set_id = models.CharField(max_length=2048, blank=True)
    change_set_type = models.CharField(max_length=16, blank=True)
    template_sha256 = models.CharField(max_length=64, blank=True)
    parameters = models.JSONField(default=dict)
    changes = models.JSONField(default=list)
    outputs = models.JSONField(default=dict)
    status_reason = models.TextField(blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment", "order"]
        constraints = [models.UniqueConstraint(fields=["deployment", "stack_key"], name="stackdeployment_unique_key")]

    def __str__(self) -> str:
        return f"{self.stack_name} ({self.region})"

    @property
    def is_done(self) -> bool:
        return self.status in self.DONE


class GateCheck(models.Model):
    """One piece of evidence on a gate, as last collected from AWS (never fetched on page load)."""

    class Verdict(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"
        UNKNOWN = "unknown", "Unknown"

    gate = models.ForeignKey(Gate, on_delete=models.PROTECT, related_name="checks")
    key = models.CharField(max_length=64)
    label = models.CharField(max_length=128)
    hard = models.BooleanField(default=True, help_text="A failed hard check blocks approval unless overridden.")
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.UNKNOWN)
    value = models.CharField(max_length=512, blank=True, help_text="What was measured, in words and numbers.")
    detail = models.JSONField(default=dict, blank=True)
    observed_at = models.DateTimeField(null=True, blank=True, help_text="When the measured fact was true.")
    collected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["gate", "key"]
        constraints = [models.UniqueConstraint(fields=["gate", "key"], name="gatecheck_one_per_key")]

    def __str__(self) -> str:
        return f"{self.label}: {self.verdict}"

    @property
    def blocks(self) -> bool:
        return self.hard and self.verdict != self.Verdict.PASS


class CutoverPlan(models.Model):
    """The steps of a cutover: target EU weight, soak, approvers; then the post-cutover window
    and its close gate. Versioned: a change is a new row and a redeploy of the state machine."""

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="plans")
    version = models.PositiveIntegerField()
    # [{"target_weight": 10, "soak_seconds": 600, "required_approvals": 1}, ...], ending at 100.
    steps = models.JSONField()
    window_seconds = models.PositiveIntegerField(help_text="The post-cutover window after 100 %.")
    close_required_approvals = models.PositiveSmallIntegerField(default=2)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["environment", "-version"]
        constraints = [models.UniqueConstraint(fields=["environment", "version"], name="plan_unique_version")]

    def __str__(self) -> str:
        return f"plan v{self.version} of {self.environment.name}: {' → '.join(str(s['target_weight']) for s in self.steps)} %"


class Alert(models.Model):
    """Something a person must look at. Raised once per subject, kind and level (a second,
    higher level is the escalation); shown as a banner until resolved."""

    class Level(models.TextChoices):
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=64)
    level = models.CharField(max_length=16, choices=Level.choices)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    message = models.CharField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)
    notified = models.JSONField(default=dict, blank=True, help_text="What was sent: e-mail recipients, SNS message id.")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "level", "subject_type", "subject_id"], name="alert_once_per_threshold"
            )
        ]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"


class TelemetrySnapshot(models.Model):
    """What AWS said about an environment at one moment, collected by a Celery beat job.

    The dashboard reads only these rows (and TelemetryPoint), never AWS. One row per
    environment per collection slot (``slot`` = the Unix time divided by the interval): the
    row is claimed before AWS is read, so two beat ticks or two workers cannot collect the
    same slot twice. Each source (CloudWatch, Route 53, SQS, ...) records its own status and
    error: one failing source does not stop the others.
    """

    class Status(models.TextChoices):
        COLLECTING = "collecting", "Collecting"
        COMPLETE = "complete", "Complete"
        PARTIAL = "partial", "Some sources failed"
        FAILED = "failed", "Every source failed"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="telemetry_snapshots")
    slot = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COLLECTING)
    started_at = models.DateTimeField(default=timezone.now)
    collected_at = models.DateTimeField(null=True, blank=True, help_text="When every source had answered.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # {"route53_weights": {"status": "ok"|"error"|"unavailable", "error": "...", "duration_ms": 12}, ...}
    sources = models.JSONField(default=dict, blank=True)
    # {"route53_weights": {...}, "dlq_depths": [...], ...}: what each source read, JSON-safe.
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["environment", "slot"], name="telemetry_one_per_slot")]
        indexes = [models.Index(fields=["environment", "-collected_at"], name="telemetry_latest")]

    def __str__(self) -> str:
        return f"telemetry of {self.environment_id} at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.status}"

    def age_seconds(self, now=None) -> float | None:
        if self.collected_at is None:
            return None
        return max(0.0, ((now or timezone.now()) - self.collected_at).total_seconds())

    def is_stale(self, now=None) -> bool:
        """Older than ``TELEMETRY_STALE_FACTOR`` intervals: shown as stale, not as current."""
        age = self.age_seconds(now)
        limit = settings.TELEMETRY_INTERVAL_SECONDS * settings.TELEMETRY_STALE_FACTOR
        return age is None or age > limit

    @property
    def failed_sources(self) -> dict[str, dict]:
        return {k: v for k, v in self.sources.items() if v.get("status") != "ok"}


class TelemetryPoint(models.Model):
    """One value of a time series the dashboard charts (replication latency per direction,
    invocations per region, Route 53 weight per region), upserted by the collector.

    Kept apart from the snapshots so a chart over hours reads a few hundred small rows,
    not hundreds of snapshot payloads.
    """

    class Metric(models.TextChoices):
        REPLICATION_LATENCY = "replication_latency", "Replication latency (ms)"
        TRANSACTIONS = "transactions_per_minute", "Transactions per minute"
        ERRORS = "errors_per_minute", "Errors per minute"
        ROUTE53_WEIGHT = "route53_weight", "Route 53 weight"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="telemetry_points")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    series = models.CharField(max_length=80, help_text="A region, or 'us-east-1→eu-central-1'.")
    at = models.DateTimeField()
    average = models.FloatField(null=True, blank=True)
    maximum = models.FloatField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["environment", "metric", "series", "at"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "metric", "series", "at"], name="telemetry_point_once")
        ]
        indexes = [models.Index(fields=["environment", "metric", "at"], name="telemetry_point_range")]

    def __str__(self) -> str:
        return f"{self.metric} {self.series} {self.at:%H:%M}"
