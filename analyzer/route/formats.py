"""The exported files. Every text that comes from the logs (names, utterances, reasons, model names) has been
through the output gate before it gets here (``RouteFit`` holds it gated); endpoints are the user's own.

- ``semantic-router``: semantic-router 0.x's route-layer JSON (``SemanticRouter.from_json``): ``encoder_type``,
  ``encoder_name`` and ``routes`` of ``name``, ``utterances``, ``description``, ``function_schemas``, ``llm``,
  ``score_threshold``, ``metadata``. LiteLLM's auto router reads this shape (its ``semantic-router`` extra pins
  ``semantic-router<1.0``).
- ``semantic-router-v1``: semantic-router 1.x's router file (``semantic_router.load_router``): ``router_type:
  indexed``, ``encoder {type, name}``, ``top_k``, ``aggregation``, ``index``, ``confidence_threshold`` and routes
  with ``confidence_threshold``. 1.x refuses 0.x files and 0.x cannot read 1.x ones.
- ``litellm``: a proxy ``config.yaml`` (``model_list`` with the local endpoint, the frontier models, one alias per
  route, the embedding model and the ``auto_router/`` deployment whose routes are inline in
  ``auto_router_config``; ``router_settings.fallbacks``). Inline, LiteLLM reads the routes without building the
  route file's own encoder (``auto_router_config_path`` would make the proxy load transformers and MiniLM only to
  throw them away: it routes with ``auto_router_embedding_model``).
- ``json``: plan's own document (README, "plan route export --format json").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .. import decisions as dv
from ..embedders import DEFAULT_EMBEDDER
from .targets import CASCADE, LOCAL, litellm_model

HF_MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TOP_K = 5
AGGREGATION = "mean"
LITELLM_DOCS = "https://docs.litellm.ai/docs/proxy/auto_routing_semantic"
LITELLM_CONFIG_DOCS = "https://docs.litellm.ai/docs/proxy/configs"
LITELLM_FALLBACK_DOCS = "https://docs.litellm.ai/docs/proxy/reliability"
SEMANTIC_ROUTER_V1_DOCS = "https://docs.aurelio.ai/docs/semantic-router/v1/user-guide/guides/migration-to-v1"
NO_KEY = "sk-no-key-required"  # local OpenAI-compatible servers ignore it; LiteLLM's client wants one
ROUTER_NAME = "plan-router"
EMBEDDING_NAME = "plan-route-embedding"


def encoder_name(embedder: str) -> str:
    """The Hugging Face name a router loads the embedder by (MiniLM: its hub name, which loads offline from
    the Hugging Face cache)."""
    return HF_MINILM if embedder == DEFAULT_EMBEDDER else embedder


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "category"


def route_name(category_id: int, name: str) -> str:
    return f"category-{category_id}-{slug(name)}"


def _metadata(route: dict) -> dict:
    return {"plan_category_id": route["category_id"], "decision": route["decision"],
            "target": route["target"], "held_out": route["held_out_utterance"]}


def semantic_router(fit: dict) -> dict:
    """semantic-router 0.x route-layer JSON."""
    return {
        "encoder_type": "huggingface",
        "encoder_name": encoder_name(fit["embedder"]),
        "routes": [{"name": r["name"], "utterances": [u["text"] for u in r["utterances"]],
                    "description": r["description"], "function_schemas": None, "llm": None,
                    "score_threshold": r["utterance_score_threshold"], "metadata": _metadata(r)}
                   for r in fit["routes"] if r["utterances"]],
    }


def semantic_router_v1(fit: dict) -> dict:
    """semantic-router 1.x router file (``router_type: indexed``, no calibrator: scores are raw cosines)."""
    return {
        "router_type": "indexed",
        "encoder": {"type": "huggingface", "name": encoder_name(fit["embedder"])},
        "top_k": TOP_K,
        "aggregation": AGGREGATION,
        "index": {"type": "local"},
        "confidence_threshold": fit["calibration"]["utterance"]["thresholds"]["global"],
        "routes": [{"name": r["name"], "utterances": [u["text"] for u in r["utterances"]],
                    "description": r["description"], "confidence_threshold": r["utterance_score_threshold"],
                    "metadata": _metadata(r)} for r in fit["routes"] if r["utterances"]],
    }


def _deployment(target: dict, *, local_key: str = NO_KEY) -> dict:
    """LiteLLM ``litellm_params`` for a target: the local model as an OpenAI-compatible endpoint, or the
    frontier model with its provider prefix and key from the environment."""
    if target["kind"] in (LOCAL, CASCADE):
        return {"model": f"openai/{target['model']}", "api_base": target["endpoint"], "api_key": local_key}
    model, key = litellm_model(target.get("model"), target.get("provider"))
    params = {"model": model}
    if key:
        params["api_key"] = f"os.environ/{key}"
    return params


def _frontier_of(target: dict) -> dict | None:
    if target["kind"] == CASCADE:
        return {"kind": "frontier", **target["fallback"]}
    if target["kind"] == LOCAL:
        return None
    return target


def litellm_routes(fit: dict) -> str:
    """The ``auto_router_config`` string: the routes as LiteLLM's auto router reads them inline (``name``,
    ``description``, ``utterances``, ``score_threshold``), pretty-printed so config.yaml stays reviewable."""
    routes = [{"name": r["name"], "description": r["description"], "utterances": [u["text"] for u in r["utterances"]],
               "score_threshold": r["utterance_score_threshold"]} for r in fit["routes"] if r["utterances"]]
    return json.dumps({"routes": routes}, indent=2, ensure_ascii=False) + "\n"


def _model_list(fit: dict, routes: list[dict], settings) -> list[dict]:
    """Deployments: each target and frontier model once, one alias per route (the name its route sends to),
    the embedding model the auto router embeds prompts with."""
    models: dict[str, dict] = {}
    for r in routes:
        t = r["target"]
        models.setdefault(t["model"], _deployment(t))
        frontier = _frontier_of(t)
        if frontier and frontier.get("model"):
            models.setdefault(frontier["model"], _deployment(frontier))
    default = fit["default"]
    models.setdefault(default["model"], _deployment({"kind": "frontier", **default}))
    local_endpoint = next((r["target"]["endpoint"] for r in routes if r["target"]["kind"] in (LOCAL, CASCADE)),
                          None)
    model_list = [{"model_name": name, "litellm_params": params} for name, params in models.items()]
    model_list += [{"model_name": r["name"], "litellm_params": _deployment(r["target"])} for r in routes]
    model_list.append({"model_name": EMBEDDING_NAME,
                       "litellm_params": {"model": f"openai/{settings.embedding_model}",
                                          "api_base": settings.embedding_endpoint or local_endpoint
                                          or fit["local_endpoint"], "api_key": NO_KEY},
                       "model_info": {"mode": "embedding"}})
    return model_list


def _fallbacks(routes: list[dict]) -> list[dict]:
    """On a failed call, a local route falls back to the frontier model the logs show for it and a cascade to
    its frontier model; a local-for-compliance route never leaves the local model."""
    fallbacks = []
    for r in routes:
        t = r["target"]
        if r["decision"] == dv.LOCAL_FOR_COMPLIANCE:
            continue
        back = t.get("fallback", {}).get("model") if t["kind"] == CASCADE else (
            r["frontier_model"] if t["kind"] == LOCAL else None)
        if back:
            fallbacks.append({r["name"]: [back]})
    return fallbacks


def litellm_config(fit: dict, settings) -> dict:
    """The proxy ``config.yaml`` as a dict: deployments, per-route aliases, the auto router and fallbacks."""
    routes = [r for r in fit["routes"] if r["utterances"]]
    model_list = _model_list(fit, routes, settings)
    model_list.append({"model_name": ROUTER_NAME,
                       "litellm_params": {"model": f"auto_router/{ROUTER_NAME}",
                                          "auto_router_config": litellm_routes(fit),
                                          "auto_router_default_model": fit["default"]["model"],
                                          "auto_router_embedding_model": EMBEDDING_NAME}})
    config: dict = {"model_list": model_list}
    fallbacks = _fallbacks(routes)
    if fallbacks:
        config["router_settings"] = {"fallbacks": fallbacks}
    return config


def _held_out_line(o: dict) -> str:
    share = "n/a" if o["own_category_share"] is None else f"{o['own_category_share']:.1%}"
    return (f"Held out from the fit: {share} of {o['held_out']} prompts land in their own route at these thresholds "
            f"(scored as this router scores them); {o['fell_through']} fall through to the default model, "
            f"{o['elsewhere']} land in another route.")


def litellm_header(fit: dict) -> str:
    """Comments for the top of config.yaml: what it is, where its shape is documented, what it cannot do."""
    cascades = [r for r in fit["routes"] if r["target"]["kind"] == CASCADE]
    lines = [
        "LiteLLM proxy config written by `plan route export --format litellm`.",
        f"Clients call model \"{ROUTER_NAME}\"; LiteLLM's semantic auto router embeds the last user message with",
        f"\"{EMBEDDING_NAME}\" and sends it to the route (a model_name below) whose utterances it matches;",
        "unmatched prompts go to auto_router_default_model.",
        f"Shape documented at {LITELLM_DOCS}",
        f"(model_list, os.environ/ keys: {LITELLM_CONFIG_DOCS}; fallbacks: {LITELLM_FALLBACK_DOCS}).",
        "LiteLLM marks that router deprecated in favour of complexity tiers, which cannot route by your own",
        "categories; it needs LiteLLM's `semantic-router` extra (pip install 'litellm[proxy,semantic-router]').",
        "The routes are inline in auto_router_config (no encoder is loaded for them); their thresholds hold only",
        "if the embedding model below is all-MiniLM-L6-v2, as plan's (Ollama: `ollama pull all-minilm`).",
        "Local and cascade routes fall back to their frontier model when the local call fails (errors only);",
        "local-for-compliance routes never do: their prompts carry data that must stay on your machines.",
        _held_out_line(fit["calibration"]["utterance"]["outcome"]),
    ]
    if cascades:
        lines.append("Cascade routes run local first; their runtime checks must run in your app or a LiteLLM")
        lines.append("guardrail, which sends a failed answer on to the frontier model:")
        lines += [f"  {r['name']}: {', '.join(r['target']['runtime_checks']) or 'failed calls only'}"
                  for r in cascades]
    undecided = [r["name"] for r in fit["routes"] if r["decision"] in ("needs_judge", "not_measured")]
    if undecided:
        lines.append("Undecided categories (needs_judge / not_measured) stay on their frontier model: "
                     + ", ".join(undecided))
    return "".join(f"# {line}\n" for line in lines)


def _block_dumper():
    import yaml

    class BlockDumper(yaml.SafeDumper):
        """Multi-line strings (the inline routes) as literal blocks; PyYAML quotes any it cannot write so."""

    def text(dumper, value: str):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    BlockDumper.add_representer(str, text)
    return BlockDumper


def write(fmt: str, fit: dict, out: Path, settings) -> list[str]:
    """Write the export; the paths written."""
    import yaml

    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "semantic-router":
        out.write_text(json.dumps(semantic_router(fit), indent=2, ensure_ascii=False) + "\n")
        return [str(out)]
    if fmt == "semantic-router-v1":
        out.write_text(json.dumps(semantic_router_v1(fit), indent=2, ensure_ascii=False) + "\n")
        return [str(out)]
    if fmt == "litellm":
        body = yaml.dump(litellm_config(fit, settings), Dumper=_block_dumper(), sort_keys=False, allow_unicode=True)
        out.write_text(litellm_header(fit) + body)
        return [str(out)]
    out.write_text(json.dumps(fit, indent=2, ensure_ascii=False, default=str) + "\n")
    return [str(out)]
