"""Read a YAML configuration file with one-line errors that name the file and the place.

Used by every declarative file the project loads (the registry, the alert rules), so a
typo is reported the same way everywhere and never as a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)


def load_yaml_file(path: str | Path, what: str, error: type[Exception]) -> Any:
    """Parse ``path``; raise ``error`` with a clear message when it is missing, unreadable
    or not YAML.  ``what`` names the file in messages ("registry file", "rules file")."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except FileNotFoundError:
        raise error(f"{what} not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {p}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{p}: not valid YAML{where}: {problem}") from None


def load_checked_yaml(path: str | Path, schema_file: Path, what: str, error: type[Exception]) -> Any:
    """:func:`load_yaml_file`, then checked against the JSON schema in ``schema_file``; the
    first violation raises ``error`` naming the file and the place ("entries/3/key: …")."""
    import json

    import jsonschema

    data = load_yaml_file(path, what, error)
    schema = json.loads(schema_file.read_text("utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        place = "/".join(str(p) for p in errors[0].path) or "top level"
        raise error(f"{path}: {place}: {errors[0].message}")
    return data
