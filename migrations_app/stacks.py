"""The stacks of an environment and their bootstrap order, kept as data (and tested).

Each stack is one template from infra_templates/ deployed in one region. ``needs`` names the
stacks that must be complete first, with the reason shown when someone tries otherwise.
Regions are roles here ("source", "target", "home"): an Environment maps them to real names.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StackSpec:
    key: str  # e.g. "events-source"
    template: str  # file name under infra_templates/
    region_role: str  # "source" | "target"; the home region is the source region
    needs: dict[str, str] = field(default_factory=dict)  # stack key -> why it must come first
    description: str = ""


BOOTSTRAP_ORDER: tuple[StackSpec, ...] = (
    StackSpec(
        key="events-source",
        template="events.yaml",
        region_role="source",
        description="Cross-region event bus of the source region and its resource policy.",
    ),
    StackSpec(
        key="events-target",
        template="events.yaml",
        region_role="target",
        needs={
            "events-source": "the buses come up source first, then target, so that when the forwarding rules "
            "are created (regional stacks) both buses and both bus policies exist; a rule whose target "
            "bus or policy is missing fails with an access error that does not name what is missing",
        },
        description="Cross-region event bus of the target region and its resource policy.",
    ),
    StackSpec(
        key="storage-target",
        template="storage.yaml",
        region_role="target",
        description="Regional aggregates table and the versioned replica document bucket.",
    ),
    StackSpec(
        key="storage-source",
        template="storage.yaml",
        region_role="source",
        needs={"storage-target": "S3 replication needs its destination bucket, in the target region, to exist"},
        description="Regional aggregates table and the versioned document bucket replicating to the target.",
    ),
    StackSpec(
        key="data",
        template="data.yaml",
        region_role="source",
        description="The transactions global table with replicas in both regions (Retain, PITR, streams).",
    ),
    StackSpec(
        key="regional-source",
        template="regional.yaml",
        region_role="source",
        needs={
            "data": "the Lambdas read and write the transactions table",
            "storage-source": "Lambda reads its code from the artifacts bucket in its own region",
            "events-source": "the Lambdas publish to this region's event bus",
            "events-target": "the forwarding rule targets the peer region's bus",
        },
        description="Transaction and webhook Lambdas, their API, alarms, and the forwarding rule to the peer bus.",
    ),
    StackSpec(
        key="regional-target",
        template="regional.yaml",
        region_role="target",
        needs={
            "data": "the Lambdas read and write the transactions table's replica",
            "storage-target": "Lambda reads its code from the artifacts bucket in its own region",
            "events-target": "the Lambdas publish to this region's event bus",
            "events-source": "the forwarding rule targets the peer region's bus",
        },
        description="Transaction and webhook Lambdas, their API, alarms, and the forwarding rule to the peer bus.",
    ),
    StackSpec(
        key="routing",
        template="routing.yaml",
        region_role="source",
        needs={
            "regional-source": "the weighted records point at the source region's API",
            "regional-target": "the weighted records point at the target region's API",
        },
        description="Route 53 weighted records with health checks, and CloudFront with origin failover.",
    ),
    StackSpec(
        key="orchestration",
        template="orchestration.yaml",
        region_role="source",
        needs={"routing": "the state machine shifts the weighted records the routing stack creates"},
        description="The cutover state machine, its gate queue, notifications, alarms and SSM namespace.",
    ),
)

STACKS_BY_KEY = {spec.key: spec for spec in BOOTSTRAP_ORDER}
