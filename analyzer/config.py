"""Optional ``plan.toml``: endpoint, model, hardware, electricity, per-category criteria, price overrides.

Precedence: command-line flag > environment variable > plan.toml > built-in default.
Secrets (SMTP passwords, API keys) are read only from the environment, never from this file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import PlanError

DEFAULT_CONFIG = "plan.toml"


def config_path(explicit: str | None = None) -> Path | None:
    candidate = explicit or os.environ.get("PLAN_CONFIG")
    if candidate:
        p = Path(candidate)
        if not p.exists():
            raise PlanError(f"Config file {p} does not exist.")
        return p
    p = Path(DEFAULT_CONFIG)
    return p if p.exists() else None


def load_config(explicit: str | None = None) -> dict[str, Any]:
    path = config_path(explicit)
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML ({exc}).") from exc


def setting(config: dict, dotted: str, default=None):
    """``setting(cfg, "replay.endpoint")`` reads nested tables without KeyErrors."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node
