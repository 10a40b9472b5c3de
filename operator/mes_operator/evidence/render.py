"""The package for people: a self-contained HTML page and a PDF with the same sections.

Both are rendered from the ``package.json`` object, so they can never say something the
canonical record does not. The first page shows the module, the version, the verdict and
the signatures (the operator's key; Part 11 approvals are QualificationApproval resources
made later, linked to the package digest, and so cannot be inside the package).
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

__all__ = ["Section", "render_html", "render_pdf", "sections"]

_ROW_HEADERS = ("id", "requirement", "expected", "actual", "result", "timestamp", "evidence")


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


class Section:
    """A titled table (or a line saying there is nothing)."""

    def __init__(
        self, title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], note: str = ""
    ) -> None:
        self.title = title
        self.headers = tuple(headers)
        self.rows = [tuple(row) for row in rows]
        self.note = note


def cover(document: Mapping[str, Any], key_id: str) -> list[tuple[str, str]]:
    """The first page's facts, in order."""
    header = document["header"]
    version = header["toVersion"]
    if header.get("fromVersion"):
        version = f"{header['fromVersion']} → {version}"
    approval = document.get("autoApproval")
    approvals = (
        f"auto-approved: category {approval['category']}, rule {approval['rule']} "
        f"v{approval['ruleVersion']}"
        if approval
        else "none at generation: Part 11 approvals are QualificationApproval resources "
        "linked to this package's digest (kubectl mes approve)"
    )
    return [
        ("Module", f"{header['namespace']}/{header['module']}"),
        ("Event", header["event"]),
        ("Version", version),
        ("Verdict", document["verdict"]),
        ("Qualification", header["qualification"]),
        ("Created", header["createdAt"]),
        ("Changed by", _text(header.get("changedBy"))),
        ("Operator", header["operatorVersion"]),
        ("Operator signature", f"ed25519 key {key_id} over manifest.sha256 (signature.dsse.json)"),
        ("Approvals", approvals),
        ("Previous package", _text(document.get("previousPackageDigest"))),
        ("Intended use", document["intendedUse"]),
        ("Risk", document["risk"]),
    ]


def sections(document: Mapping[str, Any]) -> list[Section]:
    """The sections after the cover, in reading order."""

    def rows(kind: str) -> list[list[str]]:
        return [[_text(row.get(h)) for h in _ROW_HEADERS] for row in document[kind]]

    baseline = document.get("baseline")
    return [
        Section(
            "Approved baseline",
            ("qualification", "package digest", "approved by"),
            [
                [
                    baseline["qualification"],
                    baseline["packageDigest"],
                    _text(baseline.get("approvedBy")),
                ]
            ]
            if baseline
            else [],
            "" if baseline else "none: this is the module's first approved record",
        ),
        Section("Installation qualification (IQ)", _ROW_HEADERS, rows("iq")),
        Section("Operational qualification (OQ)", _ROW_HEADERS, rows("oq")),
        Section(
            "Deviations from the baseline",
            ("id", "subject", "baseline", "actual", "disposition", "explanation"),
            [
                [
                    d["id"],
                    d["subject"],
                    _text(d["baseline"]),
                    _text(d["actual"]),
                    d["disposition"],
                    d["explanation"],
                ]
                for d in document["deviations"]
            ],
        ),
        Section(
            "Disruption and recovery",
            ("measure", "value"),
            [[k, _text(v)] for k, v in sorted((document.get("disruption") or {}).items())],
            "" if document.get("disruption") else "not applicable to this event",
        ),
        Section(
            "Traceability matrix",
            ("requirement", "tests", "result", "evidence"),
            [
                [
                    t["requirement"],
                    ", ".join(t["tests"]) or "—",
                    t["result"],
                    ", ".join(t["evidence"]) or "—",
                ]
                for t in document["traceability"]
            ],
        ),
        Section(
            "Requirements",
            ("id", "risk", "text"),
            [[r["id"], r["risk"], r["text"]] for r in document["requirements"]],
        ),
    ]


def render_html(document: Mapping[str, Any], key_id: str) -> bytes:
    """One self-contained page (no scripts, no external resources)."""
    e = html.escape
    header = document["header"]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Evidence: {e(header['module'])} {e(header['toVersion'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:1.5em}td,th{border:1px solid #999;padding:.2em .4em;vertical-align:top;"
        "font-size:.85em}th{background:#eee;text-align:left}.fail{color:#a00;font-weight:bold}"
        "</style></head><body>",
        f"<h1>IQ/OQ evidence: {e(header['module'])}</h1>",
        "<table>",
    ]
    for label, value in cover(document, key_id):
        parts.append(f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>")
    parts.append("</table>")
    for section in sections(document):
        parts.append(f"<h2>{e(section.title)}</h2>")
        if section.note:
            parts.append(f"<p>{e(section.note)}</p>")
        if not section.rows:
            parts.append("<p>none</p>" if not section.note else "")
            continue
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in section.headers) + "</tr>")
        for row in section.rows:
            cells = "".join(
                f'<td class="fail">{e(c)}</td>' if c == "fail" else f"<td>{e(c)}</td>" for c in row
            )
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts).encode()


_PAGE = landscape(A4)
_STYLES = getSampleStyleSheet()
_CELL = ParagraphStyle("cell", parent=_STYLES["BodyText"], fontSize=7, leading=8.5)
_HEAD = ParagraphStyle("head", parent=_CELL, fontName="Helvetica-Bold")
_COVER = ParagraphStyle("cover", parent=_STYLES["BodyText"], fontSize=11, leading=14)
_COVER_HEAD = ParagraphStyle("coverhead", parent=_COVER, fontName="Helvetica-Bold")


def _grid(data: list[list[Flowable]], widths: list[float]) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def render_pdf(document: Mapping[str, Any], key_id: str) -> bytes:
    """The same content as the HTML page; every page names the module, version and verdict."""
    header = document["header"]
    footer = (
        f"{header['namespace']}/{header['module']} {header['toVersion']} "
        f"({header['event']}) — verdict {document['verdict']}"
    )
    width = _PAGE[0] - 30 * mm
    story: list[Flowable] = [
        Paragraph(escape(f"IQ/OQ evidence: {header['module']}"), _STYLES["Title"]),
        _grid(
            [
                [Paragraph(escape(label), _COVER_HEAD), Paragraph(escape(value), _COVER)]
                for label, value in cover(document, key_id)
            ],
            [width * 0.22, width * 0.78],
        ),
        PageBreak(),
    ]
    for section in sections(document):
        story.append(Paragraph(escape(section.title), _STYLES["Heading2"]))
        if section.note:
            story.append(Paragraph(escape(section.note), _CELL))
        if section.rows:
            data: list[list[Flowable]] = [[Paragraph(escape(h), _HEAD) for h in section.headers]]
            data += [[Paragraph(escape(c), _CELL) for c in row] for row in section.rows]
            n = len(section.headers)
            story.append(_grid(data, [width / n] * n))
        elif not section.note:
            story.append(Paragraph("none", _CELL))
        story.append(Spacer(1, 4 * mm))

    def on_page(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(15 * mm, 8 * mm, footer)
        canvas.drawRightString(_PAGE[0] - 15 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=_PAGE,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"IQ/OQ evidence {header['module']} {header['toVersion']}",
        author="Holon operator",
        invariant=1,
    )
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()
