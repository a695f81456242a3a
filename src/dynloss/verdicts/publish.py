"""The published reproduction (``snakemake publish``): the reproduction table (CSV and Markdown), the
threshold fit tables, every figure as PNG and the reduced data behind them (``data/``, compressed
NetCDF: :func:`reduce`) copied into one folder (``docs/reproduction/`` by default) with an index
``README.md`` that stamps each item with its scale, commit and date.

A publication carries a manifest and a label, and is refused where another configuration's is
(:mod:`dynloss.verdicts.publication`: the manifest, the labels, the folder and data checks).

A publish is all or nothing: it is staged in a temporary folder beside the target (the files of the
folder that the publication does not make, such as ``commands.md``, carried over) and swapped in with
one rename at the end, so a kill or a full disk leaves the previous publication as it was.

A figure's stamp is the one drawn on it (stored in the PNG's ``Comment`` text chunk by
``figures.common.save``: the scale, commit and date of the data it plots); a table's is the scale of
the run, the commit of the code that publishes it and the table file's modification date.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as _dt
import errno
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator, Optional, Sequence

from .. import files, provenance
from .publication import (LABEL_MARK, MANIFEST, PROTOCOL_KEYS, ROOT, PublishError, check_folder,  # noqa: F401
                          check_study_file, configuration_of, existing_label, files_under, legacy_label,
                          legacy_style_label, publication_label, read_manifest, same_publication, sha256,
                          verify_data, write_manifest)


#: the traces a dynamics run's verdict rows read (``keep="verdict"``: the rest of its traces is left out)
VERDICT_TRACES = ("L", "hess_eig", "ntk_lmax")


def reduce(ds, final_only: bool = False, keep: str = ""):
    """The part of a study dataset a publication keeps (``keep``: ``final``, ``verdict`` or ``all``; the
    older ``final_only`` is ``keep="final"``): ``final`` (a contour study, whose figure and claims read the
    final metrics per (width, A, T, seed): ``StudyKind.publishes_final_only``) the variables without a step
    dimension; ``verdict`` those and :data:`VERDICT_TRACES` (the dynamics runs of a campaign whose figures
    are not published from its data); ``all`` the whole dataset (curves and dynamics figures draw their
    traces; thresholds datasets are thinned already)."""
    keep = keep or ("final" if final_only else "all")
    if keep == "all":
        return ds

    def stepped(v) -> bool:
        return any(d.startswith("step") for d in v.dims)

    names = [n for n, v in ds.data_vars.items() if not stepped(v) or (keep == "verdict" and n in VERDICT_TRACES)]
    sub = ds[names]
    used = {d for n in names for d in sub[n].dims}
    return sub.drop_vars([c for c in sub.coords if stepped(sub[c]) and not set(sub[c].dims) <= used])


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


#: a staging folder of ``out`` is ``.<name>.staging.<pid>.<random>`` beside it
STAGING = ".{name}.staging."


def _clean_stale_staging(out: Path) -> None:
    """Remove staging folders of ``out`` left by a killed publish (their process is gone); a previous
    publication moved aside by a publish killed between its two renames goes back to ``out``."""
    if not out.parent.is_dir():
        return
    for old in out.parent.glob(f"{STAGING.format(name=out.name)}*"):
        pid = old.name[len(STAGING.format(name=out.name)):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                continue  # a live publish
            except ProcessLookupError:
                pass
            except OSError:
                continue
        if old.name.endswith(".old") and not out.exists():  # killed between the two renames of _swap_in
            os.rename(old, out)  # the previous publication, put back
            continue
        shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # the filesystem cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(staging: Path, out: Path) -> None:
    """Put the staged folder at ``out`` in one rename; the previous folder ends up at ``staging``."""
    if not out.exists():
        os.rename(staging, out)
        return
    if _exchange(staging, out):
        return
    old = staging.with_name(staging.name + ".old")  # no exchange on this filesystem: two renames
    os.rename(out, old)
    os.rename(staging, out)
    os.rename(old, staging)


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_staging(out)
    while True:  # os.mkdir, not mkdtemp: the mode a plain folder gets (0755 under umask 022), not 0700
        staging = out.parent / f"{STAGING.format(name=out.name)}{os.getpid()}.{secrets.token_hex(4)}"
        try:
            os.mkdir(staging)
            break
        except FileExistsError:
            continue
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(items: Sequence[str | os.PathLike], out: str | os.PathLike, scale: str, label: str = "",
            overwrite: bool = False, readme: str | os.PathLike | None = None, legacy: Sequence[str] = ()) -> Path:
    """Publish tables, figure PNGs and data into ``out`` (figures under ``out/figures``, data under
    ``out/data``) with its index and manifest, all or nothing.

    The publication is staged in a temporary folder beside ``out`` (the files of ``out`` that no
    publication made, such as ``commands.md``, carried over; those of the previous publication
    replaced), its manifest written last, and swapped in with one rename; the verdict block of
    ``readme`` is staged beside it and renamed in right after.

    Args:
        items: files to publish: ``.csv``/``.md`` tables, ``.png`` figures, ``.nc`` reduced data.
        out: the publication folder (:func:`check_folder`; created if missing).
        scale: the scale of the run, for the tables' stamps.
        label: what makes this publication (scale and configuration); recorded in the index and manifest.
        overwrite: replace a publication of another label.
        readme: a README whose verdict block is rewritten from the published ``reproduction.csv``.
        legacy: labels under which a legacy publication (no manifest) in ``out`` counts as this one
            (:func:`legacy_style_label`).

    Returns:
        The path of the index ``README.md``.

    Raises:
        PublishError: ``out`` is not a publication folder, or holds a publication of another label
            and ``overwrite`` is false.
        FileNotFoundError, ValueError: a missing or unknown item, a README without the verdict markers.
        WriteError: a file that cannot be written (a full disk); ``out`` is left as it was.
    """
    out = Path(out)
    _clean_stale_staging(out)  # first: a publication a killed publish moved aside goes back before any check
    check_folder(out)
    have = same_publication(out, label, legacy) if label else None
    if have is not None and not overwrite:
        raise PublishError(f"{str(out)!r}: holds the publication '{have}', not '{label}'; publish elsewhere (config "
                           "key publish_dir) or replace it with --config publish_overwrite=true")
    items = [Path(i) for i in items]
    for item in items:
        if not item.is_file():
            raise FileNotFoundError(f"items: missing {str(item)!r}; build it first")
        if item.suffix not in (".png", ".nc", ".csv", ".md"):
            raise ValueError(f"items: {str(item)!r} is not a .csv, .md, .png or .nc file")
    if readme is not None:
        readme_text(readme, None, [], block=readme_block(readme, out))  # the markers, checked before writing
    previous = (read_manifest(out) or {}).get("files", {}) if out.is_dir() else {}
    try:
        with _staging(out) as staging:
            made = _stage(items, staging, scale, label)
            kept = {}
            if out.is_dir():
                for rel in files_under(out):
                    if rel in made or rel in previous or rel == MANIFEST:
                        continue  # the previous publication's own files are replaced, not kept
                    (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(out / rel, staging / rel, follow_symlinks=False)
                    kept[rel] = sha256(staging / rel) if not (staging / rel).is_symlink() else ""
            manifest = {"label": label, "configuration": configuration_of(label), "scale": scale,
                        "files": {rel: sha256(staging / rel) for rel in sorted(made)},
                        "kept": dict(sorted(kept.items()))}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
            with contextlib.ExitStack() as stack:
                readme_tmp = None
                if readme is not None:
                    base = os.path.relpath(Path(out).resolve(), Path(readme).resolve().parent)
                    text = readme_text(readme, staging / "reproduction.csv",
                                       [i.stem for i in items if i.suffix == ".png"], readme_block(readme, out), base)
                    readme_tmp = stack.enter_context(files.atomic_path(readme, suffix=".md"))
                    readme_tmp.write_text(text)
                _swap_in(staging, out)
                # leaving the stack renames the README's staged verdict block in
    except OSError as exc:
        error = files.write_error(out, exc)
        if error is not None:
            raise error from exc
        raise
    return out / "README.md"


def _stage(items: Sequence[Path], staging: Path, scale: str, label: str) -> list[str]:
    """Copy the items into ``staging`` and write the index there; the published paths (relative)."""
    rows, verdicts = [], ""
    for item in items:
        if item.suffix == ".png":
            dst = staging / "figures" / item.name
            stamp = png_stamp(item) or file_stamp(item, scale)
        elif item.suffix == ".nc":
            dst = staging / "data" / item.name
            stamp = file_stamp(item, scale)
        else:
            dst = staging / item.name
            stamp = file_stamp(item, scale)
            if item.name == "reproduction.md":
                verdicts = item.read_text()
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(item, dst)
        rows.append((dst.relative_to(staging).as_posix(), stamp))
    lines = ["# dynloss: the published reproduction", "", f"{LABEL_MARK}{label} -->", "",
             "Generated by `snakemake publish` (commands.md beside this file: how, and how long). Each item is "
             "stamped with the scale of the run, the git commit and the date (figures: of the data they plot, as "
             "drawn in their footer; tables and data: of the code that published them and the file's date). The "
             "rules behind the verdicts: [../verdicts.md](../verdicts.md). `manifest.json` holds the label and the "
             "SHA-256 of every item.", ""]
    if verdicts:
        lines += ["## Verdicts", "", verdicts, ""]
    data = [staging / "data" / i.name for i in items if i.suffix == ".nc"]
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
    (staging / "README.md").write_text("\n".join(lines) + "\n")
    return [name for name, _ in rows] + ["README.md"]


README_BEGIN, README_END = "<!-- verdicts: begin -->", "<!-- verdicts: end -->"


def markers(block: str = "") -> tuple[str, str]:
    """The README markers of a publication's verdict block: the publication folder's name (``reproduction``,
    the first publication, keeps the plain ``verdicts`` markers), so two publications have two blocks.

    >>> markers("confirmatory")
    ('<!-- verdicts confirmatory: begin -->', '<!-- verdicts confirmatory: end -->')
    """
    if block in ("", "reproduction"):
        return README_BEGIN, README_END
    return f"<!-- verdicts {block}: begin -->", f"<!-- verdicts {block}: end -->"


def readme_block(readme: str | os.PathLike, out: str | os.PathLike) -> str:
    """The block a publication in folder ``out`` writes: ``verdicts <name of out>`` where the README has those
    markers (e.g. the confirmatory publication's), else the plain ``verdicts`` block."""
    name = Path(out).name
    begin, end = markers(name)
    text = Path(readme).read_text()
    return name if (begin, end) != markers("") and begin in text and end in text else ""


def verdict_block(rows: Sequence[dict], figures: Sequence[str], base: str = "docs/reproduction") -> str:
    """The README's verdict table: outcome, claim, thesis, estimate with its interval, seeds, figure; under
    it the outcome counts (of distinct measurements) and the family-wise (Holm) line."""
    from .format import holm_line, shown, summary, unlisted_line

    extra, rows = unlisted_line(rows), shown(rows)
    lines = ["| verdict | claim | thesis | measured [95% interval] | seeds | figure |", "|---|---|---|---|---|---|"]
    for r in rows:
        est = (f"{r['estimate']}" + (f" [{r['ci_lo']}, {r['ci_hi']}]" if r["ci_lo"] != "" else "")
               if r["estimate"] != "" else "")
        fig = r["figure"]
        link = f"[{fig}]({base}/figures/{fig}.png)" if fig in figures else fig
        v = str(r["verdict"])
        bold = ("reproduced", "reproduced - exceeds", "not reproduced", "holds", "holds (exceeds)", "does not hold")
        lines.append(f"| {'**' + v + '**' if v in bold else v} "
                     f"| {r['claim']} | {r['thesis']} | {est} | {r['n_seeds']} | {link} |")
    return "\n".join(lines + ["", f"{summary(rows)}. Every column, the thesis's words and the data each row read: "
                              f"[{base}/reproduction.md]({base}/reproduction.md); the rules: "
                              "[docs/verdicts.md](docs/verdicts.md).", "", holm_line(rows)]
                     + (["", extra] if extra else []))


def readme_text(readme: str | os.PathLike, table_csv: str | os.PathLike | None, figures: Sequence[str],
                block: str = "", base: str = "docs/reproduction") -> str:
    """The text of ``readme`` with its block between the :func:`markers` of ``block`` replaced by the
    verdict table of ``table_csv`` (``None``: only check the markers), its links under ``base``; a README
    without the markers is an error."""
    import csv

    begin, end = markers(block)
    text = Path(readme).read_text()
    if begin not in text or end not in text:
        raise ValueError(f"--readme: {str(readme)!r} has no '{begin}' ... '{end}' block")
    if table_csv is None:
        return text
    with open(table_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    return f"{head}{begin}\n\n{verdict_block(rows, figures, base)}\n\n{end}{tail}"


def update_readme(readme: str | os.PathLike, table_csv: str | os.PathLike, figures: Sequence[str]) -> None:
    """Replace the README's verdict block with the verdict table of ``table_csv`` (atomically;
    :func:`readme_text`)."""
    files.write_text(readme_text(readme, table_csv, figures), readme)


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
