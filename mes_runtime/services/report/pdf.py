"""The batch report as PDF (reportlab, BSD licence: pure Python, no system library).

Same sections as the HTML page (:mod:`.sections`); plots are vector drawings of each tag's
min/max band. Every page carries the batch, its release status and the page number, so a
printed page is never anonymous.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Drawing, Polygon, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from mes_runtime.services.report.plots import envelope_points
from mes_runtime.services.report.record import BatchRecord, Series
from mes_runtime.services.report.sections import Section, sections, status_line

__all__ = ["render_pdf"]

_PAGE = landscape(A4)
_STYLES = getSampleStyleSheet()
_CELL = ParagraphStyle("cell", parent=_STYLES["BodyText"], fontSize=7, leading=8.5)
_MONO = ParagraphStyle("mono", parent=_CELL, fontName="Courier", fontSize=6.5)
_HEAD = ParagraphStyle("head", parent=_CELL, fontName="Helvetica-Bold")
_HASHY = {"digest", "result", "value"}
_MAX_ROWS = 2000  # a table longer than this is cut, saying how many rows were left out


def _cell(text: str, header: str) -> Paragraph:
    style = _MONO if header in _HASHY and _looks_hashed(text) else _CELL
    return Paragraph(escape(text), style)


def _looks_hashed(text: str) -> bool:
    tail = text.removeprefix("sha256:")
    return len(tail) >= 32 and all(c in "0123456789abcdef" for c in tail)


def _table(section: Section, width: float) -> list[Flowable]:
    out: list[Flowable] = []
    if section.note:
        out.append(Paragraph(escape(section.note), _CELL))
    if not section.rows:
        out.append(Paragraph("none", _CELL))
        return out
    rows = section.rows[:_MAX_ROWS]
    data = [[Paragraph(escape(h), _HEAD) for h in section.headers]]
    data += [[_cell(c, h) for c, h in zip(row, section.headers, strict=True)] for row in rows]
    n = len(section.headers)
    widths = [width / n] * n
    if n == 2:
        widths = [width * 0.25, width * 0.75]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    out.append(table)
    if len(section.rows) > _MAX_ROWS:
        left = len(section.rows) - _MAX_ROWS
        out.append(Paragraph(f"{left} more rows in the HTML report and the journal", _CELL))
    return out


def _plot(series: Series, width: float, height: float = 34 * mm) -> Drawing:
    pad = 40.0
    inner_w, inner_h = width - pad - 4, height - 16
    plot = envelope_points(series, width=inner_w, height=inner_h)
    drawing = Drawing(width, height)
    frame = Rect(pad, 12, inner_w, inner_h)
    frame.fillColor = colors.HexColor("#fafafa")
    frame.strokeColor = colors.HexColor("#bbbbbb")
    frame.strokeWidth = 0.5
    drawing.add(frame)
    band = [c for x, y in (*plot.upper, *reversed(plot.lower)) for c in (x + pad, y + 12)]
    if len(band) >= 6:
        drawing.add(Polygon(band, fillColor=colors.HexColor("#9ec3e6"), strokeColor=None))
    line = [c for x, y in plot.upper for c in (x + pad, y + 12)]
    if len(line) >= 4:
        drawing.add(PolyLine(line, strokeColor=colors.HexColor("#1f5f9e"), strokeWidth=0.6))
    drawing.add(String(2, inner_h + 6, f"{plot.y_high:.4g}", fontSize=6))
    drawing.add(String(2, 12, f"{plot.y_low:.4g}", fontSize=6))
    drawing.add(String(pad + 4, inner_h + 4, f"{series.tag} [{series.unit}]", fontSize=7))
    drawing.add(String(width - 4, 2, f"{plot.seconds / 60:.1f} min", fontSize=6, textAnchor="end"))
    return drawing


def render_pdf(record: BatchRecord) -> bytes:
    buffer = io.BytesIO()
    margin = 12 * mm
    doc = SimpleDocTemplate(
        buffer,
        pagesize=_PAGE,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin + 4 * mm,
        bottomMargin=margin,
        title=f"Batch record {record.batch_id}",
        author="Holon MES",
        subject=status_line(record),
    )
    width = _PAGE[0] - 2 * margin
    story: list[Flowable] = [
        Paragraph(escape(f"Batch record {record.batch_id}"), _STYLES["Title"]),
        Paragraph(escape(status_line(record)), _STYLES["Heading3"]),
    ]
    for section in sections(record):
        story.append(Paragraph(escape(section.title), _STYLES["Heading2"]))
        story.extend(_table(section, width))
        if section.title == "Process values":
            for series in record.series:
                story.append(Spacer(1, 2 * mm))
                story.append(_plot(series, width))
    footer = f"Batch {record.batch_id} - {status_line(record)}"

    def _on_page(canvas: Canvas, document: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(margin, _PAGE[1] - margin, footer)
        canvas.drawRightString(_PAGE[0] - margin, _PAGE[1] - margin, f"page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=_on_page, onLaterPages=_on_page)
    return buffer.getvalue()
