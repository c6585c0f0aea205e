"""Settings resolved once per stage: flag > environment variable > ``plan.toml`` > default.

Each stage declares one frozen dataclass whose fields say where a value may come from::

    @dataclass(frozen=True)
    class ReplaySettings(StageSettings):
        section = "replay"
        concurrency: int = option(4, convert=int, check=at_least(1))
        endpoint: str = option("http://localhost:11434/v1", env="PLAN_ENDPOINT")

    settings = ReplaySettings.resolve(config, concurrency=flag_value)

A flag given as ``None`` means "not given"; every other value (``0``, ``""``, ``False``) is the user's choice and
wins. The precedence rule lives here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, ClassVar, TypeVar

from .config import setting
from .errors import PlanError

_MISSING = dataclasses.MISSING
S = TypeVar("S", bound="StageSettings")


def option(default: Any = None, *, key: str | None = None, env: str | None = None,
           convert: Callable[[Any], Any] | None = None, check: Callable[[Any], str | None] | None = None,
           flag: str | None = None, default_factory: Callable[[], Any] | None = None, flag_only: bool = False) -> Any:
    """A settings field. ``key`` is its dotted ``plan.toml`` name (default ``<section>.<field>``); ``env`` the
    environment variable that may set it; ``convert`` turns a configured value into the field's type;
    ``check`` returns a sentence when a value is out of range; ``flag`` names the flag in error messages.
    ``flag_only``: set by the caller or left at its default, never from the environment or ``plan.toml`` (a
    choice such as writing unredacted text must be made on the command line each time)."""
    meta = {"key": key, "env": env, "convert": convert, "check": check, "flag": flag, "flag_only": flag_only}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def at_least(low: float) -> Callable[[Any], str | None]:
    return lambda value: None if value is None or value >= low else f"must be at least {low:g}"


def fraction(*, allow_zero: bool = False) -> Callable[[Any], str | None]:
    def check(value):
        if value is None or 0 < value < 1 or (allow_zero and value == 0):
            return None
        return "must be between 0 and 1 (a fraction)"
    return check


class StageSettings:
    """Base for the per-stage settings dataclasses (subclasses are ``@dataclass(frozen=True)``)."""

    section: ClassVar[str] = ""

    @classmethod
    def resolve(cls: type[S], config: dict | None = None, **flags: Any) -> S:
        """Build the settings once: each field from its flag, else its environment variable, else ``plan.toml``,
        else its default. Unknown flag names are a programming error and raise ``TypeError``."""
        config = config or {}
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(flags) - known
        if unknown:
            raise TypeError(f"{cls.__name__} has no setting {', '.join(sorted(unknown))}")
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            values[f.name] = _resolve_field(cls, f, config, flags.get(f.name))
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The resolved values, for ``stage_runs`` and ``--json`` provenance."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def _resolve_field(cls: type[StageSettings], f: dataclasses.Field, config: dict, flag: Any) -> Any:
    meta = f.metadata
    key = meta.get("key") or f"{cls.section}.{f.name}"
    env = meta.get("env")
    if flag is not None:
        value, source = flag, f"--{(meta.get('flag') or f.name).replace('_', '-')}"
    elif meta.get("flag_only"):
        return _default(f)
    elif env and os.environ.get(env) not in (None, ""):
        value, source = os.environ[env], env
    elif setting(config, key) is not None:
        value, source = setting(config, key), f"plan.toml {key}"
    else:
        return _default(f)
    convert = meta.get("convert")
    if convert is not None:
        try:
            value = convert(value)
        except (TypeError, ValueError) as exc:
            raise PlanError(f"{source} {value!r}: {exc}.") from exc
    check = meta.get("check")
    problem = check(value) if check is not None else None
    if problem:
        raise PlanError(f"{source} {problem}, not {value!r}.")
    return value


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return None if f.default is _MISSING else f.default
