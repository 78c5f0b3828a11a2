"""The pack's one readable page set: counts, the approvals timeline, findings (fpdf2).

fpdf2 is pure Python (no system libraries, unlike WeasyPrint) and draws tables natively;
its built-in Helvetica covers Latin-1, so other characters are replaced rather than failing.
"""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos


def _text(value) -> str:
    return str(value if value is not None else "").encode("latin-1", "replace").decode("latin-1")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


class _Summary(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 8, _text(f"Page {self.page_no()} of {{nb}}"), align="C")


def _heading(doc: FPDF, title: str) -> None:
    doc.ln(3)
    doc.set_font("Helvetica", "B", 12)
    doc.cell(0, 8, _text(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("Helvetica", size=9)


def _table(doc: FPDF, header: list[str], rows: list[list], widths: tuple[int, ...] | None = None) -> None:
    if not rows:
        doc.cell(0, 6, "None in this period.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return
    with doc.table(col_widths=widths, text_align="LEFT", line_height=5) as table:
        head = table.row()
        for h in header:
            head.cell(_text(h))
        for values in rows:
            row = table.row()
            for v in values:
                row.cell(_text(v))


def summary_render(*, pack, created_at, counts, gates, findings, subjects, chain) -> bytes:
    doc = _Summary(orientation="L", format="A4")
    doc.set_title(_text(f"Report pack {pack.uid}"))
    doc.set_creator("cutover control plane")
    doc.set_creation_date(created_at)
    doc.alias_nb_pages()
    doc.add_page()
    doc.set_font("Helvetica", "B", 16)
    doc.cell(0, 10, _text(f"Cutover report pack: {pack.environment.name}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    doc.set_font("Helvetica", size=10)
    lines = [
        f"Period: {_when(pack.period_start)} to {_when(pack.period_end)}",
        f"Region: {pack.region or 'both regions'}",
        f"Requested by: {pack.requested_by.display_name} ({pack.requested_by.username}) at {_when(pack.requested_at)}",
        f"Created: {_when(created_at)}; pack {pack.uid}",
        f"Audit entries in the period: {chain['count']} (#{chain['first_id'] or '-'} to #{chain['last_id'] or '-'})",
        "Each file's SHA-256 and the signature are in manifest.json; check with `manage.py report_verify`.",
    ]
    for line in lines:
        doc.cell(0, 6, _text(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    _heading(doc, "Transactions per region (sum of the hourly rows in transaction_counts.csv)")
    _table(
        doc,
        ["Region", "Processed (originated here)", "Stored in the replica", "Replicated in", "Findings"],
        [[c["region"], c["processed"], c["stored"], c["replicated_in"], c["findings"]] for c in counts],
    )

    _heading(doc, "Approvals timeline")
    rows = []
    for gate, approvals in gates:
        weights = ", ".join(f"{r} {w}%" for r, w in sorted(gate.target_weights.items()))
        people = "; ".join(
            f"{a.get_decision_display()} by {(a.identity or {}).get('name', '')} "
            f"<{(a.identity or {}).get('email', '')}> {_when(a.created_at)}" + (" (override)" if a.override else "")
            for a in approvals
        )
        rows.append(
            [_when(gate.arrived_at), gate.execution.name, f"{gate.state_name} ({weights})", gate.status, people or "-"]
        )
    _table(doc, ["Arrived", "Execution", "Gate (target weights)", "Outcome", "Decisions"], rows, (30, 40, 70, 22, 115))

    _heading(doc, "Reconciliation findings")
    open_count = sum(1 for f in findings if f.status != "resolved")
    doc.cell(
        0,
        6,
        _text(f"{len(findings)} found, {open_count} open, {len(findings) - open_count} resolved."),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    _table(
        doc,
        ["Detected", "Kind", "Status", "Summary", "Resolution"],
        [
            [_when(f.detected_at), f.get_kind_display(), f.get_status_display(), f.summary, f.resolution_note or "-"]
            for f in findings
        ],
        (30, 40, 25, 110, 72),
    )
    if subjects:
        _heading(doc, f"Data subjects (transactions held in {pack.region})")
        _table(doc, ["File", "Subject id", "Transactions"], [[n, s, r] for n, (s, r) in sorted(subjects.items())])
    return bytes(doc.output())
