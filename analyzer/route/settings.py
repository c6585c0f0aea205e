"""The settings of ``plan route``, resolved once (flag > environment > ``plan.toml [route]`` > default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..settings import StageSettings, at_least, fraction, option

FORMATS = ("semantic-router", "semantic-router-v1", "litellm", "json")


@dataclass(frozen=True)
class RouteSettings(StageSettings):
    """Everything ``plan route`` is told.

    ``holdout``: share of each cluster's fitted prompts left out of the centres and utterances, to calibrate the
    thresholds on; ``heldout_per_category`` caps how many are scored per category (each may need embedding).
    A threshold keeps ``recall`` of the held-out prompts the classifier places right, and is raised where needed
    so that at least ``precision`` of what it routes lands in its own category.
    """

    section: ClassVar[str] = "route"

    holdout: float = option(0.2, convert=float, check=fraction())
    heldout_per_category: int = option(120, convert=int, check=at_least(5))
    recall: float = option(0.98, convert=float, check=fraction())
    precision: float = option(0.95, convert=float, check=fraction())
    utterances: int = option(24, convert=int, check=at_least(2))
    boundary_share: float = option(1 / 3, convert=float, check=fraction(allow_zero=True))
    seed: int = option(0, convert=int)
    # The local target: by default the model the judge judged, at the endpoint its replays went to.
    endpoint: str | None = option(None)
    model: str | None = option(None)
    # Unmatched prompts go here; by default the frontier model with most requests in the logs.
    default_model: str | None = option(None)
    # LiteLLM embeds each prompt with this model (it must be all-MiniLM-L6-v2 for the thresholds to hold).
    embedding_model: str = option("all-minilm")
    embedding_endpoint: str | None = option(None)
