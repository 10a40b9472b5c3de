"""``python -m bench.readme [--check]``: the README's benchmark table, generated from the
recorded figures (``bench/recorded.json``) between two marker comments.

The table was written by hand and drifted from what the benchmarks printed; now a figure
is written once, by ``python -m bench --record``, and this module renders it, so that
``tests/bench`` can check the README says exactly what the recorded file does. Rendering
and splicing are pure; ``main`` reads and writes the files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.recorded import RECORDED_PATH, Recorded, load
from bench.results import format_number

__all__ = ["END", "README_PATH", "START", "extract_table", "main", "render_table", "splice"]

README_PATH = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"

HEADER = (
    "| benchmark | result | in-run baseline | goal | measured |",
    "|---|---|---|---|---|",
)


def _cell(text: str) -> str:
    """Markdown-safe: a table cell is one line and ``|`` ends it."""
    return " ".join(text.split()).replace("|", "\\|")


def _number(value: float) -> str:
    """As the run's table prints it, but a whole number without ".0": a recorded 89 ms
    or a goal of 50 ms claims no tenth."""
    return f"{value:,.0f}" if float(value).is_integer() else format_number(value)


def _goal(figure: Recorded) -> str:
    if figure.goal is None:
        return "report"
    sign = "≥" if figure.goal.higher_is_better else "≤"
    verdict = "met" if figure.goal.met(figure.value) else "**not met**"
    return f"{sign} {_number(figure.goal.threshold)} {figure.unit}: {verdict}"


def _baseline(figure: Recorded) -> str:
    if figure.baseline is None:
        return "-"
    ratio = "" if figure.ratio is None else f" ({figure.ratio:.3g}x)"
    label = f"{figure.baseline_label}: " if figure.baseline_label else ""
    return f"{label}{_number(figure.baseline)} {figure.unit}{ratio}"


def _line(figure: Recorded) -> str:
    result = f"{_number(figure.value)} {figure.unit}"
    if figure.note:
        result += f"; {figure.note}"
    cells = (
        f"`{figure.benchmark}`: {figure.metric}",
        result,
        _baseline(figure),
        _goal(figure),
        f"{figure.date}, {figure.machine}" if figure.machine else figure.date,
    )
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def render_table(recorded: Sequence[Recorded]) -> str:
    """One Markdown table line per recorded row, in the file's order."""
    return "\n".join([*HEADER, *(_line(figure) for figure in recorded)])


def _bounds(text: str) -> tuple[int, int]:
    if text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(f"expected one {START} and one {END}")
    start, end = text.index(START) + len(START), text.index(END)
    if end < start:
        raise ValueError(f"{END} comes before {START}")
    return start, end


def extract_table(text: str) -> str:
    """What stands between the markers, without the surrounding blank lines."""
    start, end = _bounds(text)
    return text[start:end].strip("\n")


def splice(text: str, table: str) -> str:
    """``text`` with everything between the markers replaced by ``table`` (blank lines
    around it, so that Markdown sees a table and not the comments' continuation)."""
    start, end = _bounds(text)
    return f"{text[:start]}\n\n{table}\n\n{text[end:]}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.readme",
        description="Regenerate the README's benchmark table from the recorded figures.",
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if the table is stale"
    )
    parser.add_argument("--readme", type=Path, default=README_PATH, metavar="PATH")
    parser.add_argument("--recorded", type=Path, default=RECORDED_PATH, metavar="PATH")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        text = args.readme.read_text(encoding="utf-8")
        updated = splice(text, render_table(load(args.recorded)))
    except (OSError, ValueError) as error:
        print(f"python -m bench.readme: {error}", file=sys.stderr)
        return 2
    if updated == text:
        print(f"{args.readme}: the benchmark table is up to date")
        return 0
    if args.check:
        print(
            f"{args.readme}: the benchmark table differs from {args.recorded}; "
            "run `python -m bench.readme`",
            file=sys.stderr,
        )
        return 1
    args.readme.write_text(updated, encoding="utf-8")
    print(f"{args.readme}: benchmark table regenerated from {args.recorded}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
