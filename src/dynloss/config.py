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
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml
from jsonschema import validators

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CONFIG_PATH = ROOT / "config.yaml"


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


def _with_defaults(cls):
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema) -> Iterator:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(cls, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft7Validator)


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def load_yaml(path: Path = CONFIG_PATH) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


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
    schema = schema or load_schema()
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


def prepare(cfg: dict, schema: dict | None = None) -> dict:
    """Merge the chosen scale, validate with defaults, and run the semantic checks."""
    cfg = copy.deepcopy(cfg)
    schema = schema or load_schema()
    scale = cfg.get("scale", "paper")
    scales = cfg.get("scales") or {}
    if not isinstance(scale, str) or (scale != "paper" and scale not in scales):
        allowed = ", ".join(["paper", *scales])
        raise ConfigError(f"config key 'scale': {scale!r} is not one of {allowed}")
    if scale != "paper":
        over = scales[scale] or {}
        for section in ("studies", "figures"):
            unknown = set((over.get(section) or {})) - set(cfg.get(section) or {})
            if unknown:
                raise ConfigError(f"config key 'scales.{scale}.{section}.{sorted(unknown)[0]}': "
                                  f"not a {section[:-1]} defined under '{section}'")
            cfg[section] = deep_merge(cfg.get(section) or {}, over.get(section) or {})
        if "chunk_steps" in over:
            cfg["chunk_steps"] = over["chunk_steps"]
    validate(cfg, schema)
    from . import studies  # the per-kind semantic checks live beside the job expansion

    studies.check(cfg)
    return cfg


def load_config(path: Path = CONFIG_PATH, **overrides: Any) -> dict:
    """Read a config file, apply top-level ``overrides`` (like ``--config k=v``) and prepare it."""
    cfg = load_yaml(path)
    cfg.update(overrides)
    return prepare(cfg)
