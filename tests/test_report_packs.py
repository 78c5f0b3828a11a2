"""Report packs: known data in, expected rows out; one changed byte named by report_verify."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit import reports
from audit.manifest import manifest_sign, pack_verify
from audit.models import AuditEvent, ReportPack
from controlplane.aws import kms
from controlplane.aws.clients import AwsTarget
from migrations_app.models import Approval, Environment, Execution, Gate, GateDelivery
from reconciliation.models import Finding, ReconciliationRun, WindowCount

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
US, EU = "us-east-1", "eu-central-1"


@pytest.fixture(autouse=True)
def reports_dir(settings, tmp_path):
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.REPORT_SIGNING_KEY = "test-signing-key"
    settings.REPORT_KMS_KEY_ID = ""
    return settings.REPORTS_DIR


@pytest.fixture
def env(db, sandbox_aws):
    name = f"p{uuid.uuid4().hex[:8]}"
    return Environment.objects.create(
        name=name, aws_endpoint_url=sandbox_aws, hosted_zone_name=f"{name}.example.com", record_name=f"api.{name}"
    )


def _ssm_put(env, name: str, times: int) -> None:
    client = boto3.client(
        "ssm", region_name=env.home_region, endpoint_url=env.aws_endpoint_url,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    for i in range(times):
        client.put_parameter(Name=name, Value=json.dumps({"n": i}), Type="String", Overwrite=True)


@pytest.fixture
def known_data(env, engineer, approver1, approver2, lead):
    """Counts for two hours in two regions (and one window outside the period), one execution
    with a delivered gate (two approvals) and a waiting one, two findings in the period."""
    run = ReconciliationRun.objects.create(
        environment=env, window_start=T0, window_end=T0 + timedelta(minutes=5), region_a=US, region_b=EU
    )
    for start, region, processed, stored, replicated_in, findings in [
        (T0, US, 100, 150, 50, 0),
        (T0 + timedelta(minutes=5), US, 10, 12, 2, 1),
        (T0, EU, 50, 150, 100, 0),
        (T0 + timedelta(minutes=5), EU, 2, 12, 10, 1),
        (T0 + timedelta(hours=1), EU, 7, 7, 0, 0),
        (T0 + timedelta(hours=5), EU, 999, 999, 0, 0),  # outside the period
    ]:
        WindowCount.objects.create(
            environment=env, run=run, window_start=start, window_end=start + timedelta(minutes=5), region=region,
            processed=processed, stored=stored, replicated_in=replicated_in, findings=findings, amount_sum=processed * 100,
        )  # fmt: skip
    execution = Execution.objects.create(
        environment=env, name=f"{env.name}-x1", arn=f"arn:aws:states:us-east-1:123456789012:execution:sm:{env.name}-x1",
        status="RUNNING", started_by=engineer,
    )  # fmt: skip
    ssm_name = f"/cutover/{env.name}/{execution.name}/Step1"
    _ssm_put(env, ssm_name, times=2)
    gate1 = Gate.objects.create(
        execution=execution, state_name="Step1", entered_at="e1", step=1, target_weights={US: 90, EU: 10},
        required_approvals=2, ssm_parameter=ssm_name, task_token="secret-token-1", status="approved",
        arrived_at=T0 + timedelta(minutes=10), decided_at=T0 + timedelta(minutes=20),
    )  # fmt: skip
    for who, minute, override in ((approver1, 15, False), (approver2, 20, True)):
        Approval.objects.create(
            gate=gate1, approver=who, decision="approve", comment=f"ok from {who.username}", identity=who.idp_identity(),
            override=override, override_reason="lag alarm is a known false positive" if override else "",
            created_at=T0 + timedelta(minutes=minute),
        )  # fmt: skip
    GateDelivery.objects.create(
        gate=gate1, kind="success", payload={}, status="delivered", delivered_at=T0 + timedelta(minutes=21)
    )
    Gate.objects.create(
        execution=execution, state_name="Step2", entered_at="e2", step=2, target_weights={US: 0, EU: 100},
        task_token="secret-token-2", arrived_at=T0 + timedelta(minutes=30),
    )  # fmt: skip
    Finding.objects.create(
        environment=env, kind="missing_in_region", summary="tx-1 missing in eu-central-1", regions=[EU],
        transaction_ids=["tx-1"], detected_at=T0 + timedelta(minutes=12),
    )  # fmt: skip
    Finding.objects.create(
        environment=env, kind="duplicate_debit", summary="two debits for key k-9", regions=[US, EU],
        transaction_ids=["tx-2", "tx-3"], detected_at=T0 + timedelta(minutes=40), status="resolved",
        acknowledged_by=lead, acknowledged_at=T0 + timedelta(minutes=45), acknowledgement_note="looking",
        resolved_by=lead, resolved_at=T0 + timedelta(minutes=50), resolution_note="refunded tx-3",
    )  # fmt: skip
    Finding.objects.create(
        environment=env, kind="count_mismatch", summary="outside the period", regions=[EU],
        detected_at=T0 + timedelta(days=3),
    )  # fmt: skip
    return {"execution": execution, "gate1": gate1, "ssm_name": ssm_name}


def _request(actor, env, django_capture_on_commit_callbacks, **kwargs) -> ReportPack:
    kwargs.setdefault("period_start", T0)
    kwargs.setdefault("period_end", T0 + timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):  # Celery is eager: the build runs here
        pack = reports.report_pack_request(actor=actor, environment=env, **kwargs)
    pack.refresh_from_db()
    return pack


def _csv(zf: zipfile.ZipFile, name: str) -> list[dict]:
    return list(csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8", newline="")))


def test_pack_built_from_known_data_has_the_expected_rows(env, known_data, auditor, django_capture_on_commit_callbacks):
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    assert pack.status == ReportPack.Status.READY, pack.error
    assert pack.progress == 100
    with zipfile.ZipFile(pack.zip_path()) as zf:
        assert sorted(zf.namelist()) == [
            "approvals.csv", "audit_events.csv", "findings.csv", "manifest.json", "summary.pdf",
            "transaction_counts.csv",
        ]  # fmt: skip
        counts = [
            (
                r["region"],
                r["hour_start_utc"],
                r["windows"],
                r["processed"],
                r["stored"],
                r["replicated_in"],
                r["findings"],
            )
            for r in _csv(zf, "transaction_counts.csv")
        ]
        assert counts == [
            (EU, "2026-11-20T10:00:00+00:00", "2", "52", "162", "110", "1"),
            (EU, "2026-11-20T11:00:00+00:00", "1", "7", "7", "0", "0"),
            (US, "2026-11-20T10:00:00+00:00", "2", "110", "162", "52", "1"),
        ]
        approvals = _csv(zf, "approvals.csv")
        assert [(a["gate_state"], a["approver_username"], a["decision"], a["override"]) for a in approvals] == [
            ("Step1", "approver1", "approve", "no"),
            ("Step1", "approver2", "approve", "yes"),
            ("Step2", "", "", ""),
        ]
        first = approvals[0]
        assert first["target_weights"] == "eu-central-1=10;us-east-1=90"
        assert first["execution_arn"] == known_data["execution"].arn
        assert (first["approver_idp_issuer"], first["approver_idp_subject"], first["approver_email"]) == (
            "http://idp.test", "user-approver1", "approver1@example.com",
        )  # fmt: skip
        assert first["approver_signed_in_at"]
        assert first["delivery_status"] == "delivered" and first["delivered_at"] == "2026-11-20T10:21:00+00:00"
        assert (first["ssm_parameter"], first["ssm_parameter_version"]) == (known_data["ssm_name"], "2")
        assert approvals[1]["override_reason"] == "lag alarm is a known false positive"
        assert approvals[2]["gate_status"] == "waiting" and approvals[2]["ssm_parameter_version"] == ""
        findings = _csv(zf, "findings.csv")
        assert [(f["kind"], f["status"], f["transaction_ids"]) for f in findings] == [
            ("missing_in_region", "open", "tx-1"),
            ("duplicate_debit", "resolved", "tx-2;tx-3"),
        ]
        assert findings[1]["resolution_note"] == "refunded tx-3" and "lead" in findings[1]["resolved_by"]
        events = _csv(zf, "audit_events.csv")
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("summary.pdf").startswith(b"%PDF-")
    # The request itself is in the trail only if it falls in the period (it does not: 2026-11-20).
    assert manifest["audit_events"]["count"] == len(events)
    assert manifest["period"] == {"start": T0.isoformat(), "end": (T0 + timedelta(hours=2)).isoformat()}
    assert manifest["requested_by"]["username"] == "auditor"
    assert manifest["generator"]["version"] == reports.GENERATOR_VERSION
    assert manifest["audit_chain_head"]["hash"]
    assert set(manifest["files"]) == {
        "approvals.csv", "audit_events.csv", "findings.csv", "summary.pdf", "transaction_counts.csv"
    }  # fmt: skip
    assert [s["alg"] for s in manifest["signatures"]] == ["HMAC-SHA256"]
    assert "secret-token" not in pack.zip_path().read_bytes().decode("latin-1")
    assert pack_verify(pack.zip_path()).ok


def test_region_filter_keeps_that_regions_counts_and_findings(
    env, known_data, approver1, django_capture_on_commit_callbacks
):
    pack = _request(approver1, env, django_capture_on_commit_callbacks, region=US)
    with zipfile.ZipFile(pack.zip_path()) as zf:
        assert {r["region"] for r in _csv(zf, "transaction_counts.csv")} == {US}
        assert [f["kind"] for f in _csv(zf, "findings.csv")] == ["duplicate_debit"]
        assert json.loads(zf.read("manifest.json"))["region"] == US


def test_audit_events_in_the_pack_carry_their_hashes(env, auditor, django_capture_on_commit_callbacks):
    now = datetime.now(UTC)
    pack = _request(
        auditor,
        env,
        django_capture_on_commit_callbacks,
        period_start=now - timedelta(hours=1),
        period_end=now + timedelta(hours=1),
    )
    with zipfile.ZipFile(pack.zip_path()) as zf:
        events = _csv(zf, "audit_events.csv")
    requested = AuditEvent.objects.get(event_type="report.requested", target_id=str(pack.pk))
    row = next(e for e in events if e["id"] == str(requested.pk))
    assert (row["hash"], row["prev_hash"], row["actor_subject"]) == (
        requested.hash,
        requested.prev_hash,
        "user-auditor",
    )


def test_request_and_download_are_audited(client, env, auditor, django_capture_on_commit_callbacks):
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    requested = AuditEvent.objects.get(event_type="report.requested")
    assert requested.actor == auditor and requested.after["uid"] == str(pack.uid)
    built = AuditEvent.objects.get(event_type="report.built")
    assert (
        built.actor is None and built.actor_name == "system:report_pack_build" and built.after["sha256"] == pack.sha256
    )
    client.force_login(auditor)
    response = client.get(f"/reports/{pack.uid}/download/", HTTP_USER_AGENT="pytest-agent")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == pack.zip_path().read_bytes() and response["X-Content-SHA256"] == pack.sha256
    downloaded = AuditEvent.objects.get(event_type="report.downloaded")
    assert (downloaded.actor, downloaded.outcome, downloaded.user_agent) == (auditor, "success", "pytest-agent")
    assert downloaded.request_id == response["X-Request-ID"]


def test_changing_one_byte_of_a_file_names_that_file(
    env, known_data, auditor, tmp_path, django_capture_on_commit_callbacks
):
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    tampered = tmp_path / "tampered.zip"
    _rezip(pack.zip_path(), tampered, "findings.csv", lambda data: data.replace(b"refunded", b"refunder", 1))
    with pytest.raises(CommandError) as raised:
        call_command("report_verify", str(tampered), stdout=io.StringIO())
    assert "FAIL  file findings.csv: SHA-256" in str(raised.value)
    assert "transaction_counts.csv" not in str(raised.value)


def test_a_flipped_byte_in_the_zip_names_the_file(
    env, known_data, auditor, tmp_path, django_capture_on_commit_callbacks
):
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    data = bytearray(pack.zip_path().read_bytes())
    with zipfile.ZipFile(pack.zip_path()) as zf:
        info = zf.getinfo("approvals.csv")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(0, info.compress_size, max(1, info.compress_size // 25)):  # anywhere in the member
        flipped_data = bytearray(data)
        flipped_data[start + offset] ^= 0x01
        flipped = tmp_path / "flipped.zip"
        flipped.write_bytes(bytes(flipped_data))
        check = pack_verify(flipped)
        assert not check.ok, offset
        assert all("file approvals.csv" in f for f in check.failures), (offset, check.failures)


def test_changed_manifest_fails_the_signature(env, known_data, auditor, tmp_path, django_capture_on_commit_callbacks):
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    tampered = tmp_path / "tampered.zip"
    _rezip(pack.zip_path(), tampered, "manifest.json", lambda data: data.replace(b'"auditor"', b'"someone"', 1))
    with pytest.raises(CommandError, match=r"FAIL  signature HMAC-SHA256: does not match"):
        call_command("report_verify", str(tampered), stdout=io.StringIO())


def test_another_key_is_named(env, auditor, settings, django_capture_on_commit_callbacks):
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    settings.REPORT_SIGNING_KEY = "another-key"
    check = pack_verify(pack.zip_path())
    assert check.failures and "set REPORT_SIGNING_KEY" in check.failures[0]


def test_rewritten_audit_row_is_caught_even_with_a_valid_signature(
    env, auditor, tmp_path, django_capture_on_commit_callbacks
):
    """An insider holding the signing key re-signs a changed trail: the entry hashes still fail."""
    now = datetime.now(UTC)
    pack = _request(
        auditor,
        env,
        django_capture_on_commit_callbacks,
        period_start=now - timedelta(hours=1),
        period_end=now + timedelta(hours=1),
    )
    tampered = tmp_path / "tampered.zip"

    def rewrite(name, data, manifest):
        if name == "audit_events.csv":
            data = data.replace(b"Dana Auditor", b"Mallory Auditor", 1)
            manifest["files"][name]["sha256"] = __import__("hashlib").sha256(data).hexdigest()
        return data

    _rezip_signed(pack.zip_path(), tampered, rewrite)
    check = pack_verify(tampered)
    assert [f for f in check.failures if "signature" in f] == []
    assert any(f.startswith("file audit_events.csv: row 1 ") and "does not match its hash" in f for f in check.failures)


def test_kms_signature_when_a_key_is_configured(
    env, auditor, settings, sandbox_aws, django_capture_on_commit_callbacks
):
    target = AwsTarget(region=EU, endpoint_url=sandbox_aws)
    settings.REPORT_KMS_KEY_ID = kms.signing_key_create(target=target)
    settings.REPORT_KMS_REGION, settings.REPORT_KMS_ENDPOINT_URL = EU, sandbox_aws
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    algs = [s["alg"] for s in pack.manifest["signatures"]]
    assert algs == ["HMAC-SHA256", "KMS:ECDSA_SHA_256"]
    check = pack_verify(pack.zip_path())
    assert check.ok and any("KMS:ECDSA_SHA_256" in p for p in check.passed)
    # A signature by another KMS key does not verify.
    manifest = dict(pack.manifest)
    settings.REPORT_KMS_KEY_ID = kms.signing_key_create(target=target)
    other = manifest_sign({**manifest, "region": "elsewhere"})[1]
    manifest["signatures"] = [manifest["signatures"][0], {**other, "key_id": pack.manifest["signatures"][1]["key_id"]}]
    settings.REPORT_SIGNING_KEY = "test-signing-key"
    from audit.manifest import PackCheck, _signatures_check

    result = PackCheck()
    _signatures_check(manifest, result)
    assert result.failures == ["signature KMS:ECDSA_SHA_256: does not match: manifest.json was changed"]


def _rezip(source, dest, member: str, change) -> None:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info.filename, change(data) if info.filename == member else data)


def _rezip_signed(source, dest, rewrite) -> None:
    with zipfile.ZipFile(source) as zin:
        manifest = json.loads(zin.read("manifest.json"))
        contents = {
            i.filename: rewrite(i.filename, zin.read(i.filename), manifest)
            for i in zin.infolist()
            if i.filename != "manifest.json"
        }
    manifest["signatures"] = manifest_sign(manifest)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in contents.items():
            zout.writestr(name, data)
        zout.writestr("manifest.json", json.dumps(manifest))


# --- bad input, roles, failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"period_end": T0 - timedelta(hours=1)}, "must end after it starts"),
        ({"period_end": T0 + timedelta(days=500)}, "at most 400 days"),
        ({"region": "ap-south-1"}, "not one of"),
        ({"subjects": "u1"}, "Choose a region"),
        ({"region": EU, "subjects": "x" * 129}, "longer than 128"),
        ({"region": EU, "subjects": ",".join(f"u{i}" for i in range(21))}, "At most 20"),
    ],
)
def test_bad_requests_are_refused_and_create_nothing(env, auditor, kwargs, message):
    kwargs = {"period_start": T0, "period_end": T0 + timedelta(hours=2), **kwargs}
    with pytest.raises(reports.ReportPackError, match=message):
        reports.report_pack_request(actor=auditor, environment=env, **kwargs)
    assert not ReportPack.objects.exists() and not AuditEvent.objects.filter(event_type="report.requested").exists()


@pytest.mark.parametrize("who", ["engineer", "outsider"])
def test_only_auditors_and_approvers_may_request(env, who, request):
    user = request.getfixturevalue(who)
    with pytest.raises(reports.ReportPackForbidden):
        reports.report_pack_request(actor=user, environment=env, period_start=T0, period_end=T0 + timedelta(hours=1))


def test_pages_refuse_outsiders_and_engineers(
    client, env, auditor, outsider, engineer, django_capture_on_commit_callbacks
):
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    for user in (outsider, engineer):
        client.force_login(user)
        for url in (
            "/reports/",
            f"/reports/{pack.uid}/",
            f"/reports/{pack.uid}/status/",
            f"/reports/{pack.uid}/download/",
        ):
            assert client.get(url).status_code == 403, (user.username, url)
        assert client.post("/reports/", {"environment": env.pk}).status_code == 403
    assert not AuditEvent.objects.filter(event_type="report.downloaded").exists()
    client.logout()
    assert client.get("/reports/").status_code == 302  # to SSO


def test_request_form_posts_and_shows_errors(client, env, approver1, django_capture_on_commit_callbacks):
    client.force_login(approver1)
    data = {
        "environment": env.pk,
        "period_start": "2026-11-20T12:00",
        "period_end": "2026-11-20T10:00",
        "region": "",
        "subjects": "",
    }
    response = client.post("/reports/", data)
    assert response.status_code == 400 and "must end after it starts" in response.content.decode()
    assert 'value="2026-11-20T12:00"' in response.content.decode()  # what was typed is kept
    data["period_end"] = "2026-11-20T14:00"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/reports/", data)
    pack = ReportPack.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reports/{pack.uid}/"
    assert pack.period_start == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    page = client.get(f"/reports/{pack.uid}/status/").content.decode()
    assert "Ready" in page and "hx-get" not in page and f"/reports/{pack.uid}/download/" in page


def test_build_failure_is_visible_and_audited(env, auditor, settings, tmp_path, django_capture_on_commit_callbacks):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings.REPORTS_DIR = blocker
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    assert pack.status == ReportPack.Status.FAILED and pack.error
    failed = AuditEvent.objects.get(event_type="report.build_failed")
    assert failed.outcome == "failure" and failed.target_id == str(pack.pk)


def test_a_second_build_of_the_same_pack_does_nothing(env, auditor, django_capture_on_commit_callbacks):
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    again = reports.report_pack_build(pack_id=pack.pk)
    assert again.sha256 == pack.sha256 and AuditEvent.objects.filter(event_type="report.built").count() == 1


def test_a_build_whose_worker_died_is_taken_over(env, auditor):
    pack = reports.report_pack_request(
        actor=auditor, environment=env, period_start=T0, period_end=T0 + timedelta(hours=1)
    )
    past = datetime.now(UTC) - timedelta(minutes=1)
    ReportPack.objects.filter(pk=pack.pk).update(status="building", lease_until=past)
    assert reports.report_pack_build(pack_id=pack.pk).status == ReportPack.Status.READY


def test_download_of_a_lost_file_says_so_and_is_audited(client, env, auditor, django_capture_on_commit_callbacks):
    pack = _request(auditor, env, django_capture_on_commit_callbacks)
    pack.zip_path().unlink()
    client.force_login(auditor)
    response = client.get(f"/reports/{pack.uid}/download/")
    assert response.status_code == 410 and "request the pack again" in response.content.decode()
    assert AuditEvent.objects.get(event_type="report.downloaded").outcome == "failure"


# --- data subjects, from the chosen region's replica --------------------------------------------


def _put(env, region: str, user_id: str, created_at: str, origin: str) -> str:
    table = boto3.client(
        "dynamodb", region_name=region, endpoint_url=env.aws_endpoint_url,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    tx = str(uuid.uuid4())
    table.put_item(
        TableName=f"{env.name}-transactions",
        Item={
            "transactionId": {"S": tx}, "kind": {"S": "transaction"}, "idempotencyKey": {"S": f"k-{tx}"},
            "userId": {"S": user_id}, "amount": {"N": "1250"}, "currency": {"S": "EUR"},
            "createdAt": {"S": created_at}, "originRegion": {"S": origin}, "version": {"N": "1"},
            "channel": {"S": "api"}, "timeBucket": {"S": created_at[:16]}, "timeBucketShard": {"S": created_at[:16] + "#1"},
        },
    )  # fmt: skip
    return tx


def test_subject_export_holds_exactly_that_users_transactions_in_the_region(
    deployed_environment, auditor, django_capture_on_commit_callbacks
):
    env = deployed_environment
    mine_eu = [
        _put(env, EU, "user-42", "2026-11-20T10:00:00.000Z", EU),
        _put(env, EU, "user-42", "2026-11-20T10:00:01.000Z", US),  # replicated in
    ]
    _put(env, US, "user-42", "2026-11-20T10:00:02.000Z", US)  # only in the US replica
    _put(env, EU, "user-7", "2026-11-20T10:00:03.000Z", EU)  # someone else
    _put(env, EU, "user-42x", "2026-11-20T10:00:04.000Z", EU)  # a longer id sharing the prefix
    pack = _request(auditor, env, django_capture_on_commit_callbacks, region=EU, subjects="user-42\nuser/9")
    assert pack.status == ReportPack.Status.READY, pack.error
    with zipfile.ZipFile(pack.zip_path()) as zf:
        rows = _csv(zf, "subject_user-42.csv")
        names = [n for n in zf.namelist() if n.startswith("subject_")]
        manifest = json.loads(zf.read("manifest.json"))
    assert [r["transaction_id"] for r in rows] == mine_eu
    assert {(r["user_id"], r["held_in_region"]) for r in rows} == {("user-42", EU)}
    assert [r["origin_region"] for r in rows] == [EU, US]
    other = next(n for n in names if n != "subject_user-42.csv")
    assert other.startswith("subject_user_9_") and manifest["subjects"][other] == "user/9"
    assert manifest["files"][other]["rows"] == 0
    assert pack_verify(pack.zip_path()).ok


def test_status_fragment_polls_while_the_pack_builds(client, env, auditor):
    pack = reports.report_pack_request(
        actor=auditor, environment=env, period_start=T0, period_end=T0 + timedelta(hours=1)
    )
    ReportPack.objects.filter(pk=pack.pk).update(status="building", progress=40, stage="Findings")
    client.force_login(auditor)
    fragment = client.get(f"/reports/{pack.uid}/status/").content.decode()
    assert f'hx-get="/reports/{pack.uid}/status/"' in fragment and "Findings" in fragment and 'value="40"' in fragment
    assert "report-download" not in fragment
    assert client.get(f"/reports/{pack.uid}/download/").status_code == 409  # not ready yet
    assert client.get(f"/reports/{uuid.uuid4()}/").status_code == 404
