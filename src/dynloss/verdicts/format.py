"""The reproduction table's files: CSV (every column), a Markdown copy and a styled HTML page with
coloured verdicts. The rows are made by :mod:`dynloss.verdicts.table`."""
from __future__ import annotations

import csv
import html
import io as _io
from typing import Sequence

from .claims import BEYOND_SOURCE
from .stats import BEYOND_OUTCOMES, EXCEEDS, INCONCLUSIVE, NOT_REPRODUCED, NOT_RUN, PARTLY, REPRODUCED
from .table import COLUMNS


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
    """``"3 reproduced, 1 reproduced - exceeds, ... (of 12 distinct measurements); 4 rows partly run"``: each
    outcome counted once per measurement (rows that read the same measurement, column ``measurement``,
    count once; docs/verdicts.md), then how many rows ran on less than the thesis's protocol."""
    order = (REPRODUCED, EXCEEDS, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN)

    def ident(i: int, r: dict):
        return r.get("measurement") or f"row{i}"

    # rows all beyond the thesis: their own words (holds / does not hold / undecided)
    words = dict(BEYOND_OUTCOMES) if rows and all(is_beyond(r) for r in rows) else {}
    counts = [f"{len({ident(i, r) for i, r in enumerate(rows) if r['outcome'] == v})} {words.get(v, v)}"
              for v in order]
    distinct = len({ident(i, r) for i, r in enumerate(rows)})
    partly = sum(str(r["verdict"]).startswith(PARTLY) for r in rows)
    return (", ".join(counts) + f" ({distinct} distinct measurements in {len(rows)} rows); "
            f"{partly} of these rows partly run")


def shown(rows: Sequence[dict]) -> list[dict]:
    """The rows a Markdown or HTML copy lists (``listed`` "no": named in :func:`unlisted_line` instead)."""
    return [r for r in rows if r.get("listed") != "no"]


def unlisted_line(rows: Sequence[dict]) -> str:
    """``"Not run in this campaign (3 claims): a; b; c."``, or "" when every row is listed."""
    out = [r["claim"] for r in rows if r.get("listed") == "no"]
    return f"Not run in this campaign ({len(out)} claims): {'; '.join(out)}." if out else ""


def holm_line(rows: Sequence[dict], alpha: float = 0.05) -> str:
    """The family-wise statement under the table: Holm over the accuracy rows with an interval."""
    fam = [r for r in rows if r.get("holm")]
    decided = [r for r in fam if r["holm"] in ("kept", "not kept")]
    lost = [r["claim"] for r in decided if r["holm"] == "not kept"]
    line = (f"Family-wise (Holm at {alpha:g} over the {len(fam)} accuracy rows with an interval, each row's p-value "
            f"that of the outcome it leans to): {len(decided) - len(lost)} of the {len(decided)} decided rows keep "
            "their outcome")
    line += ("; not kept: " + "; ".join(lost)) if lost else ""
    return line + ". Per-row outcomes are the 95 % rules' own."


#: the columns of the Markdown and HTML copies (the CSV has every column)
SHOWN = ["verdict", "claim", "thesis", "band", "estimate", "ci_lo", "ci_hi", "interval", "n_seeds", "at_A", "at_T",
         "chosen_on", "seeds_to_decide", "holm", "measurement", "data", "note"]


def _cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[dict], note: str = "") -> str:
    """A Markdown copy of the table (the thesis source of each claim listed below it)."""
    extra = unlisted_line(rows)
    lines = ([note, ""] if note else []) + [f"Outcomes: {summary(shown(rows))}.", "", holm_line(rows), ""]
    lines += [extra, ""] if extra else []
    rows = shown(rows)
    thesis, beyond = [r for r in rows if not is_beyond(r)], [r for r in rows if is_beyond(r)]
    if thesis:
        lines += _md_rows(thesis) + ["", "Sources in the thesis:", ""]
        lines += [f"- {_cell(r['claim'])}: {_cell(r['source'])}" for r in thesis]
    if beyond:
        lines += ["", "### Beyond the thesis", "", BEYOND_LINE, ""] + _md_rows(beyond)
    return "\n".join(lines) + "\n"


BEYOND_LINE = ("Claims of this project's own, along the thesis's own future lines (its section 8.1), pre-registered "
               "in docs/verdicts.md before any of their runs: the same rules, the verdicts read holds / does not "
               "hold / undecided for reproduced / not reproduced / inconclusive (the outcome column keeps the shared "
               "words).")


def is_beyond(r: dict) -> bool:
    """Whether a row is a claim beyond the thesis (:data:`BEYOND_SOURCE`)."""
    return str(r.get("source", "")).startswith(BEYOND_SOURCE)


def _md_rows(rows: Sequence[dict]) -> list[str]:
    bold = (REPRODUCED, EXCEEDS, NOT_REPRODUCED, "holds", "holds (exceeds)", "does not hold")
    out = ["| " + " | ".join(SHOWN) + " |", "|" + "---|" * len(SHOWN)]
    for r in rows:
        v = str(r["verdict"])
        r = dict(r, verdict=f"**{v}**" if v in bold else v)
        out.append("| " + " | ".join(_cell(r[c]) for c in SHOWN) + " |")
    return out


_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; vertical-align: top; }
th { background: #f0f0f0; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.v-reproduced { background: #d4f4d4 !important; color: #145214; font-weight: bold; }
td.v-not-reproduced { background: #f8d0d0 !important; color: #7a1010; font-weight: bold; }
td.v-inconclusive { background: #fdf3c8 !important; color: #6a5200; }
td.v-not-run { background: #eeeeee !important; color: #666; }
td.src { color: #555; font-size: 0.9em; max-width: 30em; }
"""

_NUMERIC = {"estimate", "ci_lo", "ci_hi", "n_seeds", "at_A", "at_T", "seeds_to_decide"}


def _verdict_class(r: dict) -> str:
    out = str(r["outcome"])
    return "v-" + ("reproduced" if out in (REPRODUCED, EXCEEDS) else out.replace(" ", "-"))


def to_html(rows: list[dict], note: str = "") -> str:
    """A styled, standalone HTML page of the table, verdicts coloured by the data's outcome."""
    cols = SHOWN + ["source"]
    extra, rows = unlisted_line(rows), shown(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            cls = (_verdict_class(r) if c == "verdict"
                   else ("num" if c in _NUMERIC else ("src" if c == "source" else "")))
            cells.append(f"<td class='{cls}'>{html.escape(str(r[c]))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>dynloss reproduction</title>"
            f"<style>{_CSS}</style></head><body><h1>Reproduction of the thesis's claims</h1>"
            f"<p>{html.escape(note)}</p><p>Outcomes: {html.escape(summary(rows))}.</p>"
            f"<p>{html.escape(holm_line(rows))}</p><p>{html.escape(extra)}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n")
