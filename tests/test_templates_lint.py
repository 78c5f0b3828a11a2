"""cfn-lint on every template, and the parameter/output contract the control plane relies on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import decode

from migrations_app.stacks import BOOTSTRAP_ORDER

TEMPLATES = Path(__file__).resolve().parent.parent / "infra_templates"
TEMPLATE_FILES = sorted(TEMPLATES.glob("*.yaml"))
REGIONS = ("us-east-1", "eu-central-1")  # every template is linted for both cutover regions

# What the control plane passes (parameters) and reads (outputs), per template.
CONTRACT = {
    "events.yaml": (
        {"EnvironmentName", "PeerRegion", "PeerAccountId"},
        {"EventBusName", "EventBusArn"},
    ),
    "storage.yaml": (
        {"EnvironmentName", "RegionRole", "PeerRegion", "ReplicaBucketName"},
        {"AggregatesTableName", "DocumentBucketName", "ArtifactsBucketName"},
    ),
    "data.yaml": (
        {"EnvironmentName", "SourceRegion", "TargetRegion"},
        {"TransactionsTableName", "TransactionsTableArn", "TransactionsStreamArn"},
    ),
    "regional.yaml": (
        {
            "EnvironmentName",
            "PeerRegion",
            "PeerAccountId",
            "TransactionsTableName",
            "EventBusName",
            "PeerEventBusArn",
            "ArtifactsBucketName",
            "TransactionCodeKey",
            "WebhookCodeKey",
            "AggregatesCodeKey",
            "AggregatesTableName",
            "TransactionsStreamArn",
            "WindowSeconds",
            "Shards",
            "LambdaRuntime",
        },
        {
            "ApiDomain",
            "ApiEndpoint",
            "TransactionFunctionArn",
            "WebhookFunctionArn",
            "AggregatesFunctionArn",
            "ForwardingDlqUrl",
        },
    ),
    "routing.yaml": (
        {
            "EnvironmentName",
            "HostedZoneId",
            "RecordName",
            "SourceRegion",
            "TargetRegion",
            "SourceApiDomain",
            "TargetApiDomain",
            "SourceWeight",
            "TargetWeight",
        },
        {"DistributionDomainName", "DistributionId", "SourceHealthCheckId", "TargetHealthCheckId"},
    ),
    "orchestration.yaml": (
        {
            "EnvironmentName",
            "SourceRegion",
            "TargetRegion",
            "HostedZoneId",
            "RecordName",
            "ControlPlanePrincipalArn",
            "GateSlaSeconds",
            "ExecutionTimeAlarmSeconds",
        },
        {
            "StateMachineArn",
            "StateMachineName",
            "GateQueueUrl",
            "GateQueueArn",
            "GateDlqUrl",
            "NotificationsTopicArn",
            "ApprovalRoleArn",
            "SsmPrefix",
        },
    ),
}
# Parameters the control plane may leave out.
DEFAULTS = {
    "events.yaml": {"PeerAccountId": ""},
    "storage.yaml": {"ReplicaBucketName": ""},
    "regional.yaml": {
        "PeerAccountId": "",
        "LambdaRuntime": "python3.12",
        "TransactionsStreamArn": "",
        "WindowSeconds": 900,
        "Shards": 2048,
    },
    "routing.yaml": {"SourceWeight": 100, "TargetWeight": 0},
    "orchestration.yaml": {"ControlPlanePrincipalArn": "", "GateSlaSeconds": 3600, "ExecutionTimeAlarmSeconds": 360000},
}


def load(name: str) -> dict:
    template, problems = decode(str(TEMPLATES / name))
    assert template is not None, problems
    return json.loads(json.dumps(template))


def test_cfn_lint_passes_on_every_template_with_no_errors_warnings_or_informational_findings():
    # cfn-lint has no `python -m cfnlint`; run its console entry point with this interpreter,
    # so the test works from any virtualenv that has the requirements installed.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            "--format",
            "parseable",
            "--include-checks",
            "I",
            "--regions",
            *REGIONS,
            "--",
            *map(str, TEMPLATE_FILES),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_every_stack_has_its_template_and_every_template_a_stack():
    assert {spec.template for spec in BOOTSTRAP_ORDER} == {path.name for path in TEMPLATE_FILES}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_parameters_and_outputs_are_the_contract(name):
    template = load(name)
    parameters, outputs = CONTRACT[name]

    assert set(template["Parameters"]) == parameters
    assert set(template["Outputs"]) == outputs
    defaults = {key: body["Default"] for key, body in template["Parameters"].items() if "Default" in body}
    assert defaults == DEFAULTS.get(name, {})


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_environment_name_is_a_short_lowercase_slug(name):
    parameter = load(name)["Parameters"]["EnvironmentName"]
    pattern = re.compile(parameter["AllowedPattern"])

    assert parameter["MaxLength"] == 24  # "<env>-documents-<region>-<account>" must fit S3's 63
    assert pattern.match("t0123456789")
    assert pattern.match("prod-eu")
    for bad in ("Prod", "prod_eu", "-prod", "prod-", ""):
        assert not pattern.match(bad), bad


def test_record_name_pattern_takes_the_normalised_form():
    pattern = re.compile(load("orchestration.yaml")["Parameters"]["RecordName"]["AllowedPattern"])

    assert load("routing.yaml")["Parameters"]["RecordName"]["AllowedPattern"] == pattern.pattern
    assert pattern.match("api.t0123456789.example.com")
    for bad in ("API.example.com", "api.example.com.", "example"):
        assert not pattern.match(bad), bad


def test_the_state_machine_placeholder_is_valid_asl_the_control_plane_replaces():
    resource = load("orchestration.yaml")["Resources"]["StateMachine"]
    definition = json.loads(resource["Properties"]["DefinitionString"])

    assert definition["StartAt"] in definition["States"]
    assert resource["Properties"]["StateMachineType"] == "STANDARD"


def test_both_functions_use_the_packaged_handler_and_their_code_keys():
    resources = load("regional.yaml")["Resources"]

    for logical_id, key in (("TransactionFunction", "TransactionCodeKey"), ("WebhookFunction", "WebhookCodeKey")):
        props = resources[logical_id]["Properties"]
        assert props["Handler"] == "handler.handler"  # infra_templates/lambda/README.md
        assert props["Code"] == {"S3Bucket": {"Ref": "ArtifactsBucketName"}, "S3Key": {"Ref": key}}
        assert {"TABLE_NAME", "EVENT_BUS_NAME"} <= set(props["Environment"]["Variables"])


def test_the_forwarder_role_is_the_one_the_peer_bus_policy_trusts():
    regional = load("regional.yaml")["Resources"]
    events = load("events.yaml")["Resources"]

    role_name = regional["ForwarderRole"]["Properties"]["RoleName"]["Fn::Sub"]
    trusted = events["PeerForwarderPolicy"]["Properties"]["Statement"]["Condition"]["ArnEquals"]["aws:PrincipalArn"]
    assert role_name == "${EnvironmentName}-events-forwarder-${AWS::Region}"
    # The peer's policy names the same role, with the peer region in place of AWS::Region.
    assert trusted["Fn::Sub"][0].endswith(":role/${EnvironmentName}-events-forwarder-${PeerRegion}")
