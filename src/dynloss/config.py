"""Workflow configuration: scale overrides, JSON-schema validation with defaults, clear errors.

:func:`prepare` is what the Snakefile calls on Snakemake's ``config`` dict: it merges the
``scales[scale]`` overrides over ``studies``/``figures``, validates the result against
``workflow/schemas/config.schema.yaml`` (filling every default) and checks what a schema cannot
(cadences that must divide the step count, ...). Any problem raises :class:`ConfigError` whose
message starts with the offending key, e.g. ``config key 'studies.fig3_4.lr': -1 is less than
or equal to the minimum of 0``.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml
from jsonschema import validators

from . import accelerator
from .data import DEFAULT as DEFAULT_DATA
from .errors import ConfigError  # noqa: F401  (also ``config.ConfigError``)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CONFIG_PATH = ROOT / "config.yaml"




def _with_defaults(cls):
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema) -> Iterator:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(cls, {"properties": set_defaults})


def _strict_integers(cls):
    """JSON Schema calls 3.0 an integer; ``range(3.0)`` does not, so an integer key refuses it."""
    checker = cls.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool))
    return validators.extend(cls, type_checker=checker)


_Validator = _with_defaults(_strict_integers(jsonschema.Draft7Validator))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _unique_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"config key {key!r}: given twice in one mapping "
                              f"(line {key_node.start_mark.line + 1} of {key_node.start_mark.name})")
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The config schema: the file's keys (every config's) and each registered study kind's own
    (:attr:`dynloss.plan.StudyKind.schema`)."""
    from .plan.kinds import with_kind_schemas  # importing dynloss.plan registers every kind

    with open(path) as fh:
        return with_kind_schemas(yaml.safe_load(fh))


#: the most nodes a config file may hold once its aliases are expanded (the shipped config.yaml holds a few
#: thousand): a file of nested aliases (a "billion laughs") is refused before it is expanded
MAX_YAML_NODES = 200_000


def _expanded_size(node, path, memo: dict, active: set) -> int:
    """Nodes of ``node`` with every alias expanded, counted without expanding (each distinct node once)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise ConfigError(f"config file {str(path)!r}: an alias refers to itself (line {node.start_mark.line + 1})")
    active.add(key)
    size = 1
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    for child in children:
        size += _expanded_size(child, path, memo, active)
        if size > MAX_YAML_NODES:
            raise ConfigError(f"config file {str(path)!r}: more than {MAX_YAML_NODES} values once its YAML aliases "
                              f"are expanded (line {node.start_mark.line + 1}); a config needs a few thousand")
    active.discard(key)
    memo[key] = size
    return size


def load_yaml(path: Path = CONFIG_PATH) -> dict:
    """Read a YAML config; a key given twice in one mapping is a :class:`ConfigError`, and so is a
    file whose aliases expand to more than :data:`MAX_YAML_NODES` values (refused before expanding).

    Args:
        path: the file.

    Returns:
        Its contents (``{}`` for an empty file).

    Raises:
        ConfigError: naming the file: unreadable, not YAML, not a mapping, too many values.
    """
    try:
        with open(path) as fh:
            loader = _UniqueKeyLoader(fh)
            try:
                node = loader.get_single_node()
                if node is not None:
                    _expanded_size(node, path, {}, set())
                cfg = (loader.construct_document(node) if node is not None else None) or {}
            finally:
                loader.dispose()
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"config file {str(path)!r}: not valid YAML{line}: "
                          f"{getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r}: nested too deeply") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"config file {str(path)!r}: not a mapping of config keys")
    return cfg


def deep_merge(base: dict, override: dict) -> dict:
    """``base`` updated by ``override`` recursively (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def validate(cfg: dict, schema: dict | None = None) -> dict:
    """Validate ``cfg`` in place (defaults filled); raise :class:`ConfigError` naming the key."""
    from .plan.kinds import with_kind_schemas  # a kind registered in code brings its schema fragment

    schema = with_kind_schemas(schema or load_schema())
    errors = sorted(_Validator(schema).iter_errors(cfg), key=lambda e: (len(e.absolute_path), e.message))
    if errors:
        err = _deepest(errors)
        raise ConfigError(f"config key {_key(err.absolute_path)!r}: {err.message}")
    return cfg


def _deepest(errors):
    """The most specific error: descend into if/then and allOf contexts."""
    best = jsonschema.exceptions.best_match(errors)
    while best.context:
        best = jsonschema.exceptions.best_match(best.context)
    return best


def changed_values(cfg: dict, shipped: dict) -> dict:
    """The leaves of ``cfg`` (nested dicts) that differ from, or are absent in, ``shipped``: the
    values a user set, as far as the merged config tells (a value equal to the shipped one is
    invisible here; Snakemake knows it, see :func:`prepare`)."""
    out: dict = {}
    for key, value in cfg.items():
        theirs = shipped.get(key, _MISSING) if isinstance(shipped, dict) else _MISSING
        if isinstance(value, dict) and isinstance(theirs, dict):
            sub = changed_values(value, theirs)
            if sub:
                out[key] = sub
        elif value != theirs:
            out[key] = copy.deepcopy(value)
    return out


def _without(values: dict, taken: dict) -> dict:
    """The leaves of ``values`` that ``taken`` does not set."""
    out: dict = {}
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(taken.get(key), dict):
            sub = _without(value, taken[key])
            if sub:
                out[key] = sub
        elif key not in taken:
            out[key] = value
    return out


_MISSING = object()
#: a scale's name becomes a folder under ``results``: a letter, then letters, digits, ``_``, ``-``
SCALE_NAME = r"[A-Za-z][A-Za-z0-9_-]*"


def _check_scale(cfg: dict) -> str:
    """The chosen scale's name, once it and every name under ``scales`` is a plain folder name
    (no ``/``, no ``..``) and the chosen one is ``paper`` or defined."""
    scale, scales = cfg.get("scale", "paper"), cfg.get("scales") or {}
    for name in scales:
        if not isinstance(name, str) or not re.fullmatch(SCALE_NAME, name):
            raise ConfigError(f"config key 'scales.{name}': a scale's name must be a letter followed by letters, "
                              "digits, '_' or '-' (it becomes a folder under results)")
    if not isinstance(scale, str) or (scale != "paper" and scale not in scales):
        allowed = ", ".join(["paper", *scales])
        raise ConfigError(f"config key 'scale': {scale!r} is not one of {allowed}")
    return scale


def _booleans(cfg: dict, schema: dict) -> None:
    """``true``/``false`` (any case) given as text (``--config publish_overwrite=true``: Snakemake passes
    it as a string) become booleans where the schema asks for one, in place."""
    for name, sub in (schema.get("properties") or {}).items():
        if name not in cfg or not isinstance(sub, dict):
            continue
        value = cfg[name]
        if sub.get("type") == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
            cfg[name] = value.lower() == "true"
        elif isinstance(value, dict) and "properties" in sub:
            _booleans(value, sub)


def _check_fresh_seeds(cfg: dict) -> None:
    """The confirm jobs' fresh seeds (``verdicts.fresh_seed_offset`` on) clear every study's seeds
    (``0..seeds-1``) and stay within a job's seed range."""
    from .jobs.checks import MAX_SEED

    offset = cfg["verdicts"]["fresh_seed_offset"]
    counts = {n: st["seeds"] for n, st in cfg["studies"].items()
              if isinstance(st.get("seeds"), int) and not isinstance(st.get("seeds"), bool)}
    if not counts:
        return
    name = max(counts, key=counts.get)
    if offset < counts[name]:
        raise ConfigError(f"config key 'verdicts.fresh_seed_offset': {offset} is among study {name!r}'s seeds "
                          f"0..{counts[name] - 1}, so 'fresh' seeds would repeat them (allowed: an integer >= "
                          f"{counts[name]})")
    if offset + counts[name] - 1 > MAX_SEED:
        raise ConfigError(f"config key 'verdicts.fresh_seed_offset': {offset} puts the fresh seeds beyond {MAX_SEED} "
                          f"(allowed: {counts[name]}..{MAX_SEED - counts[name] + 1})")


def _check_publication(cfg: dict) -> None:
    """``publish_dir`` may receive a publication (:func:`dynloss.verdicts.publish.check_folder`) and
    ``publish_readme`` is a README with the verdict markers (or empty)."""
    from .verdicts import publish

    try:
        publish.check_folder(cfg["publish_dir"])
    except publish.PublishError as exc:
        raise ConfigError(f"config key 'publish_dir': {exc}") from None
    readme = cfg["publish_readme"]
    if readme:
        if not Path(readme).is_file():
            raise ConfigError(f"config key 'publish_readme': no file {readme!r} (allowed: an existing README with "
                              f"the verdict markers, or \"\" for none)")
        try:
            publish.readme_text(readme, None, [])
        except (OSError, ValueError) as exc:
            raise ConfigError(f"config key 'publish_readme': {str(exc).removeprefix('--readme: ')}") from None


def _check_results(results: str) -> None:
    """``results`` must be a folder, or not exist yet."""
    for path in (Path(results), *Path(results).parents):
        if path.exists() and not path.is_dir():
            raise ConfigError(f"config key 'results': {str(path)!r} is a file, not a folder")


def prepare(cfg: dict, schema: dict | None = None, shipped: dict | None = None,
            user: dict | None = None) -> dict:
    """Merge the chosen scale, validate with defaults, and run the semantic checks.

    Precedence, highest first, leaf by leaf (a user's one factor under
    ``factors`` replaces that factor only): the user's value under ``scales.<scale>``; the user's
    value under ``studies``/``figures`` or their top-level ``chunk_steps``; the shipped scale's
    value; the shipped config.yaml's value. Results go to ``<results>/<scale>`` so that two
    scales never share a file. ``accelerator: auto`` becomes ``cuda12`` where a
    GPU is visible, ``cpu`` otherwise (:func:`dynloss.accelerator.resolve`).

    Args:
        cfg: the raw config (config.yaml with the user's files and ``--config`` merged in).
        schema: the JSON schema (default: the repository's).
        shipped: the config.yaml shipped with the code (default: the repository's, ``{}`` if absent).
        user: what the user set (their config files and ``--config``, as Snakemake's
            ``workflow.config_settings.overwrite_config``), so that a value equal to the shipped
            one still wins over the scale's; default: the values of ``cfg`` that differ from
            ``shipped`` (:func:`changed_values`).

    Returns:
        The prepared config (a new dict).
    """
    cfg = copy.deepcopy(cfg)
    schema = schema or load_schema()
    if shipped is None:
        shipped = load_yaml(CONFIG_PATH) if CONFIG_PATH.exists() else {}
    scale = _check_scale(cfg)
    scales = cfg.get("scales") or {}
    if scale != "paper":
        over = scales[scale] or {}
        user = changed_values(cfg, shipped) if user is None else user
        user_over = ((user.get("scales") or {}).get(scale) or {})
        for section in ("studies", "figures"):
            unknown = set((over.get(section) or {})) - set(cfg.get(section) or {})
            if unknown:
                raise ConfigError(f"config key 'scales.{scale}.{section}.{sorted(unknown)[0]}': "
                                  f"not a {section[:-1]} defined under '{section}'")
            mine = _without(user.get(section) or {}, user_over.get(section) or {})
            cfg[section] = deep_merge(deep_merge(cfg.get(section) or {}, over.get(section) or {}), mine)
        if "chunk_steps" in over and ("chunk_steps" not in user or "chunk_steps" in user_over):
            cfg["chunk_steps"] = over["chunk_steps"]
    _only_studies(cfg)
    _booleans(cfg, schema)
    validate(cfg, schema)
    _check_fresh_seeds(cfg)
    _check_publication(cfg)
    cfg["results"] = str(Path(cfg["results"]) / scale)
    cfg["accelerator"] = accelerator.resolve(cfg["accelerator"])
    _check_results(cfg["results"])
    from .plan import Plan  # the per-kind semantic checks live with the kinds

    Plan(cfg).check()
    return cfg


def _only_studies(cfg: dict) -> None:
    """``only_studies``: keep those studies, drop the others and the figures drawn from them or from a data set
    none of them uses (a campaign of its own, e.g. the confirmatory replication, which must not plan the shipped
    studies)."""
    only = cfg.get("only_studies") or []
    if not isinstance(only, list):
        return  # the schema names the key
    unknown = [n for n in only if n not in (cfg.get("studies") or {})]
    if unknown:
        raise ConfigError(f"config key 'only_studies': {unknown[0]!r} is not a study defined under 'studies' "
                          f"(defined: {', '.join(sorted(cfg.get('studies') or {}))})")
    if only:
        cfg["studies"] = {n: cfg["studies"][n] for n in only}
        default = (cfg.get("data") or {}).get("name", DEFAULT_DATA)
        used = {default} | {(st.get("data") or {}).get("name", default) for st in cfg["studies"].values()
                            if isinstance(st, dict)}
        cfg["figures"] = {n: f for n, f in (cfg.get("figures") or {}).items()
                          if not isinstance(f, dict) or (f.get("study", only[0]) in only
                                                         and (f.get("data") or {}).get("name", default) in used)}


def load_config(path: Path = CONFIG_PATH, **overrides: Any) -> dict:
    """Read a config file, apply top-level ``overrides`` (like ``--config k=v``) and prepare it."""
    cfg = load_yaml(path)
    cfg.update(overrides)
    return prepare(cfg)
