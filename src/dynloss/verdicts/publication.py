"""A publication's identity: its manifest, its label and the checks that keep it what it is.

A publication folder carries a manifest (:data:`MANIFEST`, written last by
:func:`dynloss.verdicts.publish.publish`): its label (the scale and a hash of the configuration that
made it), the configuration hash, and the SHA-256 of every data file, figure and table it holds.
Publishing another label into the folder is refused unless asked; ``publish_from=data`` reads a data
file only once it matches the manifest and its study's configuration (:func:`verify_data`); a folder
receives a publication only when it holds one or is new or empty (:func:`check_folder`).

A folder published before manifests existed (a *legacy* publication: an index README with a stamped
label, no manifest) is a publication of that label: it counts as this configuration's when the label
is the one the configuration had then (:func:`legacy_style_label`, which every study key added since
changes), and otherwise is re-rendered once with ``overwrite`` (``publish_overwrite=true``; with
``publish_from=data`` its data are then checked against their studies' configuration only, having no
hashes). The first publish into it writes the manifest, and from then on the manifest decides.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .. import data as data_sets
from .. import files


#: the marker line of an index README that holds the publication's label
LABEL_MARK = "<!-- publication: "
#: the manifest of a publication folder: label, configuration hash, SHA-256 of every file it holds
MANIFEST = "manifest.json"
#: the repository this package belongs to (a publication never replaces it)
ROOT = Path(__file__).resolve().parents[3]


class PublishError(ValueError):
    """A publication that would replace one of another label without ``overwrite``, a folder that is
    not a publication's, or published data that do not match the manifest or their study."""


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(out: str | os.PathLike) -> Optional[dict]:
    """The manifest of the publication in ``out`` (``None``: none there).

    Raises:
        PublishError: the manifest is not a JSON object with a label and files.
    """
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        man = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PublishError(f"{str(path)!r}: not a readable publication manifest ({exc}); restore it from git "
                           "or republish with publish_overwrite") from None
    if not isinstance(man, dict) or not isinstance(man.get("label"), str) or not isinstance(man.get("files"), dict):
        raise PublishError(f"{str(path)!r}: not a publication manifest (needs 'label' and 'files'); restore it "
                           "from git or republish with publish_overwrite")
    return man


def legacy_label(out: str | os.PathLike) -> Optional[str]:
    """The label stamped in the index README of a publication made before manifests (``None``: none)."""
    index = Path(out) / "README.md"
    if not index.is_file():
        return None
    try:
        lines = index.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(LABEL_MARK):
            return line[len(LABEL_MARK):].rsplit(" -->", 1)[0]
    return None


def existing_label(out: str | os.PathLike) -> Optional[str]:
    """The label of the publication in ``out``: its manifest's, else a legacy index README's
    (``None``: no publication there)."""
    man = read_manifest(out)
    return man["label"] if man is not None else legacy_label(out)


def _kind_defaults() -> dict[str, dict]:
    """Study kind -> its study keys' schema defaults (:attr:`dynloss.plan.StudyKind.schema`)."""
    from .. import plan  # importing dynloss.plan registers every kind

    return {name: {k: v["default"] for k, v in ((kind.schema or {}).get("properties") or {}).items()
                   if isinstance(v, dict) and "default" in v}
            for name, kind in plan.KINDS.items()}


def _label(studies: Mapping, cfg: Mapping) -> str:
    # the default data set's name is left out: a label made before data sets had names stays the same
    data = {k: v for k, v in cfg["data"].items() if not (k == "name" and v == data_sets.DEFAULT)}
    what = {"studies": studies, "data": data, "dtype": cfg["dtype"], "stop": cfg["stop_rule"]}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"scale {cfg['scale']}, configuration {digest}"


def publication_label(cfg: Mapping) -> str:
    """The label of what a prepared config publishes: its scale and a hash of what decides the
    numbers (every study key but the title, the data, the dtype, the stop rule). A study key at its
    schema default is left out, so a key added later with a default that keeps the old runs keeps
    every publication's label."""
    defaults = _kind_defaults()
    studies = {}
    for name, st in cfg["studies"].items():
        default = defaults.get(st.get("kind"), {})
        studies[name] = {k: v for k, v in st.items() if k != "title" and not (k in default and default[k] == v)}
    return _label(studies, cfg)


def legacy_style_label(cfg: Mapping) -> str:
    """The label a publication made before manifests carries for ``cfg`` (every study key hashed,
    defaults included): such a publication is this configuration's when its stamped label is this."""
    return _label({n: {k: v for k, v in st.items() if k != "title"} for n, st in cfg["studies"].items()}, cfg)


def same_publication(out: str | os.PathLike, label: str, legacy: Sequence[str] = ()) -> Optional[str]:
    """The label of the publication in ``out`` when it is another configuration's (``None``: none there,
    or this one's: its label is ``label``, or, for a legacy publication without a manifest, one of ``legacy``)."""
    have = existing_label(out)
    if have is None or have == label or (read_manifest(out) is None and have in legacy):
        return None
    return have


def write_manifest(out: str | os.PathLike, label: str, scale: str = "") -> Path:
    """Write the manifest of the files in ``out`` as they are (atomically): what :func:`publish`
    writes last, for a publication folder assembled otherwise (a test's, say).

    Returns:
        The manifest's path.
    """
    out = Path(out)
    made = [rel for rel in files_under(out) if rel != MANIFEST]
    manifest = {"label": label, "configuration": configuration_of(label), "scale": scale,
                "files": {rel: sha256(out / rel) for rel in made}, "kept": {}}
    return files.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", out / MANIFEST)


def configuration_of(label: str) -> str:
    """The configuration hash of a label ``"scale S, configuration HASH"`` (the label itself otherwise)."""
    return label.rsplit("configuration ", 1)[-1] if "configuration " in label else label


def _forbidden(out: Path) -> Optional[str]:
    """Why ``out`` can never be a publication folder (``None``: it can)."""
    resolved = out.resolve()
    if resolved == Path(resolved.anchor):
        return "is the filesystem root"
    for name, where in (("the repository root", ROOT), ("the working directory", Path.cwd())):
        where = where.resolve()
        if resolved == where or resolved in where.parents:
            return f"is {name} or a folder above it"
    return None


def check_folder(out: str | os.PathLike) -> None:
    """``out`` may receive a publication: a publication folder (a manifest, or a legacy index
    README with a label), or a new or empty folder; never ``/``, the repository root, the working
    directory or a folder above them, nor a folder holding other files.

    Raises:
        PublishError: naming the folder and what is allowed.
    """
    out = Path(out)
    allowed = ("allowed: a publication folder (holding a manifest.json) or a new or empty folder, never the "
               "repository root or /")
    why = _forbidden(out)
    if why is None and out.exists() and not out.is_dir():
        why = "is a file"
    if why is None and out.is_dir() and existing_label(out) is None:
        other = sorted(p.name for p in out.iterdir())
        if other:
            why = f"holds other files (first {other[0]!r}) and no publication"
    if why is not None:
        raise PublishError(f"{str(out)!r} {why} ({allowed})")


def _study_attrs(path: Path) -> dict:
    from .. import netcdf

    with netcdf.open_header(path) as ds:
        attrs = dict(ds.attrs)
        coords = {k: ds[k].values.tolist() for k in ("loss", "width") if k in ds.variables}
    try:
        cfg = json.loads(attrs.get("config", "{}"))
    except ValueError:
        cfg = {}
    return {"config": cfg if isinstance(cfg, dict) else {}, "coords": coords}


#: the study keys a published data file must share with its study in the config (what decides its numbers)
PROTOCOL_KEYS = ("kind", "loss", "lr", "lrs", "steps", "dtype", "W_std", "b_std", "parameterization", "mse_norm",
                 "threefry_partitionable", "record_every")


def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def check_study_file(path: str | os.PathLike, name: str, study: Optional[Mapping]) -> None:
    """A published data file holds study ``name`` as the config defines it: its study (or confirm key)
    attribute, its loss and widths, and the protocol keys (:data:`PROTOCOL_KEYS`) it records.

    Args:
        path: the data file.
        name: the study (or ``confirm_<key>``) it must hold.
        study: the study's config (``None`` for a confirm file).

    Raises:
        PublishError: one line naming the file and what differs.
    """
    path = Path(path)
    got = _study_attrs(path)
    cfg, coords = got["config"], got["coords"]
    if study is None:
        key = name.removeprefix("confirm_")
        if cfg.get("confirm_key", key) != key:
            raise PublishError(f"{str(path)!r}: holds the fresh seeds of {cfg.get('confirm_key')!r}, not {key!r}")
        return
    if cfg.get("study", name) != name:
        raise PublishError(f"{str(path)!r}: holds study {cfg.get('study')!r}, not {name!r}")
    if "loss" in coords and "loss" in study and set(_as_list(coords["loss"])) != {study["loss"]}:
        raise PublishError(f"{str(path)!r}: holds loss {', '.join(map(str, _as_list(coords['loss'])))}, but study "
                           f"{name!r} has loss {study['loss']}")
    widths = study.get("widths", [study["width"]] if "width" in study else None)
    if "width" in coords and widths is not None and not set(_as_list(coords["width"])) <= set(widths):
        raise PublishError(f"{str(path)!r}: holds widths {_as_list(coords['width'])}, but study {name!r} has "
                           f"widths {list(widths)}")
    theirs = cfg.get("study_config") if isinstance(cfg.get("study_config"), dict) else {}
    for key in PROTOCOL_KEYS:
        if key in theirs and key in study and theirs[key] != study[key]:
            raise PublishError(f"{str(path)!r}: was made with {key} {theirs[key]!r}, but study {name!r} has "
                               f"{key} {study[key]!r}")


def verify_data(out: str | os.PathLike, expected: Mapping[str, tuple[str, Optional[Mapping]]],
                label: str, legacy: Sequence[str] = (), overwrite: bool = False) -> None:
    """Check the published data ``publish_from=data`` will read, before anything reads them: the
    publication's label is this configuration's, every file's SHA-256 is the manifest's (a legacy
    publication without a manifest skips this once), and every file holds its study
    (:func:`check_study_file`).

    Args:
        out: the publication folder.
        expected: data file path -> (study name or ``confirm_<key>``, the study's config or ``None``).
        label: the label of the configuration that will re-render them.
        legacy: labels a legacy publication of this configuration may carry (:func:`legacy_style_label`).
        overwrite: a legacy publication of another label is re-rendered anyway (once: it then gets a
            manifest); a publication with a manifest never is.

    Raises:
        PublishError: one line naming the file (or the folder) and what differs.
    """
    out = Path(out)
    man = read_manifest(out)
    have = same_publication(out, label, legacy)
    if have is not None and not (overwrite and man is None):
        raise PublishError(f"{str(out)!r}: its data were published as '{have}', not '{label}'; publish_from=data "
                           "re-renders them only with the configuration that made them")
    for path, (name, study) in expected.items():
        path = Path(path)
        if not path.is_file():
            continue  # Snakemake names the missing input
        if man is not None:
            rel = path.resolve().relative_to(out.resolve()).as_posix() if path.resolve().is_relative_to(
                out.resolve()) else path.as_posix()
            want = man["files"].get(rel)
            if want is None:
                raise PublishError(f"{str(path)!r}: not in the publication's manifest ({str(out / MANIFEST)!r})")
            have_sha = sha256(path)
            if have_sha != want:
                raise PublishError(f"{str(path)!r}: SHA-256 {have_sha[:16]} differs from the manifest's "
                                   f"{want[:16]} (altered or replaced after publishing); restore it from git "
                                   f"(git checkout -- {path}) or republish from the results")
        check_study_file(path, name, study)


def files_under(folder: Path) -> list[str]:
    """Every file under ``folder``, as sorted relative POSIX paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())
