"""The published reproduction (``snakemake publish``): the reproduction table (CSV and Markdown), the
threshold fit tables, every figure as PNG and the reduced data behind them (``data/``, compressed
NetCDF: :func:`reduce`) copied into one folder (``docs/reproduction/`` by default) with an index
``README.md`` that stamps each item with its scale, commit and date.

A publication carries a label (the scale and a hash of the configuration that made it); publishing
another label into the same folder is refused unless asked (``overwrite``), so a quick or tiny run
never replaces the committed paper-settings publication by accident.

A figure's stamp is the one drawn on it (stored in the PNG's ``Comment`` text chunk by
``figures.common.save``: the scale, commit and date of the data it plots); a table's is the scale of
the run, the commit of the code that publishes it and the table file's modification date.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

from .. import files, provenance

#: the marker line of an index README that holds the publication's label
LABEL_MARK = "<!-- publication: "


class PublishError(ValueError):
    """A publication that would replace one of another label without ``overwrite``."""


def existing_label(out: str | os.PathLike) -> Optional[str]:
    """The label of the publication in ``out`` (``None``: none there, or none recorded)."""
    index = Path(out) / "README.md"
    if not index.is_file():
        return None
    for line in index.read_text().splitlines():
        if line.startswith(LABEL_MARK):
            return line[len(LABEL_MARK):].rsplit(" -->", 1)[0]
    return None


def reduce(ds, final_only: bool):
    """The part of a study dataset a publication keeps: with ``final_only`` (a contour study, whose
    figure and claims read the final metrics per (width, A, T, seed): ``StudyKind.publishes_final_only``)
    the variables without a step dimension; else the whole dataset (curves and dynamics figures draw
    their traces; thresholds datasets are thinned already)."""
    if not final_only:
        return ds
    sub = ds[[n for n, v in ds.data_vars.items() if "step" not in v.dims]]
    return sub.drop_vars([c for c in sub.coords if "step" in sub[c].dims])


def png_stamp(path: str | os.PathLike) -> Optional[str]:
    """The stamp stored in a figure PNG by ``figures.common.save``, or ``None``."""
    from PIL import Image

    with Image.open(path) as im:
        return (getattr(im, "text", {}) or {}).get("Comment") or None


def file_stamp(path: str | os.PathLike, scale: str) -> str:
    """``"scale S | commit C | DATE"`` for a table: this checkout's commit, the file's date."""
    sha, _, dirty = provenance.git_commit().partition("-")
    mtime = _dt.datetime.fromtimestamp(os.path.getmtime(path), _dt.timezone.utc).date().isoformat()
    return f"scale {scale} | commit {sha[:7]}{'-' + dirty if dirty else ''} | {mtime}"


def _copy(src: Path, dst: Path) -> None:
    with files.atomic_path(dst, suffix=dst.suffix) as tmp:
        shutil.copyfile(src, tmp)


def publish(items: Sequence[str | os.PathLike], out: str | os.PathLike, scale: str, label: str = "",
            overwrite: bool = False) -> Path:
    """Copy tables, figure PNGs and data into ``out`` (figures under ``out/figures``, data under
    ``out/data``) and write its index.

    Args:
        items: files to publish: ``.csv``/``.md`` tables, ``.png`` figures, ``.nc`` reduced data.
        out: the publication folder (created if missing; other files in it are left alone).
        scale: the scale of the run, for the tables' stamps.
        label: what makes this publication (scale and configuration); recorded in the index.
        overwrite: replace a publication of another label.

    Returns:
        The path of the index ``README.md``.

    Raises:
        PublishError: ``out`` holds a publication of another label and ``overwrite`` is false.
    """
    out = Path(out)
    have = existing_label(out)
    if have is not None and label and have != label and not overwrite:
        raise PublishError(f"{out}: holds the publication '{have}', not '{label}'; publish elsewhere (config key "
                           "publish_dir) or replace it with --config publish_overwrite=True")
    rows, verdicts = [], ""
    for item in map(Path, items):
        if not item.is_file():
            raise FileNotFoundError(f"items: missing {str(item)!r}; build it first")
        if item.suffix == ".png":
            dst = out / "figures" / item.name
            stamp = png_stamp(item) or file_stamp(item, scale)
        elif item.suffix == ".nc":
            dst = out / "data" / item.name
            stamp = file_stamp(item, scale)
        elif item.suffix in (".csv", ".md"):
            dst = out / item.name
            stamp = file_stamp(item, scale)
            if item.name == "reproduction.md":
                verdicts = item.read_text()
        else:
            raise ValueError(f"items: {str(item)!r} is not a .csv, .md, .png or .nc file")
        _copy(item, dst)
        rows.append((dst.relative_to(out).as_posix(), stamp))
    lines = ["# dynloss: the published reproduction", "", f"{LABEL_MARK}{label} -->", "",
             "Generated by `snakemake publish` (commands.md beside this file: how, and how long). Each item is "
             "stamped with the scale of the run, the git commit and the date (figures: of the data they plot, as "
             "drawn in their footer; tables and data: of the code that published them and the file's date). The "
             "rules behind the verdicts: [../verdicts.md](../verdicts.md).", ""]
    if verdicts:
        lines += ["## Verdicts", "", verdicts, ""]
    data = [out / "data" / Path(i).name for i in items if Path(i).suffix == ".nc"]
    if data:
        size = sum(p.stat().st_size for p in data) / 1e6
        lines += ["## Data", "",
                  f"The reduced data behind every table and figure: {len(data)} compressed NetCDF files, "
                  f"{size:.1f} MB in all (budget: 50 MB). `snakemake publish --config publish_from=data` re-renders "
                  "everything from them without training.", ""]
    lines += ["## Items", "", "| item | stamp |", "|---|---|"]
    lines += [f"| [{name}]({name}) | {stamp.replace('|', '&#124;')} |" for name, stamp in rows]
    figs = [name for name, _ in rows if name.endswith(".png")]
    if figs:
        lines += ["", "## Figures", ""] + [f"![{Path(n).stem}]({n})" for n in figs]
    return files.write_text("\n".join(lines) + "\n", out / "README.md")


README_BEGIN, README_END = "<!-- verdicts: begin -->", "<!-- verdicts: end -->"


def verdict_block(rows: Sequence[dict], figures: Sequence[str], base: str = "docs/reproduction") -> str:
    """The README's verdict table: outcome, claim, thesis, estimate with its interval, seeds, figure."""
    from .format import summary

    lines = ["| verdict | claim | thesis | measured [95% interval] | seeds | figure |", "|---|---|---|---|---|---|"]
    for r in rows:
        est = (f"{r['estimate']}" + (f" [{r['ci_lo']}, {r['ci_hi']}]" if r["ci_lo"] != "" else "")
               if r["estimate"] != "" else "")
        fig = r["figure"]
        link = f"[{fig}]({base}/figures/{fig}.png)" if fig in figures else fig
        v = str(r["verdict"])
        lines.append(f"| {'**' + v + '**' if v in ('reproduced', 'reproduced - exceeds', 'not reproduced') else v} "
                     f"| {r['claim']} | {r['thesis']} | {est} | {r['n_seeds']} | {link} |")
    return "\n".join(lines + ["", f"{summary(rows)}. Every column, the thesis's words and the data each row read: "
                              f"[{base}/reproduction.md]({base}/reproduction.md); the rules: "
                              "[docs/verdicts.md](docs/verdicts.md)."])


def update_readme(readme: str | os.PathLike, table_csv: str | os.PathLike, figures: Sequence[str]) -> None:
    """Replace the README's block between :data:`README_BEGIN` and :data:`README_END` with the
    verdict table of ``table_csv`` (atomically; a README without the markers is an error)."""
    import csv

    text = Path(readme).read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"--readme: {str(readme)!r} has no '{README_BEGIN}' ... '{README_END}' block")
    with open(table_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    files.write_text(f"{head}{README_BEGIN}\n\n{verdict_block(rows, figures)}\n\n{README_END}{tail}", readme)


def thresholds_table(fit_csvs: Sequence[str | os.PathLike], primary: dict) -> str:
    """Markdown: one row per (study, width, onset definition) of the thresholds studies' fit tables
    with both estimands (the verdict's slope of log mean lambda_th, the per-run OLS slope), the
    lack of fit, the median eta * lambda_th per eta and the runs with an onset; the primary
    definition of each study (its verdict row) in bold."""
    import csv

    lines = ["| study | width | definition | slope of log mean lambda_th [95%, paired bootstrap] "
             "| lack of fit (rms, log) | per-run OLS slope [95%] | R^2 | median eta*lambda_th per eta "
             "| runs with onset / without (/ not analysed) |",
             "|---|---|---|---|---|---|---|---|---|"]

    def num(r, k, f="{:.3f}"):
        try:
            v = float(r[k])
        except (KeyError, TypeError, ValueError):
            return ""
        return f.format(v) if v == v else "none"

    def skipped(r) -> str:  # runs a definition was not applied to (config key onset_runs)
        n = int(float(r.get("n_not_analysed") or 0))
        return f" / {n} not analysed" if n else ""

    for path in fit_csvs:
        study = Path(path).name.removesuffix("_fit.csv")
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                if r.get("width") == "all":
                    continue
                name = r["onset"] + (" (primary)" if primary.get(study) == r["onset"] else "")
                name = f"**{name}**" if primary.get(study) == r["onset"] else name
                lines.append(f"| {study} ({r['loss']}) | {r['width']} | {name} | {num(r, 'law_slope')} "
                             f"[{num(r, 'law_lo')}, {num(r, 'law_hi')}] | {num(r, 'lof')} | {num(r, 'slope')} "
                             f"[{num(r, 'slope_lo')}, {num(r, 'slope_hi')}] | {num(r, 'r2', '{:.2f}')} "
                             f"| {r.get('eta_lambda_median_by_eta', '')} "
                             f"| {r['n_onset']} / {r['n_no_onset']}{skipped(r)} |")
    return "\n".join(lines) + "\n"
