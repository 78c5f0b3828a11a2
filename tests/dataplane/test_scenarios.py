"""Scenario files and the commands: sandbox_scenario, sandbox_replication."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from django.core.management import CommandError, call_command

from sandbox.dataplane.config import DataPlaneConfig, DataPlaneError, ReplicationControl
from sandbox.dataplane.scenarios import scenario_load, scenario_names


def test_every_shipped_scenario_loads():
    names = scenario_names()

    assert {"steady", "post_cutover_race", "replication_stall", "dropped_replica_write", "conflicting_update"} <= set(
        names
    )
    for name in names:
        scenario_load(name)
    assert not scenario_load("steady").faults


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("duration = 10\n[[faults]]\nat = 1\nkind = 'meteor'\n", "fault 1 has kind 'meteor'"),
        ("duration = 10\n[[faults]]\nat = 11\nkind = 'lost_write'\n", "needs `at` between 0 and the duration"),
        ("duration = 10\n[[faults]]\nat = 1\nkind = 'lost_write'\nzone = 'x'\n", "does not take zone"),
        ("duration = 10\nstale_share = 2\n", "stale_share must be between 0 and 1"),
        ("duration = -1\n", "duration must be a positive number"),
        ("duration = 10\nrte = 3\n", "unknown settings rte"),
        ("duration = [", "not valid TOML"),
    ],
)
def test_a_bad_scenario_file_is_refused_with_a_clear_error(tmp_path, body, message):
    (tmp_path / "bad.toml").write_text(body)

    with pytest.raises(DataPlaneError, match=message):
        scenario_load("bad", tmp_path)


def test_an_unknown_scenario_names_the_known_ones():
    with pytest.raises(DataPlaneError, match="known: conflicting_update, dropped_replica_write"):
        scenario_load("nope")


def test_sandbox_replication_writes_the_control_file(settings, tmp_path, capsys):
    settings.SANDBOX_DATAPLANE_DIR = tmp_path

    call_command("sandbox_replication", "pause", environment="e1")
    assert ReplicationControl(tmp_path, "e1").read().mode == "paused"
    call_command("sandbox_replication", "resume", environment="e1", extra_lag_ms=500)
    state = ReplicationControl(tmp_path, "e1").read()
    assert (state.mode, state.extra_lag_ms) == ("on", 500)
    call_command("sandbox_replication", "status", environment="e1")
    assert "no data plane is running" in capsys.readouterr().out
    with pytest.raises(CommandError, match="must not be negative"):
        call_command("sandbox_replication", "on", environment="e1", extra_lag_ms=-1)


def test_a_corrupt_control_file_is_reported(tmp_path):
    (tmp_path / "e2-control.json").write_text("{not json")

    with pytest.raises(DataPlaneError, match="is not readable JSON"):
        ReplicationControl(tmp_path, "e2").read()


def test_sandbox_scenario_refuses_an_unknown_environment(db):
    with pytest.raises(CommandError, match="no environment 'ghost'"):
        call_command("sandbox_scenario", "steady", environment="ghost")


def test_the_post_cutover_race_produces_exactly_one_duplicate_debit(deployed_environment, settings, tmp_path, capsys):
    settings.SANDBOX_DATAPLANE_DIR = tmp_path
    report_path = tmp_path / "race.json"

    call_command(
        "sandbox_scenario",
        "post_cutover_race",
        environment=deployed_environment.name,
        speed=10,
        seed=5,
        output=str(report_path),
    )

    printed = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    (fault,) = report["injected"]
    source, target = deployed_environment.source_region, deployed_environment.target_region
    assert fault["fault"] == "duplicate_debit" and fault["regions"] == [source, target]
    assert len(set(fault["transaction_ids"])) == 2
    assert fault["transaction_ids"][0] in printed and "duplicate_debit" in printed
    assert report["traffic"]["duplicates_201"] == 0 and report["replication"]["settled"], report["replication"]
    # In both regions: exactly one idempotency key with more than one transaction, the injected one.
    config = DataPlaneConfig.from_environment(deployed_environment)
    for region in config.regions:
        ids_by_key = defaultdict(set)
        pages = config.client("dynamodb", region).get_paginator("scan").paginate(TableName=config.transactions_table)
        for page in pages:
            for item in page["Items"]:
                if item.get("kind", {}).get("S") == "transaction":
                    ids_by_key[item["idempotencyKey"]["S"]].add(item["transactionId"]["S"])
        duplicates = {key: ids for key, ids in ids_by_key.items() if len(ids) > 1}
        assert duplicates == {fault["idempotency_key"]: set(fault["transaction_ids"])}, region
        assert len(ids_by_key) > 5  # the background traffic was there too
