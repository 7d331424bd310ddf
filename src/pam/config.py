"""Strict YAML configuration: a YAML file (or a mapping) becomes a tree of frozen dataclasses.

Shared by the job spec (``pam.engine``) and the training configuration (``pam.training``). Every
key must be a field of its dataclass and every value must have the field's type; otherwise
:class:`ConfigError` names the file and the dotted path of the value (``job.yaml: objects[1].scale:
expected a number, got 'big'``). Fields without a default are required. Overrides such as
``optim.lr=3e-5`` (the ``--set`` option of the commands) are parsed as YAML values and applied
before validation.

Supported field types: ``int``, ``float`` (ints accepted), ``bool``, ``str``, ``Path``, ``Enum``,
``Literal[...]``, ``X | None``, ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[str, X]``,
``Any`` and nested dataclasses. A dataclass's own ``__post_init__`` may raise ``ValueError``; it is
reported as a ``ConfigError`` at that dataclass's path.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

from pam.fileio import atomic_path

T = TypeVar("T")


_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; the message names where."""


def read_yaml(path: Path) -> Any:
    """The parsed YAML file ``path``; a ConfigError naming it when it is missing or not valid YAML."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc


def _set_path(data: dict, dotted: str, value: Any, origin: str) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: {dotted}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def apply_overrides(data: Mapping | None, overrides: Sequence[str], origin: str = "--set") -> dict:
    """Return a copy of ``data`` with ``"a.b=value"`` overrides applied (values parsed as YAML)."""
    import copy

    import yaml

    result = copy.deepcopy(dict(data or {}))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{origin}: {item!r}: expected KEY=VALUE, e.g. optim.lr=1e-4")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{origin}: {item!r}: value is not valid YAML ({exc})") from exc
        _set_path(result, key.strip(), value, origin)
    return result


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (lists to tuples, str to Path...)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where}: a value is required")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc).split(": ", 1)[-1])
        raise ConfigError(f"{where}: " + " or ".join(errors))
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, args))}, got {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_describe(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list or tp is list else tuple(items)
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_describe(value)}")
        key_tp, val_tp = args if args else (Any, Any)
        return {_convert(key_tp, k, f"{where}"): _convert(val_tp, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            names = ", ".join(repr(m.value) for m in tp)
            raise ConfigError(f"{where}: expected one of {names}, got {_describe(value)}") from None
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {_describe(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {_describe(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
            return float(value)  # PyYAML reads YAML 1.1, where "1e-4" (no dot) is a string
        raise ConfigError(f"{where}: expected a number, got {_describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {_describe(value)}")
    if tp is Path:
        if isinstance(value, (str, os.PathLike)):
            return Path(value).expanduser()
        raise ConfigError(f"{where}: expected a path, got {_describe(value)}")
    raise TypeError(f"{where}: unsupported field type {tp!r}")


def _build(cls: type[T], data: Any, where: str) -> T:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} fields, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        raise ConfigError(f"{where}.{key}: unknown key (expected one of: {', '.join(fields)})".lstrip(".: "))
    kwargs = {}
    for name, field in fields.items():
        path = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], path)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}: required")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def load_config(cls: type[T], source: str | os.PathLike | Mapping | None = None, overrides: Sequence[str] = ()) -> T:
    """Build the frozen dataclass ``cls`` from a YAML file, a mapping or None (defaults only),
    after applying ``overrides`` (``["optim.lr=1e-4", ...]``). Errors name the file and the key."""
    origin = "config"
    if isinstance(source, (str, os.PathLike)):
        origin = str(source)
        data = read_yaml(Path(source))
    else:
        data = source
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {_describe(data)}")
    data = apply_overrides(data, overrides)
    try:
        return _build(cls, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def config_to_dict(obj: Any) -> Any:
    """A plain, YAML-writable copy of a configuration (Paths as strings, tuples as lists, enums as values)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: config_to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): config_to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [config_to_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj


def save_config(obj: Any, path: str | os.PathLike) -> Path:
    """Write a configuration as YAML atomically (e.g. the resolved copy kept in a run folder)."""
    import yaml

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(config_to_dict(obj), sort_keys=False))
    return path
