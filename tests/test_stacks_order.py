"""The bootstrap order is data; these rules keep it right."""

from __future__ import annotations

from migrations_app.rendering import TEMPLATES_DIR
from migrations_app.stacks import BOOTSTRAP_ORDER, STACKS_BY_KEY


def position(key: str) -> int:
    return [s.key for s in BOOTSTRAP_ORDER].index(key)


def test_every_prerequisite_comes_earlier():
    for spec in BOOTSTRAP_ORDER:
        for need in spec.needs:
            assert need in STACKS_BY_KEY, f"{spec.key} needs unknown stack {need}"
            assert position(need) < position(spec.key), f"{spec.key} is deployed before {need}, which it needs"


def test_the_bus_and_its_policy_exist_before_anything_targets_them():
    assert position("events-source") < position("events-target")
    for key in ("regional-source", "regional-target"):
        assert position("events-source") < position(key)
        assert position("events-target") < position(key)


def test_the_global_table_comes_before_the_lambdas_that_use_it():
    assert position("data") < position("regional-source")
    assert position("data") < position("regional-target")


def test_the_replica_bucket_exists_before_the_replicating_bucket():
    assert position("storage-target") < position("storage-source")


def test_the_state_machine_comes_last():
    assert BOOTSTRAP_ORDER[-1].key == "orchestration"


def test_every_template_exists_and_keys_are_unique():
    assert len(STACKS_BY_KEY) == len(BOOTSTRAP_ORDER)
    for spec in BOOTSTRAP_ORDER:
        assert (TEMPLATES_DIR / spec.template).is_file(), spec.template
        assert spec.region_role in ("source", "target")
