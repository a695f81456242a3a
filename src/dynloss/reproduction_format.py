"""The reproduction table's files: CSV, a Markdown copy and a styled HTML page with coloured
verdicts, and the reader of the thresholds studies' fit tables. The rows are made by
:mod:`dynloss.reproduction`."""
from __future__ import annotations

import csv
import html
import io as _io
from typing import Sequence

REPRODUCED, NOT_REPRODUCED, NOT_RUN = "reproduced", "not reproduced", "not run"

COLUMNS = ["claim", "study", "width", "quantity", "thesis", "comparator", "measured", "spread_sd", "ci_lo",
           "ci_hi", "n_seeds", "points_pooled", "n_runs", "n_diverged", "region_points", "at_A", "at_T",
           "verdict", "note", "scale", "source"]


def read_fit_csv(path) -> list[dict]:
    """The rows of a ``<study>_fit.csv`` as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def to_csv(rows: list[dict]) -> str:
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def summary(rows: Sequence[dict]) -> str:
    """``"3 reproduced, 5 not reproduced, 14 not run"``."""
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (REPRODUCED, NOT_REPRODUCED, NOT_RUN)}
    return ", ".join(f"{n} {v}" for v, n in counts.items())


#: the columns of the Markdown and HTML copies (the CSV has every column)
SHOWN = ["verdict", "claim", "thesis", "comparator", "measured", "spread_sd", "ci_lo", "ci_hi", "n_seeds",
         "points_pooled", "n_runs", "n_diverged", "at_A", "at_T", "note"]


def to_markdown(rows: list[dict], note: str = "") -> str:
    """A Markdown copy of the table (the sources of the comparators listed below it)."""
    def cell(v) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = [note, "", f"Verdicts: {summary(rows)}.", ""] if note else [f"Verdicts: {summary(rows)}.", ""]
    lines += ["| " + " | ".join(SHOWN) + " |", "|" + "---|" * len(SHOWN)]
    for r in rows:
        v = r["verdict"]
        r = dict(r, verdict={REPRODUCED: "**reproduced**", NOT_REPRODUCED: "**not reproduced**"}.get(v, v))
        lines.append("| " + " | ".join(cell(r[c]) for c in SHOWN) + " |")
    lines += ["", "Comparator sources (m = measured):", ""]
    lines += [f"- {cell(r['claim'])}: {cell(r['source'])}" for r in rows]
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; vertical-align: top; }
th { background: #f0f0f0; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.v-reproduced { background: #d4f4d4 !important; color: #145214; font-weight: bold; }
td.v-not-reproduced { background: #f8d0d0 !important; color: #7a1010; font-weight: bold; }
td.v-not-run { background: #eeeeee !important; color: #666; }
td.src { color: #555; font-size: 0.9em; max-width: 30em; }
"""

_NUMERIC = {"measured", "spread_sd", "ci_lo", "ci_hi", "n_seeds", "points_pooled", "n_runs", "n_diverged",
            "at_A", "at_T"}


def to_html(rows: list[dict], note: str = "") -> str:
    """A styled, standalone HTML page of the table, verdicts coloured."""
    cols = SHOWN + ["source"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            cls = ("v-" + r[c].replace(" ", "-")) if c == "verdict" else (
                "num" if c in _NUMERIC else ("src" if c == "source" else ""))
            cells.append(f"<td class='{cls}'>{html.escape(str(r[c]))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>dynloss reproduction</title>"
            f"<style>{_CSS}</style></head><body><h1>Reproduction of the thesis's claims</h1>"
            f"<p>{html.escape(note)}</p><p>Verdicts: {html.escape(summary(rows))}.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n")
