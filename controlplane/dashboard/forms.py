from __future__ import annotations

from decimal import Decimal

from django import forms

from controlplane.pricing.dynamodb import DEFAULT_TPS, MAX_GSIS, MAX_ITEM_KB, MAX_TPS

MAX_TPS_POINTS = 6


class CostForm(forms.Form):
    """Inputs of the cost panel. Read from the query string: an estimate changes nothing."""

    tps = forms.CharField(
        label="Transactions per second",
        initial=", ".join(str(t) for t in DEFAULT_TPS),
        max_length=200,
        help_text=f"Sustained, comma-separated: up to {MAX_TPS_POINTS} values from 1 to {MAX_TPS:,}.",
    )
    item_size_kb = forms.DecimalField(
        label="Item size (KB)",
        initial=Decimal(1),
        min_value=Decimal("0.001"),
        max_value=MAX_ITEM_KB,
        max_digits=9,
        decimal_places=3,
        help_text="Each write is billed per started KB; DynamoDB items are at most 400 KB.",
    )
    writes_per_transaction = forms.IntegerField(
        label="Item writes per transaction",
        initial=1,
        min_value=1,
        max_value=100,
        help_text="E.g. the transaction item plus an idempotency record = 2.",
    )
    gsi_count = forms.IntegerField(
        label="Global secondary indexes",
        initial=0,
        min_value=0,
        max_value=MAX_GSIS,
        help_text="Each index a write touches is billed again, in each region.",
    )
    target_share_percent = forms.DecimalField(
        label="Writes taken by the target region (%)",
        initial=Decimal(100),
        min_value=Decimal(0),
        max_value=Decimal(100),
        max_digits=5,
        decimal_places=2,
        help_text="100 after the cutover, 0 before it. Sets which region bills replicated writes and which way data flows.",
    )
    utilisation_percent = forms.DecimalField(
        label="Provisioned utilisation (%)",
        initial=Decimal(100),
        min_value=Decimal(1),
        max_value=Decimal(100),
        max_digits=5,
        decimal_places=2,
        help_text="100 is the floor (capacity exactly equal to the load); autoscaling usually targets about 70.",
    )

    def clean_tps(self) -> list[Decimal]:
        raw = self.cleaned_data["tps"]
        parts = [p.strip().replace("_", "") for p in raw.replace(";", ",").split(",") if p.strip()]
        if not parts:
            raise forms.ValidationError("Enter at least one TPS value.")
        if len(parts) > MAX_TPS_POINTS:
            raise forms.ValidationError(f"Enter at most {MAX_TPS_POINTS} TPS values (you entered {len(parts)}).")
        values = []
        for p in parts:
            try:
                value = Decimal(p)
            except ArithmeticError:
                raise forms.ValidationError(f"“{p[:20]}” is not a number.") from None
            if not value.is_finite() or value < 1 or value > MAX_TPS:
                raise forms.ValidationError(f"{p[:20]} is outside 1 to {MAX_TPS:,} TPS.")
            values.append(value)
        return sorted(set(values))
