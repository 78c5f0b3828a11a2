"""What a DynamoDB global table across two regions costs a month in writes and transfer.

Billing facts (see ``dynamodb_prices.json`` for the prices, their date and sources, and
docs/cost.md for a worked example):

- a write unit covers 1 KB: an item takes one unit per started KB (a 1.5 KB item = 2 units);
- every replica is billed for every write: the region that takes the write bills write units,
  the other bills *replicated* write units (on-demand, per million) or replicated WCU
  (provisioned, per hour);
- each global secondary index the write touches is billed again, in each region (we assume
  every write touches every index: the upper bound);
- provisioned capacity is WCU-hours: sustained writes per second / target utilisation,
  for every hour of the month (730 h);
- replication ships the item across regions: data transfer per GB out of the sending region.

Pure arithmetic on Decimal, no Django, no AWS: the cost panel and its tests call it.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path

PRICE_TABLE = Path(__file__).with_name("dynamodb_prices.json")
MILLION = Decimal(1_000_000)
CENT = Decimal("0.01")

# Limits of the inputs, with where they come from.
MAX_ITEM_KB = Decimal(400)  # DynamoDB's maximum item size, 400 KB
MAX_GSIS = 20  # default quota of global secondary indexes per table
MAX_TPS = 1_000_000
DEFAULT_TPS = (1_000, 5_000, 10_000)


class PriceTableError(Exception):
    """The price table lacks a region or a price the estimate needs."""


@functools.lru_cache(maxsize=4)
def price_table(path: str = str(PRICE_TABLE)) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh, parse_float=Decimal)


@dataclass(frozen=True)
class CostInputs:
    tps: Decimal  # transactions per second, sustained
    item_size_kb: Decimal = Decimal(1)
    writes_per_transaction: int = 1
    gsi_count: int = 0
    # Share of writes taken by the target region (100 = after the cutover).
    target_share_percent: Decimal = Decimal(100)
    # Provisioned capacity is set above the load: 100 % is the floor, autoscaling aims ~70 %.
    utilisation_percent: Decimal = Decimal(100)
    source_region: str = "us-east-1"
    target_region: str = "eu-central-1"


@dataclass(frozen=True)
class Step:
    label: str
    formula: str
    value: Decimal
    unit: str


@dataclass(frozen=True)
class RegionCost:
    region: str
    derived_prices: bool
    on_demand_writes: Decimal  # write units taken in this region
    on_demand_replicated: Decimal  # replicated write units
    provisioned_writes: Decimal  # WCU-hours
    provisioned_replicated: Decimal  # replicated WCU-hours

    @property
    def on_demand(self) -> Decimal:
        return self.on_demand_writes + self.on_demand_replicated

    @property
    def provisioned(self) -> Decimal:
        return self.provisioned_writes + self.provisioned_replicated


@dataclass(frozen=True)
class CostEstimate:
    inputs: CostInputs
    writes_per_month: Decimal
    units_per_write: int
    units_per_region_per_month: Decimal
    wcu_per_region: Decimal
    transfer_gb: Decimal
    regions: tuple[RegionCost, ...]
    transfer: Decimal
    steps: tuple[Step, ...] = field(default=())

    @property
    def on_demand_total(self) -> Decimal:
        return sum((r.on_demand for r in self.regions), Decimal(0)) + self.transfer

    @property
    def provisioned_total(self) -> Decimal:
        return sum((r.provisioned for r in self.regions), Decimal(0)) + self.transfer

    @property
    def replicated_on_demand(self) -> Decimal:
        return sum((r.on_demand_replicated for r in self.regions), Decimal(0))


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _n(value: Decimal, places: int = 0) -> str:
    """A number as people read it: thousands separated, ``places`` decimals."""
    q = Decimal(1).scaleb(-places) if places else Decimal(1)
    return f"{value.quantize(q, rounding=ROUND_HALF_UP):,}"


def _usd(value: Decimal) -> str:
    return f"${money(value):,}"


def _region_prices(table: dict, region: str) -> dict:
    try:
        prices = table["regions"][region]
    except KeyError:
        raise PriceTableError(f"the price table has no prices for {region}") from None
    return prices


def _transfer_price(table: dict, sender: str, receiver: str) -> Decimal:
    try:
        return Decimal(table["transfer_per_gb"][f"{sender}->{receiver}"])
    except KeyError:
        raise PriceTableError(f"the price table has no transfer price {sender} → {receiver}") from None


def estimate(inputs: CostInputs, table: dict | None = None) -> CostEstimate:
    """The monthly cost of ``inputs`` with every step of the arithmetic, for the page."""
    table = table or price_table()
    hours = Decimal(table["hours_per_month"])
    unit_bytes = Decimal(table["write_unit_bytes"])
    gb_bytes = Decimal(table["transfer_bytes_per_gb"])
    src, tgt = inputs.source_region, inputs.target_region
    tgt_share = Decimal(inputs.target_share_percent) / 100
    src_share = 1 - tgt_share
    utilisation = Decimal(inputs.utilisation_percent) / 100
    writes_per_second = Decimal(inputs.tps) * inputs.writes_per_transaction
    tables_written = 1 + inputs.gsi_count
    steps: list[Step] = []

    seconds = hours * 3600
    steps.append(Step("Seconds in a month", f"{_n(hours)} h × 3,600 s", seconds, "s"))
    writes = writes_per_second * seconds
    steps.append(
        Step(
            "Item writes per month",
            f"{_n(Decimal(inputs.tps), 2)} TPS × {inputs.writes_per_transaction} write(s) per transaction × {_n(seconds)} s",
            writes,
            "writes",
        )
    )
    item_bytes = Decimal(inputs.item_size_kb) * 1024
    units_per_write = int((item_bytes / unit_bytes).to_integral_value(rounding=ROUND_CEILING))
    steps.append(
        Step(
            "Write units per item write",
            f"{_n(Decimal(inputs.item_size_kb), 3)} KB rounded up to whole 1 KB units",
            Decimal(units_per_write),
            "units",
        )
    )
    units = writes * units_per_write * tables_written
    steps.append(
        Step(
            "Write units per region per month (each replica bills every write)",
            f"{_n(writes)} writes × {units_per_write} unit(s) × (1 table + {inputs.gsi_count} GSI)",
            units,
            "units",
        )
    )
    wcu = writes_per_second * units_per_write * tables_written / utilisation
    steps.append(
        Step(
            "Provisioned WCU per region (table + GSIs)",
            f"{_n(writes_per_second, 2)} writes/s × {units_per_write} unit(s) × {tables_written} ÷ "
            f"{_n(utilisation * 100)} % utilisation",
            wcu,
            "WCU",
        )
    )
    regions = []
    for region, local_share in ((src, src_share), (tgt, tgt_share)):
        prices = _region_prices(table, region)
        repl_share = 1 - local_share
        wru, rwru = (
            Decimal(prices["on_demand_write_per_million"]),
            Decimal(prices["on_demand_replicated_write_per_million"]),
        )
        wcu_h, rwcu_h = Decimal(prices["provisioned_wcu_hour"]), Decimal(prices["provisioned_replicated_wcu_hour"])
        od_w = units * local_share / MILLION * wru
        od_r = units * repl_share / MILLION * rwru
        pv_w = wcu * local_share * hours * wcu_h
        pv_r = wcu * repl_share * hours * rwcu_h
        label = f"{region}{' (derived prices)' if prices.get('derived') else ''}"
        steps.append(
            Step(
                f"{label} on-demand",
                f"{_n(units / MILLION, 2)} M units × ({_n(local_share * 100)} % written here × ${wru} + "
                f"{_n(repl_share * 100)} % replicated in × ${rwru}) per million",
                od_w + od_r,
                "USD",
            )
        )
        steps.append(
            Step(
                f"{label} provisioned",
                f"{_n(wcu, 2)} WCU × {_n(hours)} h × ({_n(local_share * 100)} % × ${wcu_h} + "
                f"{_n(repl_share * 100)} % replicated × ${rwcu_h}) per WCU-hour",
                pv_w + pv_r,
                "USD",
            )
        )
        regions.append(
            RegionCost(
                region=region,
                derived_prices=bool(prices.get("derived")),
                on_demand_writes=od_w,
                on_demand_replicated=od_r,
                provisioned_writes=pv_w,
                provisioned_replicated=pv_r,
            )
        )
    gb = writes * item_bytes / gb_bytes
    steps.append(
        Step(
            "Data replicated across regions per month",
            f"{_n(writes)} writes × {_n(item_bytes)} bytes ÷ {_n(gb_bytes)} bytes per GB",
            gb,
            "GB",
        )
    )
    out_src, out_tgt = _transfer_price(table, src, tgt), _transfer_price(table, tgt, src)
    transfer = gb * (src_share * out_src + tgt_share * out_tgt)
    steps.append(
        Step(
            "Cross-region transfer",
            f"{_n(gb, 1)} GB × ({_n(src_share * 100)} % {src}→{tgt} × ${out_src} + "
            f"{_n(tgt_share * 100)} % {tgt}→{src} × ${out_tgt}) per GB",
            transfer,
            "USD",
        )
    )
    estimate_ = CostEstimate(
        inputs=inputs,
        writes_per_month=writes,
        units_per_write=units_per_write,
        units_per_region_per_month=units,
        wcu_per_region=wcu,
        transfer_gb=gb,
        regions=tuple(regions),
        transfer=transfer,
        steps=tuple(steps),
    )
    od = " + ".join(_usd(r.on_demand) for r in regions)
    pv = " + ".join(_usd(r.provisioned) for r in regions)
    steps.append(
        Step("On-demand total", f"{od} + {_usd(transfer)} transfer", estimate_.on_demand_total, "USD"),
    )
    steps.append(
        Step("Provisioned total", f"{pv} + {_usd(transfer)} transfer", estimate_.provisioned_total, "USD"),
    )
    return CostEstimate(**{**estimate_.__dict__, "steps": tuple(steps)})
