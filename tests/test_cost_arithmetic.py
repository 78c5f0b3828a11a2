"""The cost panel's arithmetic against figures computed by hand from the price table.

Hand computation (dynamodb_prices.json, 2026-11): a month is 730 h = 2,628,000 s.
5,000 TPS × 1 write × 2,628,000 s = 13,140,000,000 writes = 13,140 million write units per region.
  eu-central-1 on-demand: 13,140 × $0.7625 = $10,019.25;  us-east-1: 13,140 × $0.625 = $8,212.50
  provisioned: 5,000 WCU × 730 h × $0.000793 = $2,894.45;  × $0.00065 = $2,372.50
  transfer: 13.14e9 × 1,024 B = 13,455.36 GB (10^9 B) × $0.02 = $269.1072
"""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from controlplane.pricing.dynamodb import CostInputs, PriceTableError, estimate, money, price_table


def regions(e):
    return {r.region: r for r in e.regions}


@pytest.mark.parametrize(
    ("tps", "us_od", "eu_od", "us_pv", "eu_pv", "transfer"),
    [
        (1_000, "1642.50", "2003.85", "474.50", "578.89", "53.82"),
        (5_000, "8212.50", "10019.25", "2372.50", "2894.45", "269.11"),
        (10_000, "16425.00", "20038.50", "4745.00", "5788.90", "538.21"),
    ],
)
def test_the_default_tps_points_match_hand_computed_figures(tps, us_od, eu_od, us_pv, eu_pv, transfer):
    e = estimate(CostInputs(tps=D(tps)))
    r = regions(e)
    assert money(r["us-east-1"].on_demand) == D(us_od)
    assert money(r["eu-central-1"].on_demand) == D(eu_od)
    assert money(r["us-east-1"].provisioned) == D(us_pv)
    assert money(r["eu-central-1"].provisioned) == D(eu_pv)
    assert money(e.transfer) == D(transfer)
    assert money(e.on_demand_total) == money(D(us_od) + D(eu_od) + e.transfer)


def test_5k_tps_replicated_writes_cost_thousands_not_hundreds():
    e = estimate(CostInputs(tps=D(5000)))
    assert e.writes_per_month == D(13_140_000_000)
    # After the cutover every write lands in eu-central-1 and is replicated into us-east-1.
    assert money(e.replicated_on_demand) == D("8212.50")
    assert e.replicated_on_demand > 1000
    # Before it (every write in us-east-1), eu-central-1 bills them as replicated writes.
    before = estimate(CostInputs(tps=D(5000), target_share_percent=D(0)))
    assert money(before.replicated_on_demand) == D("10019.25")


def test_item_size_rounds_up_to_whole_kilobytes_per_write():
    e = estimate(CostInputs(tps=D(5000), item_size_kb=D("1.5")))
    assert e.units_per_write == 2
    assert money(regions(e)["us-east-1"].on_demand) == D("16425.00")  # 2 × 8,212.50
    # Transfer follows the bytes, not the units: 1.5 × 1,024 B per write.
    assert money(e.transfer) == money(D(13_140_000_000) * D(1536) / D(10**9) * D("0.02"))
    assert estimate(CostInputs(tps=D(1), item_size_kb=D("0.1"))).units_per_write == 1


def test_each_gsi_and_each_extra_write_multiplies_the_bill():
    base = regions(estimate(CostInputs(tps=D(5000))))["eu-central-1"].on_demand
    two_gsis = estimate(CostInputs(tps=D(5000), gsi_count=2))
    assert regions(two_gsis)["eu-central-1"].on_demand == base * 3
    assert two_gsis.wcu_per_region == D(15000)
    three_writes = estimate(CostInputs(tps=D(5000), writes_per_transaction=3))
    assert regions(three_writes)["eu-central-1"].on_demand == base * 3
    # GSIs are local: transfer ships the item once.
    assert money(two_gsis.transfer) == D("269.11")
    assert money(three_writes.transfer) == money(D("269.1072") * 3)


def test_provisioned_capacity_is_set_above_the_load():
    e = estimate(CostInputs(tps=D(5000), utilisation_percent=D(70)))
    assert e.wcu_per_region.quantize(D("0.01")) == D("7142.86")
    assert money(regions(e)["us-east-1"].provisioned) == money(D(5000) / D("0.7") * 730 * D("0.00065"))


def test_the_arithmetic_is_shown_step_by_step_and_ends_at_the_totals():
    e = estimate(CostInputs(tps=D(5000)))
    labels = [s.label for s in e.steps]
    assert labels[0] == "Seconds in a month"
    assert "eu-central-1 (derived prices) on-demand" in labels
    assert e.steps[-2].label == "On-demand total" and e.steps[-2].value == e.on_demand_total
    assert e.steps[-1].formula.startswith("$2,372.50 + $2,894.45 + $269.11")


def test_the_price_table_is_dated_and_sourced():
    table = price_table()
    assert table["as_of"] and table["currency"] == "USD"
    for region, prices in table["regions"].items():
        assert prices["sources"] and all(s.startswith("https://") for s in prices["sources"]), region
    assert table["regions"]["eu-central-1"]["derived"] is True  # labelled until checked


def test_a_region_missing_from_the_price_table_is_a_clear_error(tmp_path):
    with pytest.raises(PriceTableError, match="no prices for ap-south-1"):
        estimate(CostInputs(tps=D(1), target_region="ap-south-1"))
    broken = json.loads(json.dumps(price_table(), default=str))
    del broken["transfer_per_gb"]["eu-central-1->us-east-1"]
    with pytest.raises(PriceTableError, match="transfer price"):
        estimate(CostInputs(tps=D(1)), table=json.loads(json.dumps(broken), parse_float=D))
