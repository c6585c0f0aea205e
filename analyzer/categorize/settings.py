"""The settings of ``plan categorize``, resolved once (flag > environment > ``plan.toml [categorize]`` > default)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import PlanError
from ..settings import StageSettings, at_least, fraction, option

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
DEFAULT_TEMPLATE_CAP = 50


def parse_k(value: Any) -> int | None:
    """``auto`` (None) or a whole number of clusters of at least 1."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return None
        if not text.isdigit():
            raise PlanError(f"--k must be 'auto' or a positive whole number, not {value!r}.")
        value = int(text)
    if isinstance(value, bool) or int(value) != value:
        raise PlanError(f"--k must be 'auto' or a positive whole number, not {value!r}.")
    if int(value) < 1:
        raise PlanError("--k must be at least 1.")
    return int(value)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class CategorizeSettings(StageSettings):
    """Everything ``categorize`` is told. ``k=None`` means auto. ``named_share`` is the share of spend the
    ``top`` named categories should carry for a level to be named (else the coarser level is named)."""

    section: ClassVar[str] = "categorize"

    k: int | None = option(None, convert=parse_k)
    top: int = option(10, convert=int, check=at_least(1))
    embedder: str = option(DEFAULT_EMBEDDER, env="PLAN_EMBEDDER")
    seed: int = option(0, convert=int)
    sample_size: int = option(3000, convert=int, check=at_least(10))
    exact_limit: int = option(5000, convert=int, check=at_least(0))
    # In the exact mode, embed at most this many distinct texts of one template (0: no cap); a template the
    # clustering keeps whole takes the rest along unembedded, one it splits is embedded in full.
    template_cap: int = option(DEFAULT_TEMPLATE_CAP, convert=int, check=at_least(0))
    # Costly texts outside the sample that the cheap route is unsure of are embedded with the chosen model too
    # (at most this many, costliest first): spend is concentrated, and a cheap-route mistake on one of a few
    # hundred long prompts that carry a quarter of the spend moves a category's share visibly.
    heavy_limit: int = option(500, convert=int, check=at_least(0))
    heavy_min_share: float = option(2e-5, convert=float, check=at_least(0))  # below 0.002% of spend: cheap route
    # A fixed margin instead of the learned one; 2 (the widest cosine gap) embeds every costly text.
    heavy_sure_margin: float | None = option(None, convert=float, check=at_least(0))
    min_template_requests: int = option(5, convert=int, check=at_least(2))
    named_share: float = option(0.75, convert=float, check=fraction())
    llm_names: bool = option(False, convert=_bool)
    endpoint: str | None = option(None)
    model: str | None = option(None)
    allow_remote: bool = option(False, convert=_bool)

    @classmethod
    def resolve(cls, config: dict | None = None, **flags: Any) -> "CategorizeSettings":
        """As ``StageSettings.resolve``; with ``llm_names`` the naming endpoint is resolved (as for replay, from
        the ``[categorize]`` section first) and checked to be this machine unless ``allow_remote``."""
        settings = super().resolve(config, **flags)
        if not settings.llm_names:
            return settings
        from ..endpoints import ensure_local, resolve_endpoint, resolve_model

        url = resolve_endpoint(settings.endpoint, config, section="categorize")
        return dataclasses.replace(settings, endpoint=ensure_local(url, settings.allow_remote),
                                   model=resolve_model(settings.model, config, section="categorize"))
