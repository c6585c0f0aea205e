"""Which format a file is, and, when it is none (or most of it was rejected), which one it most resembles and why
it did not match: one sentence a user can act on."""

from __future__ import annotations

import re

from .records import first_json_object
from .sources import SourceFile

# What marks each family of formats in a record's keys (compared without case, "_" or "."), and what a record of it
# needs. Used only to explain a mismatch, never to detect.
FAMILIES = (
    ("openai", "an OpenAI app log", {"request", "response", "choices", "usage", "messages", "model", "object", "created"},
     "a request/response pair, or a chat.completion or Responses object with usage"),
    ("anthropic", "an Anthropic Messages log", {"type", "content", "stopreason", "usage", "system", "messages"},
     "a Message (type, content blocks, usage) or a request/response pair holding one"),
    ("bedrock", "a Bedrock invocation log", {"modelid", "schematype", "input", "output", "requestid", "message", "results",
                                            "inputtokencount", "outputtokencount", "field", "value"},
     "modelId with input and output bodies (schemaType ModelInvocationLog)"),
    ("litellm", "a LiteLLM spend log", {"requestid", "calltype", "spend", "starttime", "model", "prompttokens"},
     "request_id, call_type and spend"),
    ("litellm-payload", "a LiteLLM StandardLoggingPayload", {"responsecost", "calltype", "messages", "response",
                                                              "starttime", "modelparameters", "id"},
     "id, call_type and response_cost with messages and response"),
    ("langfuse", "a Langfuse export", {"traceid", "type", "starttime", "usagedetails", "observations", "batch", "body",
                                        "costdetails", "model"},
     "observations with traceId, type and startTime, or ingestion events (batch of trace-create/generation-create)"),
    ("otel", "OpenTelemetry spans", {"resourcespans", "scopespans", "spans", "traceid", "spanid", "attributes", "context",
                                     "parentspanid", "starttimeunixnano", "name", "kind"},
     "spans with gen_ai.*, llm.* or OpenInference attributes"),
    ("helicone", "a Helicone export", {"requestbody", "responsebody", "requestid", "promptTokens", "costusd"},
     "request and response bodies"),
    ("langsmith", "a LangSmith run export", {"runtype", "inputs", "outputs", "dottedorder", "parentrunid", "traceid",
                                             "starttime", "endtime", "extra", "totalcost", "prompttokens"},
     "run_type with inputs or outputs, and an id, trace_id or dotted_order"),
    ("posthog", "PostHog events", {"event", "properties", "distinctid", "uuid", "elementschain", "personid",
                                    "personproperties"},
     "LLM analytics events ($ai_generation, $ai_embedding) with their $ai_* properties"),
    ("datadog", "Datadog LLM Observability spans", {"spanid", "parentid", "meta", "metrics", "mlapp", "spankind", "startns",
                                                    "eventtype", "modelname", "modelprovider"},
     "spans of kind llm or embedding with a model and token metrics"),
    ("braintrust", "a Braintrust log export", {"spanid", "rootspanid", "spanparents", "spanattributes", "xactid",
                                              "logid", "isroot", "metrics", "scores"},
     "span_id and root_span_id, with span_attributes or span_parents"),
)


def _fold(key: str) -> str:
    return re.sub(r"[_.\-@ ]", "", str(key)).lower()


def sniff_scores(src: SourceFile, formats: dict) -> list[tuple[int, str]]:
    scores = []
    for fmt in formats.values():
        try:
            score = fmt.sniff(src)
        except Exception:  # a sniffer must never break detection of the others
            score = 0
        if score:
            scores.append((int(score), fmt.name))
    return sorted(scores, reverse=True)


def detect_format(src: SourceFile, formats: dict | None = None) -> str | None:
    """The best-scoring format for a file, or None when no format recognises it."""
    if formats is None:
        from .formats import load_all

        formats = load_all()
    scores = sniff_scores(src, formats)
    return scores[0][1] if scores else None


def unknown_format_message(src: SourceFile, formats: dict) -> str:
    why = explain_mismatch(src, formats)
    return (
        f"{src.display}: not a log format plan recognises{'; ' + why if why else ''}. Pass --format NAME "
        f"(one of: {', '.join(sorted(formats))}), or --format generic --map prompt=COL,... for other CSV/JSONL."
    )


def _record_keys(src: SourceFile) -> tuple[str, dict[str, str]]:
    """('json' or 'csv', the first record's keys and the keys one level down, each with where it is: ``system`` or
    ``invocation_params.system``), for comparing with FAMILIES."""
    from .formats.generic import csv_header, file_kind

    kind = file_kind(src)
    if b"\x00" in src.head()[:4096]:
        return "binary", {}
    if kind == "csv":
        return "csv", {c: c for c in (csv_header(src) or []) if c}
    obj = first_json_object(src)
    if not isinstance(obj, dict):
        return kind, {}
    keys = {str(k): str(k) for k in obj}
    for outer, value in obj.items():
        inner = value[0] if isinstance(value, list) and value else value
        if isinstance(inner, dict):
            for key in inner:
                keys.setdefault(str(key), f"{outer}.{key}")
    return kind, keys


def explain_mismatch(src: SourceFile, formats: dict) -> str | None:
    """Why a file matches no format: a format's own diagnosis when one recognises the near miss, else the family
    whose marks the file shares most and what a record of it needs. None when nothing resembles a known format."""
    for fmt in formats.values():
        near_miss = getattr(fmt, "near_miss", None)
        if near_miss is None:
            continue
        try:
            sentence = near_miss(src)
        except Exception:  # an explanation must never break ingest
            sentence = None
        if sentence:
            return sentence
    kind, keys = _record_keys(src)
    folded = {_fold(k) for k in keys}
    best = max(FAMILIES, key=lambda fam: len(folded & {_fold(m) for m in fam[2]}))
    shared = sorted((path for k, path in keys.items() if _fold(k) in {_fold(m) for m in best[2]}),
                    key=lambda path: (path.count("."), path))
    if len(shared) < 2:
        if keys:
            shown = ", ".join(sorted(k for k, path in keys.items() if k == path)[:8])
            return f"its {'columns' if kind == 'csv' else 'records'} ({shown}) resemble no export plan knows"
        return None
    return f"it looks most like {best[1]} (it has {', '.join(shared[:6])}), but a record of that needs {best[3]}"


def explain_rejects(con, display: str, fmt_label: str, rejected: int, kept: int) -> str:
    """One sentence for a file most of whose records were rejected: how many, the format and the main reason."""
    from .rejects import reason_counts

    reasons = reason_counts(con, display, limit=1)
    reason = reasons[0][0] if reasons else "unreadable records"
    return (f"{rejected:,} of {rejected + kept:,} records rejected: it looks like {fmt_label}, but most records "
            f"fail with \"{reason}\"")
