"""The template policy checks: the shipped templates pass, and each check catches its mistake.

Every broken case copies the templates to a temporary directory, breaks exactly one thing
(a text edit, or a structural edit written back as JSON, which is valid YAML), and expects
exactly one finding: that check's, naming that template and that resource.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cfnlint.decode import decode

from migrations_app import template_policy as tp
from migrations_app.template_policy import Finding, check_template, template_policy_check

TEMPLATES = Path(__file__).resolve().parent.parent / "infra_templates"


def test_the_shipped_templates_have_no_findings():
    findings = template_policy_check()

    assert findings == [], "\n".join(map(str, findings))


def test_every_template_is_checked():
    assert {p.name for p in TEMPLATES.glob("*.yaml")} == {
        "events.yaml",
        "storage.yaml",
        "data.yaml",
        "regional.yaml",
        "routing.yaml",
        "orchestration.yaml",
    }
    assert tp.TEMPLATES_DIR == TEMPLATES


# --- editing copies ----------------------------------------------------------------------------


def text_edit(old: str, new: str) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path.name}"
        path.write_text(text.replace(old, new))

    return edit


def structure_edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        template, problems = decode(str(path))
        assert template is not None, problems
        plain = json.loads(json.dumps(template))
        change(plain)
        path.write_text(json.dumps(plain, indent=2))

    return edit


def _resource(template: dict, name: str) -> dict:
    return template["Resources"][name]


def _drop_rule_dlq(t: dict) -> None:
    del _resource(t, "ForwardingRule")["Properties"]["Targets"][0]["DeadLetterConfig"]


def _bus_policy_grants_own_account(t: dict) -> None:
    statement = _resource(t, "PeerForwarderPolicy")["Properties"]["Statement"]
    statement["Principal"] = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    del statement["Condition"]


def _payments_cached(t: dict) -> None:
    behaviours = _resource(t, "Distribution")["Properties"]["DistributionConfig"]["CacheBehaviors"]
    (payments,) = [b for b in behaviours if b["PathPattern"] == "/api/v1/payments/*"]
    payments["CachePolicyId"] = "658327ea-f89d-4fab-a63d-7e88639e58f6"  # CachingOptimized


def _transactions_root_behaviour_removed(t: dict) -> None:
    config = _resource(t, "Distribution")["Properties"]["DistributionConfig"]
    config["CacheBehaviors"] = [b for b in config["CacheBehaviors"] if b["PathPattern"] != "/api/v1/transactions"]


BROKEN = [
    pytest.param(
        "data.yaml",
        text_edit("    DeletionPolicy: Retain\n", ""),
        tp.RETAIN,
        "TransactionsTable",
        id="global-table-without-deletion-policy",
    ),
    pytest.param(
        "storage.yaml",
        structure_edit(lambda t: _resource(t, "DocumentBucket").pop("UpdateReplacePolicy")),
        tp.RETAIN,
        "DocumentBucket",
        id="bucket-without-update-replace-policy",
    ),
    pytest.param(
        "storage.yaml",
        structure_edit(lambda t: _resource(t, "AggregatesTable").__setitem__("DeletionPolicy", "Delete")),
        tp.RETAIN,
        "AggregatesTable",
        id="table-with-delete-policy",
    ),
    pytest.param(
        "data.yaml",
        text_edit(
            "- Region: !Ref TargetRegion\n          PointInTimeRecoverySpecification:\n"
            "            PointInTimeRecoveryEnabled: true",
            "- Region: !Ref TargetRegion\n          PointInTimeRecoverySpecification:\n"
            "            PointInTimeRecoveryEnabled: false",
        ),
        tp.PITR,
        "TransactionsTable",
        id="target-replica-without-pitr",
    ),
    pytest.param(
        "storage.yaml",
        structure_edit(lambda t: _resource(t, "AggregatesTable")["Properties"].pop("PointInTimeRecoverySpecification")),
        tp.PITR,
        "AggregatesTable",
        id="regional-table-without-pitr",
    ),
    pytest.param(
        "routing.yaml",
        text_edit(
            'Weight: !Ref TargetWeight\n      TTL: "60"',
            'Weight: !Ref TargetWeight\n      TTL: "300"',
        ),
        tp.WEIGHTED_TTL,
        "TargetRecord",
        id="weighted-record-ttl-300",
    ),
    pytest.param(
        "regional.yaml",
        structure_edit(_drop_rule_dlq),
        tp.RULE_DLQ,
        "ForwardingRule",
        id="rule-target-without-dlq",
    ),
    pytest.param(
        "regional.yaml",
        structure_edit(lambda t: t["Resources"].pop("ForwardingDLQAlarm")),
        tp.DLQ_ALARM,
        "ForwardingDLQ",
        id="rule-dlq-without-alarm",
    ),
    pytest.param(
        "orchestration.yaml",
        text_edit("Value: !GetAtt GateDLQ.QueueName", "Value: !GetAtt GateQueue.QueueName"),
        tp.DLQ_ALARM,
        "GateDLQ",
        id="redrive-dlq-alarm-on-the-wrong-queue",
    ),
    pytest.param(
        "events.yaml",
        structure_edit(lambda t: t["Resources"].pop("PeerForwarderPolicy")),
        tp.BUS_POLICY,
        "CutoverBus",
        id="bus-without-policy",
    ),
    pytest.param(
        "events.yaml",
        structure_edit(_bus_policy_grants_own_account),
        tp.BUS_POLICY,
        "CutoverBus",
        id="bus-policy-not-granting-the-peer",
    ),
    pytest.param(
        "regional.yaml",
        structure_edit(
            lambda t: _resource(t, "WebhookFunction")["Properties"]["TracingConfig"].update(Mode="PassThrough")
        ),
        tp.TRACING,
        "WebhookFunction",
        id="lambda-tracing-passthrough",
    ),
    pytest.param(
        "orchestration.yaml",
        text_edit("TracingConfiguration:\n        Enabled: true", "TracingConfiguration:\n        Enabled: false"),
        tp.TRACING,
        "StateMachine",
        id="state-machine-tracing-off",
    ),
    pytest.param(
        "routing.yaml",
        structure_edit(_payments_cached),
        tp.API_UNCACHED,
        "Distribution",
        id="payments-behaviour-caching",
    ),
    pytest.param(
        "routing.yaml",
        structure_edit(_transactions_root_behaviour_removed),
        tp.API_UNCACHED,
        "Distribution",
        id="transactions-post-path-falls-to-cached-default",
    ),
]


@pytest.mark.parametrize(("template", "breakage", "check", "resource"), BROKEN)
def test_a_broken_copy_yields_exactly_that_checks_finding(tmp_path, template, breakage, check, resource):
    copy = tmp_path / "infra_templates"
    shutil.copytree(TEMPLATES, copy, ignore=shutil.ignore_patterns("lambda"))
    breakage(copy / template)

    findings = template_policy_check(copy)

    assert [(f.check, f.template, f.resource) for f in findings] == [(check, template, resource)], "\n".join(
        map(str, findings)
    )
    (finding,) = findings
    assert finding.message and finding.fix
    assert template in str(finding) and resource in str(finding)
    assert check_template(copy / template) == findings


def test_every_check_has_a_broken_case():
    assert {case.values[2] for case in BROKEN} == set(tp.CHECKS)


def test_the_transactions_post_path_finding_names_the_path_and_the_default_behaviour(tmp_path):
    copy = tmp_path / "routing.yaml"
    shutil.copy(TEMPLATES / "routing.yaml", copy)
    structure_edit(_transactions_root_behaviour_removed)(copy)

    (finding,) = check_template(copy)

    assert "/api/v1/transactions is served by the default behaviour" in finding.message
    assert "CachingDisabled" in finding.fix


def test_an_unreadable_template_is_a_finding_not_a_crash(tmp_path):
    (tmp_path / "broken.yaml").write_text("Resources: [unclosed\n")

    (finding,) = template_policy_check(tmp_path)

    assert finding == Finding(
        check=tp.PARSE, template="broken.yaml", resource="", message=finding.message, fix=finding.fix
    )
    assert "cannot be read" in finding.message
