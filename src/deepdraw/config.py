"""The workflow's configuration outside Snakemake: resolve, validate and describe it.

A run's configuration is ``config.yaml`` overlaid with every ``--configfile`` in order, nested
sections merged key by key (Snakemake's rule), then checked against
``schemas/config.schema.yaml``, which fills in the ``default`` of every missing key. The same
steps here let ``deepdraw config`` show what a run would use, and refuse a bad file with the
field's name before a job starts.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

import yaml

DEFAULT_CONFIG = "config.yaml"
SCHEMA = Path("schemas") / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration that does not satisfy the schema; the message names every bad field."""


def workflow_root(start: str | os.PathLike | None = None) -> Path:
    """The workflow directory: ``start`` (default: the current one) or the package's checkout.

    Raises
    ------
    FileNotFoundError
        Neither holds ``schemas/config.schema.yaml``.
    """
    candidates = [Path(start) if start is not None else Path.cwd()]
    if start is None:
        # a checkout with the package installed from its src/ (pip install -e .)
        candidates.append(Path(__file__).resolve().parents[2])
    for root in candidates:
        if (root / SCHEMA).is_file():
            return root
    raise FileNotFoundError(
        f"no {SCHEMA} under {', '.join(str(c) for c in candidates)}; run this from the "
        "deepdraw workflow directory (the clone with Snakefile and config.yaml) or pass --workflow")


def read_yaml(path: str | os.PathLike) -> dict:
    """A YAML mapping from ``path``, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections, got "
                          f"{type(data).__name__}")
    return data


def merge(base: dict, overlay: dict) -> dict:
    """``overlay`` on ``base``: nested mappings merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_schema(root: str | os.PathLike) -> dict:
    """The config schema of the workflow at ``root``."""
    return read_yaml(Path(root) / SCHEMA)


def _validator(schema: dict, fill_defaults: bool):
    import jsonschema

    base = jsonschema.validators.validator_for(schema)
    if not fill_defaults:
        return base(schema)
    check_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, subschema):
        # fill in defaults first, so the values are also checked against the schema
        if isinstance(instance, dict):
            for name, prop in properties.items():
                if isinstance(prop, dict) and "default" in prop:
                    instance.setdefault(name, copy.deepcopy(prop["default"]))
        yield from check_properties(validator, properties, instance, subschema)

    return jsonschema.validators.extend(base, {"properties": properties_with_defaults})(schema)


def validate(config: dict, schema: dict, source: str = "config") -> dict:
    """A copy of ``config`` with schema defaults filled in, or :class:`ConfigError`.

    The error lists every violation as ``<section>.<key>: <problem>`` (``source`` names the
    files the config came from).
    """
    resolved = copy.deepcopy(config)
    errors = sorted(_validator(schema, fill_defaults=True).iter_errors(resolved),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [f"  {'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}"
                 for e in errors]
        raise ConfigError(f"{source}: {len(errors)} invalid setting(s) against {SCHEMA}:\n"
                          + "\n".join(lines))
    return resolved


def resolve(files: list[str | os.PathLike] = (), root: str | os.PathLike | None = None) -> dict:
    """The validated config of a run given ``--configfile files`` (in order) at ``root``."""
    root = workflow_root(root)
    config = read_yaml(root / DEFAULT_CONFIG)
    for path in files:
        config = merge(config, read_yaml(path))
    sources = ", ".join([str(root / DEFAULT_CONFIG), *map(str, files)])
    return validate(config, load_schema(root), sources)


def iter_properties(schema: dict, prefix: str = "") -> Iterator[tuple[str, dict]]:
    """Every configurable key of ``schema`` as ``(dotted path, its schema)``, depth first.

    Follows nested objects, array items that are objects (path ``<key>[]``) and local
    ``$ref``s into ``$defs``.
    """
    defs = schema.get("$defs", {})

    def deref(node: dict) -> dict:
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return {**defs[ref.split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def walk(node: dict, path: str) -> Iterator[tuple[str, dict]]:
        node = deref(node)
        for name, prop in node.get("properties", {}).items():
            prop = deref(prop)
            child = f"{path}.{name}" if path else name
            yield child, prop
            yield from walk(prop, child)
        items = node.get("items")
        if isinstance(items, dict) and deref(items).get("properties"):
            yield from walk(items, f"{path}[]")

    yield from walk(schema, prefix)


def write_resolved(config: dict, output: str | os.PathLike) -> None:
    """Write a run's resolved config as YAML (atomically), with a header saying what it is."""
    from deepdraw.io import atomic_path

    header = ("# The resolved configuration of this run: config.yaml overlaid with the --configfile\n"
              "# files, schema defaults filled in. Rerun it with:\n"
              "#   snakemake --cores 2 --configfile <this file>\n")
    with atomic_path(output) as tmp:
        tmp.write_text(header + yaml.safe_dump(config, sort_keys=False, default_flow_style=None,
                                               width=100))


def main(argv: list[str] | None = None) -> None:
    """CLI of the run_config rule: write the run's resolved config."""
    import json

    from deepdraw import cliutil

    parser = cliutil.parser("python -m deepdraw.config", write_resolved.__doc__)
    parser.add_argument("--config", required=True, help="the resolved config, JSON")
    parser.add_argument("--output", required=True, help="YAML file to write")
    args = cliutil.parse_args(parser, argv)
    write_resolved(json.loads(args.config), args.output)


if __name__ == "__main__":
    main()
