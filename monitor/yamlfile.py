"""Load YAML while remembering where every mapping key and value came from.

The loader rejects duplicate keys (YAML would silently keep the last one) and
returns plain Python data plus a :class:`Marks` lookup that turns a path of keys
and indexes into a :class:`~monitor.errors.Location`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import Location, MonitorError

__all__ = ["Marks", "YamlDocument", "load_yaml_documents", "load_yaml_file"]

_Key = tuple[Any, ...]


class Marks:
    """Locations of nodes in one YAML document, addressed by key path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._key: dict[_Key, tuple[int, int]] = {}
        self._value: dict[_Key, tuple[int, int]] = {}

    def _set(self, table: dict[_Key, tuple[int, int]], keypath: _Key, mark: yaml.Mark) -> None:
        table[keypath] = (mark.line + 1, mark.column + 1)

    def key(self, *keypath: Any) -> Location:
        """Location of the key at ``keypath`` (falls back to the nearest parent)."""
        return self._find(self._key, keypath) or self.value(*keypath)

    def value(self, *keypath: Any) -> Location:
        """Location of the value at ``keypath`` (falls back to the nearest parent)."""
        found = self._find(self._value, keypath)
        return found or Location(self.path, 1, 1)

    def _find(self, table: dict[_Key, tuple[int, int]], keypath: _Key) -> Location | None:
        kp = tuple(keypath)
        while True:
            if kp in table:
                line, col = table[kp]
                return Location(self.path, line, col)
            if not kp:
                return None
            kp = kp[:-1]


class YamlDocument:
    """One parsed document: its data, its marks and where it starts."""

    def __init__(self, data: Any, marks: Marks, start: Location) -> None:
        self.data = data
        self.marks = marks
        self.start = start


def _record(node: yaml.Node, keypath: _Key, marks: Marks) -> None:
    marks._set(marks._value, keypath, node.start_mark)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key_node)
            if key in seen:
                first = seen[key].start_mark.line + 1
                loc = Location(marks.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                raise MonitorError(f"duplicate key '{key}' (first defined on line {first})", loc)
            seen[key] = key_node
            marks._set(marks._key, keypath + (key,), key_node.start_mark)
            _record(value_node, keypath + (key,), marks)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, keypath + (index,), marks)


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps ISO dates as strings (we parse them ourselves)."""


# Dates stay strings so that error messages can quote them and parsing is explicit.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_documents(text: str, path: str, error_class: type[MonitorError] = MonitorError) -> list[YamlDocument]:
    """Parse every document in ``text``; raise ``error_class`` with ``path:line:col``."""
    docs: list[YamlDocument] = []
    try:
        loader = _Loader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                marks = Marks(path)
                try:
                    _record(node, (), marks)
                except MonitorError as exc:
                    raise error_class(exc.message, exc.location) from None
                data = loader.construct_document(node)
                start = Location(path, node.start_mark.line + 1, node.start_mark.column + 1)
                docs.append(YamlDocument(data, marks, start))
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise error_class(f"YAML syntax error: {problem}", loc) from None
    except yaml.YAMLError as exc:
        raise error_class(f"YAML error: {exc}", Location(path)) from None
    return docs


def load_yaml_file(path: str | Path, error_class: type[MonitorError] = MonitorError) -> list[YamlDocument]:
    """Read and parse a YAML file (UTF-8); errors carry the file's location."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error_class("file not found", Location(str(p))) from None
    except UnicodeDecodeError as exc:
        raise error_class(f"file is not valid UTF-8 (byte {exc.start})", Location(str(p))) from None
    except OSError as exc:
        raise error_class(f"cannot read file: {exc.strerror}", Location(str(p))) from None
    return load_yaml_documents(text, str(p), error_class)
