"""Read a YAML configuration file with one-line errors that name the file and the place.

Used by every declarative file the project loads (the registry, the alert rules), so a
typo is reported the same way everywhere and never as a traceback.

Configuration files are edited by hand and sometimes come from elsewhere, so loading is
bounded as well as safe:

* **aliases** (``*name``) may add at most :data:`ALIAS_BUDGET` values to the document (or
  as many as the file itself holds, when it holds more).  A "billion laughs" file of a few
  hundred bytes whose aliases would expand to millions of values is refused at once, with
  the line of the alias that crossed the bound; an alias to an anchor that is still open
  (a recursive structure) is refused too;
* **linear and lean**: the document is built straight from the parser's event stream
  (libyaml's when PyYAML has it).  ``yaml.safe_load`` first composes a node graph that
  keeps two position marks per value and only then builds the objects; for a 10 MB
  registry that graph alone took about 250 MB and five seconds (measured:
  ``scripts/bench_registry.py``), so this module hand-writes the small event-to-object
  loop and reuses PyYAML's own resolver and scalar constructors for every value, which
  keeps YAML 1.1 typing (``yes``, ``1_000``, dates, merge keys ``<<``) exactly as
  ``safe_load`` has it;
* **messages quote little**: :func:`quote` shortens whatever a message shows of a value.
"""

from __future__ import annotations

import logging
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

logger = logging.getLogger(__name__)

__all__ = ["ALIAS_BUDGET", "QUOTE_LIMIT", "YamlRefused", "load_yaml_file", "load_yaml_text", "quote"]

#: Values that aliases may add to a document beyond those written in it.
ALIAS_BUDGET = 100_000
#: Characters of a value that a message quotes at most.
QUOTE_LIMIT = 120

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_NO_KEY = object()


class _Everything:
    def __contains__(self, item: object) -> bool:
        return True


_EVERYTHING: Any = _Everything()
_MERGE_KEY = object()

_repr = reprlib.Repr()
_repr.maxstring = QUOTE_LIMIT
_repr.maxother = QUOTE_LIMIT
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxlevel = 3


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters, without ever building the whole repr
    of a big value (a long string is cut before it is quoted)."""
    if isinstance(value, str):
        text = repr(value[:limit]) + ("..." if len(value) > limit else "")
    else:
        text = _repr.repr(value)
    return text if len(text) <= limit + 8 else text[:limit] + "..."


def load_yaml_file(path: str | Path, what: str, error: type[Exception]) -> Any:
    """Parse ``path``; raise ``error`` with a clear message when it is missing, unreadable,
    not YAML or refused (aliases beyond the bound).  ``what`` names the file in messages
    ("registry file", "rules file")."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except FileNotFoundError:
        raise error(f"{what} not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {p}: {exc}") from None
    try:
        return load_yaml_text(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if len(problem) > 300:
            problem = problem[:297] + "..."
        verdict = "refused" if isinstance(exc, YamlRefused) else "not valid YAML"
        raise error(f"{p}: {verdict}{where}: {problem}") from None


@dataclass
class _Frame:
    """A sequence or mapping being built."""

    obj: Any
    anchor: str | None
    mark: Any
    size: int = 1
    key: Any = _NO_KEY
    merges: list[dict[Any, Any]] = field(default_factory=list)


class YamlRefused(yaml.MarkedYAMLError):
    """Valid YAML that is refused all the same (aliases beyond the bound)."""


def _fail(problem: str, mark: Any, refused: bool = False) -> yaml.MarkedYAMLError:
    return (YamlRefused if refused else yaml.MarkedYAMLError)(problem=problem, problem_mark=mark)


def load_yaml_text(text: str, alias_budget: int = ALIAS_BUDGET) -> Any:
    """The single YAML document in ``text`` (None when empty), as ``yaml.safe_load`` reads it.

    Raises :class:`yaml.YAMLError` for bad YAML, for more than one document, for tags that
    are not plain YAML types, for recursive aliases and for aliases that would add more
    than ``max(alias_budget, values in the file)`` values."""
    loader = _Loader(text)
    try:
        return _build(loader, alias_budget)
    finally:
        loader.dispose()


def _build(loader: Any, alias_budget: int) -> Any:
    constructors = loader.yaml_constructors
    # Plain scalars whose first character no implicit resolver looks at are strings; the
    # others are resolved by PyYAML's own resolver, once per distinct short value.
    typed_starts = set(loader.yaml_implicit_resolvers)
    if None in loader.yaml_implicit_resolvers or loader.yaml_path_resolvers:  # pragma: no cover
        typed_starts = _EVERYTHING
    resolved: dict[str, str] = {}
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    root: Any = None
    done = False
    values = 0  # values written in the file
    aliased = 0  # values added by aliases

    def add(value: Any, size: int, mark: Any) -> None:
        nonlocal root, done
        if not stack:
            root, done = value, True
            return
        top = stack[-1]
        top.size += size
        if isinstance(top.obj, list):
            top.obj.append(value)
        elif top.key is _NO_KEY:
            if isinstance(value, list | dict):
                raise _fail("a mapping key must be a plain value, not a list or a mapping", mark)
            top.key = value
        elif top.key is _MERGE_KEY:
            merges = value if isinstance(value, list) else [value]
            if not all(isinstance(m, dict) for m in merges):
                raise _fail("a merge key '<<' takes a mapping or a list of mappings", mark)
            top.merges.extend(merges)
            top.key = _NO_KEY
        else:
            top.obj[top.key] = value
            top.key = _NO_KEY

    event = loader.get_event()
    if not isinstance(event, StreamStartEvent):  # pragma: no cover - the parser always starts so
        raise _fail("not a YAML stream", event.start_mark)
    event = loader.get_event()
    if isinstance(event, StreamEndEvent):
        return None
    if not isinstance(event, DocumentStartEvent):  # pragma: no cover - the parser guarantees it
        raise _fail("expected a document", event.start_mark)
    while not done:
        event = loader.get_event()
        cls = type(event)
        if cls is ScalarEvent:
            values += 1
            tag = event.tag
            text = event.value
            if tag is None or tag == "!":
                if not event.implicit[0] or text[:1] not in typed_starts:  # quoted, or cannot be typed
                    tag = _STR
                else:
                    tag = resolved.get(text) if len(text) <= 32 else None
                    if tag is None:
                        tag = loader.resolve(yaml.ScalarNode, text, event.implicit)
                        if len(text) <= 32 and len(resolved) < 10_000:
                            resolved[text] = tag
            if tag == _STR:
                value: Any = text
                if event.anchor is None and stack:  # the common case: a plain value in a collection
                    top = stack[-1]
                    if type(top.obj) is list:
                        top.obj.append(value)
                        top.size += 1
                        continue
                    if top.key is not _NO_KEY and top.key is not _MERGE_KEY:
                        top.obj[top.key] = value
                        top.key = _NO_KEY
                        top.size += 1
                        continue
            elif tag == _MERGE and stack and isinstance(stack[-1].obj, dict) and stack[-1].key is _NO_KEY:
                stack[-1].key = _MERGE_KEY
                continue
            else:
                construct = constructors.get(tag)
                if construct is None or tag == _MERGE:
                    raise _fail(f"unsupported tag {quote(tag)}", event.start_mark)
                value = construct(loader, yaml.ScalarNode(tag, text, event.start_mark, event.end_mark,
                                                          event.style))
            if event.anchor:
                anchors[event.anchor] = (value, 1)
            add(value, 1, event.start_mark)
        elif cls is SequenceStartEvent or cls is MappingStartEvent:
            values += 1
            allowed = _SEQ if cls is SequenceStartEvent else _MAP
            if event.tag not in (None, "!", allowed):
                raise _fail(f"unsupported tag {quote(event.tag)}", event.start_mark)
            stack.append(_Frame([] if cls is SequenceStartEvent else {}, event.anchor, event.start_mark))
        elif cls is SequenceEndEvent or cls is MappingEndEvent:
            frame = stack.pop()
            obj = frame.obj
            if frame.merges:  # explicit keys win, then the first merged mapping, as in safe_load
                merged: dict[Any, Any] = {}
                for source in reversed(frame.merges):
                    merged.update(source)
                merged.update(obj)
                obj = merged
            if frame.anchor:
                anchors[frame.anchor] = (obj, frame.size)
            add(obj, frame.size, frame.mark)
        elif cls is AliasEvent:
            found = anchors.get(event.anchor)
            if found is None:
                open_anchor = any(f.anchor == event.anchor for f in stack)
                raise _fail(f"{'recursive' if open_anchor else 'undefined'} alias {quote(event.anchor)}",
                            event.start_mark)
            value, size = found
            aliased += size
            if aliased > max(alias_budget, values):
                raise _fail(f"aliases expand to more than {max(alias_budget, values):,} values "
                            f"(alias {quote(event.anchor, 40)}); write the values out instead",
                            event.start_mark, refused=True)
            add(value, size, event.start_mark)
        else:  # pragma: no cover - the parser emits nothing else inside a document
            raise _fail(f"unexpected {cls.__name__}", event.start_mark)
    event = loader.get_event()
    if not isinstance(event, DocumentEndEvent):  # pragma: no cover - the parser guarantees it
        raise _fail("expected the end of the document", event.start_mark)
    event = loader.get_event()
    if not isinstance(event, StreamEndEvent):
        raise _fail("expected a single document in the file, found another one", event.start_mark)
    return root


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
        message = errors[0].message
        raise error(f"{path}: {place}: {message if len(message) < 300 else message[:297] + '...'}")
    return data
