"""The cost panel page: defaults at 1K/5K/10K TPS, the arithmetic shown, bad input refused clearly."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def get(client, user, query: str = ""):
    client.force_login(user)
    return client.get(reverse("cost-panel") + query)


@pytest.mark.parametrize("who", ["engineer", "approver1", "auditor"])
def test_every_role_sees_the_defaults_at_1k_5k_10k_tps(request, client, who):
    response = get(client, request.getfixturevalue(who))
    assert response.status_code == 200
    html = response.content.decode()
    for tps in ("1,000", "5,000", "10,000"):
        assert f"{tps} TPS" in html
    # Hand-computed from the price table (tests/test_cost_arithmetic.py).
    assert 'data-testid="od-eu-central-1-5000">$10,019.25<' in html
    assert 'data-testid="od-us-east-1-5000">$8,212.50<' in html
    assert 'data-testid="pv-eu-central-1-5000">$2,894.45<' in html
    assert 'data-testid="transfer-5000">$269.11<' in html
    assert 'data-testid="od-total-10000">$37,001.71<' in html
    # The price table is on the page with its date, sources, and the derived label.
    assert 'data-testid="price-date">2026-11-01<' in html
    assert "https://aws.amazon.com/dynamodb/pricing/on-demand/" in html
    assert "derived price" in html


def test_the_arithmetic_is_shown_step_by_step(client, engineer):
    html = get(client, engineer).content.decode()
    assert 'data-testid="steps-5000"' in html
    assert "13,140,000,000 writes × 1 unit(s) × (1 table + 0 GSI)" in html
    assert "730 h × 3,600 s" in html
    assert "5,000.00 WCU × 730 h" in html


def test_custom_inputs_change_the_figures(client, engineer):
    html = get(
        client,
        engineer,
        "?tps=5000&item_size_kb=1.5&writes_per_transaction=2&gsi_count=1"
        "&target_share_percent=100&utilisation_percent=100",
    ).content.decode()
    # 2 units per write × 2 writes × 2 (table + GSI) = 8 × the 1 KB figure.
    assert 'data-testid="od-eu-central-1-5000">$80,154.00<' in html
    assert "1.500 KB rounded up to whole 1 KB units" in html


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?tps=abc", "tps", "is not a number"),
        ("?tps=0", "tps", "outside 1 to 1,000,000 TPS"),
        ("?tps=1,2,3,4,5,6,7", "tps", "at most 6 TPS values"),
        ("?tps=", "tps", "This field is required"),
        ("?tps=1e9", "tps", "outside 1 to 1,000,000"),
        ("?tps=NaN", "tps", "outside"),
        ("?tps=5000&item_size_kb=401", "item_size_kb", "less than or equal to 400"),
        ("?tps=5000&item_size_kb=-1", "item_size_kb", "greater than or equal to 0.001"),
        ("?tps=5000&item_size_kb=", "item_size_kb", "This field is required"),
        ("?tps=5000&item_size_kb=1&writes_per_transaction=0", "writes_per_transaction", "greater than or equal to 1"),
        ("?tps=5000&item_size_kb=1&writes_per_transaction=1&gsi_count=21", "gsi_count", "less than or equal to 20"),
        ("?tps=5000&item_size_kb=1&writes_per_transaction=1&gsi_count=x", "gsi_count", "Enter a whole number"),
        (
            "?tps=5000&item_size_kb=1&writes_per_transaction=1&gsi_count=0&target_share_percent=101",
            "target_share_percent",
            "less than or equal to 100",
        ),
        (
            "?tps=5000&item_size_kb=1&writes_per_transaction=1&gsi_count=0&target_share_percent=50"
            "&utilisation_percent=0",
            "utilisation_percent",
            "greater than or equal to 1",
        ),
    ],
)
def test_bad_input_is_a_400_with_a_clear_message_and_the_inputs_kept(client, engineer, query, field, message):
    response = get(client, engineer, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'data-testid="error-{field}"' in html
    assert message in html
    assert 'data-testid="cost-errors"' in html
    assert 'data-testid="cost-summary"' not in html  # nothing half-computed
    if "tps=abc" in query:
        assert 'value="abc"' in html  # what was typed is still in the form


def test_inputs_left_out_of_the_query_keep_their_defaults(client, engineer):
    response = get(client, engineer, "?tps=5000")
    assert response.status_code == 200
    assert 'data-testid="od-eu-central-1-5000">$10,019.25<' in response.content.decode()


def test_duplicate_tps_values_are_computed_once_in_order(client, engineer):
    html = get(
        client,
        engineer,
        "?tps=10000, 1000,1000&item_size_kb=1&writes_per_transaction=1&gsi_count=0"
        "&target_share_percent=100&utilisation_percent=100",
    ).content.decode()
    assert html.index("1,000 TPS") < html.index("10,000 TPS")
    assert html.count('data-testid="transfer-1000"') == 1
