"""The batch report as one self-contained HTML page (inline CSS and SVG plots: no asset,
no script, prints as it shows)."""

from __future__ import annotations

from html import escape

from mes_runtime.services.report.plots import svg
from mes_runtime.services.report.record import BatchRecord
from mes_runtime.services.report.sections import Section, sections, status_line

__all__ = ["render_html"]

_CSS = """
body{font-family:sans-serif;font-size:13px;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:15px;margin-top:22px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}.status{font-weight:bold;padding:6px;background:#fff3cd}
.status.released{background:#d4edda}.hash{font-family:monospace;word-break:break-all}
.note{color:#666}
"""


def _table(section: Section) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in section.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
        for row in section.rows
    )
    note = f'<p class="note">{escape(section.note)}</p>' if section.note else ""
    if not section.rows:
        return note or '<p class="note">none</p>'
    return f"{note}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(record: BatchRecord) -> str:
    parts = []
    for section in sections(record):
        ident = section.title.lower().replace(" ", "-")
        parts.append(f'<section id="{ident}"><h2>{escape(section.title)}</h2>')
        parts.append(_table(section))
        if section.title == "Process values":
            parts.extend(svg(series) for series in record.series)
        parts.append("</section>")
    status_class = "status released" if record.released else "status"
    title = f"Batch record {record.batch_id}"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="{status_class}">{escape(status_line(record))}</p>'
        f"{''.join(parts)}"
        f'<p class="note hash">Chain head hash {escape(record.verification.head_hash)}</p>'
        "</body></html>"
    )
