"""Deploying every stack into an empty sandbox through change sets, and what AWS then holds."""

from __future__ import annotations

import shutil
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audit.models import AuditEvent
from controlplane.aws import s3
from controlplane.aws.clients import client
from migrations_app import deployments, rendering, services
from migrations_app.errors import CutoverError
from migrations_app.models import Deployment, StackDeployment
from migrations_app.stacks import BOOTSTRAP_ORDER
from tests.conftest import deploy_all, drive, replication_latency_put, wait_for_gate

pytestmark = pytest.mark.django_db(transaction=True)


def test_deploying_all_stacks_into_an_empty_sandbox(empty_environment, engineer):
    env = empty_environment
    deployment = deploy_all(env, actor=engineer)

    assert deployment.status == Deployment.Status.SUCCEEDED, deployment.error
    stacks = list(deployment.stacks.order_by("order"))
    assert [s.stack_key for s in stacks] == [s.key for s in BOOTSTRAP_ORDER]
    assert all(s.status == StackDeployment.Status.COMPLETE for s in stacks)
    assert all(s.change_set_type == "CREATE" and s.changes for s in stacks)
    env.refresh_from_db()
    assert env.is_provisioned

    # The transactions table in both regions, with its stream.
    for region in (env.source_region, env.target_region):
        table = client("dynamodb", env.aws_target(region)).describe_table(TableName=f"{env.name}-transactions")["Table"]
        assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        index_names = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        assert {"byIdempotencyKey", "byUser", "byTimeBucket"} <= index_names
        # The aggregates consumer reads THIS replica's stream; the Lambdas stamp the windows and
        # buckets the reconciliation reads (settings), not the template's defaults.
        regional = next(s for s in stacks if s.stack_key.startswith("regional-") and s.region == region)
        assert regional.parameters["TransactionsStreamArn"] == table["LatestStreamArn"]
        assert regional.parameters["AggregatesTableName"] == f"{env.name}-aggregates"
        assert (regional.parameters["WindowSeconds"], regional.parameters["Shards"]) == (
            str(settings.RECONCILIATION_WINDOW_SECONDS),
            str(settings.RECONCILIATION_BUCKETS),
        )
        function = client("lambda", env.aws_target(region)).get_function_configuration(
            FunctionName=f"{env.name}-transaction"
        )
        assert str(function["Environment"]["Variables"]["SHARDS"]) == str(settings.RECONCILIATION_BUCKETS)
    # The weighted records, TTL 60, all traffic still in the source region.
    records = client("route53", env.aws_target()).list_resource_record_sets(HostedZoneId=env.hosted_zone_id)
    weighted = {r["SetIdentifier"]: r for r in records["ResourceRecordSets"] if "SetIdentifier" in r}
    assert {k: (r["Weight"], r["TTL"]) for k, r in weighted.items()} == {
        "us-east-1": (100, 60),
        "eu-central-1": (0, 60),
    }
    # Each region's bus has a policy.
    for region in (env.source_region, env.target_region):
        bus = client("events", env.aws_target(region)).describe_event_bus(Name=f"{env.name}-cutover-bus")
        assert "events:PutEvents" in bus.get("Policy", "")
    # The state machine and its gate queue.
    sm = client("stepfunctions", env.aws_target()).describe_state_machine(stateMachineArn=env.state_machine_arn)
    assert '"Gate1"' in sm["definition"] and "${" not in sm["definition"]
    assert client("sqs", env.aws_target()).get_queue_url(QueueName=env.gate_queue_url.rsplit("/", 1)[-1])
    events = list(
        AuditEvent.objects.filter(target_type="migrations_app.deployment").values_list("event_type", flat=True)
    )
    assert events == ["deployment.start", "deployment.succeeded"]


def test_the_deployed_state_machine_runs_a_gate(empty_environment, engineer, approver1):
    env = empty_environment
    assert deploy_all(env).status == Deployment.Status.SUCCEEDED
    env.refresh_from_db()
    replication_latency_put(env)
    execution = services.execution_start(environment=env, actor=engineer)
    gate = wait_for_gate(env, execution)
    assert gate.target_weights == {"us-east-1": 90, "eu-central-1": 10}
    services.gate_approve(gate=gate, actor=approver1)
    second = wait_for_gate(env, execution)  # the next step's gate: the first shift is done
    assert second.step == 2
    records = client("route53", env.aws_target()).list_resource_record_sets(HostedZoneId=env.hosted_zone_id)
    weights = {r["SetIdentifier"]: r["Weight"] for r in records["ResourceRecordSets"] if "SetIdentifier" in r}
    assert weights == {"us-east-1": 90, "eu-central-1": 10}
    # Resumed as the approver: through the approval role the orchestration stack made.
    assert env.approval_role_arn.startswith("arn:aws:iam::")
    assert gate.delivery.status == "delivered"


def test_a_redeploy_with_no_changes_succeeds(empty_environment):
    assert deploy_all(empty_environment).status == Deployment.Status.SUCCEEDED
    again = deploy_all(empty_environment)
    assert again.status == Deployment.Status.SUCCEEDED, again.error
    assert {s.status for s in again.stacks.all()} == {StackDeployment.Status.NO_CHANGES}
    assert all(s.outputs for s in again.stacks.all())


def test_a_redeploy_keeps_the_weights_the_state_machine_set(empty_environment):
    env = empty_environment
    deploy_all(env)
    env.refresh_from_db()
    from controlplane.aws import route53

    route53.weighted_records_upsert(
        target=env.aws_target(),
        hosted_zone_id=env.hosted_zone_id,
        name=env.record_name,
        record_type="CNAME",
        ttl=60,
        records={"us-east-1": (75, env.source_endpoint), "eu-central-1": (25, env.target_endpoint)},
    )
    deployment = deployments.deployment_start(
        environment=env, actor=None, stack_keys=["routing"], auto_confirm=True, enqueue=False
    )
    deployment = drive(deployment)
    assert deployment.status == Deployment.Status.SUCCEEDED
    routing = deployment.stacks.get()
    assert (routing.parameters["SourceWeight"], routing.parameters["TargetWeight"]) == ("75", "25")


def test_the_wrong_order_is_refused_in_plain_words(empty_environment):
    with pytest.raises(CutoverError) as caught:
        deployments.deployment_start(environment=empty_environment, actor=None, stack_keys=["events-target"])
    assert "events-target (eu-central-1) needs events-source deployed first" in str(caught.value)
    assert "bus" in str(caught.value)
    assert not Deployment.objects.exists()


def test_a_template_error_stops_the_chain_and_shows_on_the_page(
    empty_environment, engineer, client, settings, tmp_path, monkeypatch
):
    broken = tmp_path / "infra_templates"
    shutil.copytree(rendering.TEMPLATES_DIR, broken)
    (broken / "storage.yaml").write_text((broken / "storage.yaml").read_text() + "\n  - this: [is not valid\n")
    monkeypatch.setattr(rendering, "TEMPLATES_DIR", broken)

    deployment = deploy_all(empty_environment)

    assert deployment.status == Deployment.Status.FAILED
    failed = deployment.stacks.get(status=StackDeployment.Status.FAILED)
    assert failed.stack_key == "storage-target"
    assert "storage.yaml" in failed.status_reason
    assert set(deployment.stacks.filter(order__gt=failed.order).values_list("status", flat=True)) == {"not_run"}
    client.force_login(engineer)
    page = client.get(reverse("environment-detail", args=[empty_environment.name])).content.decode()
    assert "storage.yaml" in page and "Failed" in page


def test_change_sets_wait_for_a_person_and_show_their_changes(empty_environment, engineer, approver1, client):
    deployment = deployments.deployment_start(environment=empty_environment, actor=engineer, enqueue=False)
    deployment = drive(deployment)
    assert deployment.status == Deployment.Status.AWAITING_CONFIRMATION
    first = deployment.stacks.get(order=0)
    assert first.status == StackDeployment.Status.AWAITING_CONFIRMATION
    assert any(c["resource_type"] == "AWS::Events::EventBus" and c["action"] == "Add" for c in first.changes)

    client.force_login(engineer)
    page = client.get(reverse("environment-detail", args=[empty_environment.name])).content.decode()
    assert "Confirm and execute" in page and "AWS::Events::EventBus" in page

    client.force_login(approver1)
    assert client.post(reverse("stack-confirm", args=[first.pk])).status_code == 403

    client.force_login(engineer)
    client.post(reverse("stack-confirm", args=[first.pk]))
    first.refresh_from_db()
    assert first.status in (StackDeployment.Status.EXECUTING, StackDeployment.Status.COMPLETE)
    assert first.confirmed_by == engineer
    assert AuditEvent.objects.filter(event_type="deployment.confirm", actor=engineer).count() == 1


def test_s3_backfill_copies_what_replication_skipped(empty_environment, engineer):
    env = empty_environment
    deploy_all(env)
    outputs = deployments.outputs_known(environment=env)
    source_bucket = outputs["storage-source"]["DocumentBucketName"]
    for i in range(3):
        s3.object_put(target=env.aws_target(env.source_region), bucket=source_bucket, key=f"docs/{i}.pdf", body=b"%PDF")
    assert services.environment_s3_survey(environment=env) == 3

    env.refresh_from_db()
    services.environment_s3_backfill_request(environment=env, actor=engineer)  # eager Celery runs the copy

    env.refresh_from_db()
    assert env.s3_missing_objects == 0
    target_bucket = outputs["storage-target"]["DocumentBucketName"]
    keys = set(s3.object_keys(target=env.aws_target(env.target_region), bucket=target_bucket))
    assert keys == {"docs/0.pdf", "docs/1.pdf", "docs/2.pdf"}
    assert AuditEvent.objects.get(event_type="s3.backfill_requested").actor == engineer
    assert AuditEvent.objects.get(event_type="s3.backfill_done").after == {"copied": 3, "still_missing": 0}


def test_provision_command_prints_each_stack_and_fails_loudly(sandbox_aws, settings, capsys, tmp_path, monkeypatch):
    settings.SANDBOX_AWS_ENDPOINT = sandbox_aws
    name = f"p{uuid.uuid4().hex[:8]}"
    call_command("provision", name, create_sandbox=True)
    out = capsys.readouterr().out
    for spec in BOOTSTRAP_ORDER:
        assert f"{name}-{spec.key}" in out
    assert f"provisioned {name}" in out

    broken = tmp_path / "infra_templates"
    shutil.copytree(rendering.TEMPLATES_DIR, broken)
    (broken / "routing.yaml").write_text("Resources: [unclosed\n")
    monkeypatch.setattr(rendering, "TEMPLATES_DIR", broken)
    with pytest.raises(CommandError, match="routing"):
        call_command("provision", name, stacks="routing")
