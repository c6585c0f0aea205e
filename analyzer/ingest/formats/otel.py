"""OpenTelemetry GenAI spans (format ``otel``): what Phoenix, Langfuse's OTel endpoint, OpenLLMetry, Logfire, the
Vercel AI SDK and the collectors emit, in any of the shapes ``otel_spans.py`` reads.

Only model calls are requests: spans whose ``gen_ai.operation.name`` is ``chat``, ``text_completion`` or
``generate_content``, OpenInference spans of kind ``LLM``, OpenLLMetry's ``llm.request.type`` chat/completion
spans, Langfuse ``generation`` observations, the AI SDK's ``doGenerate``/``doStream`` spans and Logfire's LLM
integration spans (named by their message template, ``request_data``/``response_data`` JSON; a streamed call's
"streaming response" log is paired with its request span, ``LogfireStreams``). Agent, workflow,
tool and wrapper spans (which often repeat their children's usage) are skipped and counted. Embedding calls
(``embeddings``, OpenInference ``EMBEDDING``) are priced but stored without a prompt to categorize
(``operation='embeddings'``). Each span is one request, deduplicated by span id (a console exporter printing a
span twice, or the same span in a collector file and a Langfuse export, counts once); the parent span and the
trace are kept. A model call inside another of the same kind in the file (a framework's span around the client
instrumentor's: OpenInference LangChain around OpenAI, ADK ``call_llm`` around ``generate_content``, OpenLLMetry's
``ChatOpenAI.chat`` around ``openai.chat``) is counted at the innermost span, the actual API call; the outer one is
skipped as a wrapper and gives the inner what its span left empty (``NestedCalls``). A first pass keeps only span
ids, parent links and the model calls' kinds. The attribute names read are listed in README.md ("OpenTelemetry
GenAI spans").
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from ..records import OLLAMA_ID, Reject, Skipped, excerpt, maybe_json
from ..sample_rates import attribute_rate, tracestate_rate
from . import register
from .agent_telemetry import AgentPrompts, agent_event, agent_record
from .app_log import first_value
from .generic import (chat_request_fields, content_text, decode_json, file_kind, guess_provider, iter_values,
                      ms_between, params_from_body, resource_model, response_text, table_columns, to_float, to_int, usage_fields)
from .otel_spans import (LogEvent, Span, app_insights_part, app_insights_rows, elastic_sources, is_anonymous_span,
                         is_app_insights_row, is_dataframe_row, is_honeycomb_annotation, is_honeycomb_row, is_jaeger_span,
                         is_log_record, is_logfire_row, is_sentry_envelope_header, is_sentry_span, is_span, log_records_in,
                         logfire_columns_to_rows, not_a_span, read_log_record, read_span, sentry_spans, spans_in)

CALL_OPERATIONS = {"chat", "text_completion", "generate_content", "completion", "responses",
                   "call_llm",  # mozilla-ai's any-agent (its tools are execute_tool, its agents invoke_agent)
                   "llm_call", "gemini_cli.llm.generate",  # Gemini CLI's spans (its agent turns and tools are other names)
                   # Semantic Kernel's (Python and .NET) names, before the conventions settled on chat
                   "chat.completions", "chat.streaming_completions", "text.completions", "text.streaming_completions"}
EMBEDDING_OPERATIONS = {"embeddings", "embedding"}
AI_SDK_CALLS = {"ai.generateText.doGenerate", "ai.streamText.doStream", "ai.generateObject.doGenerate", "ai.streamObject.doStream"}
AI_SDK_EMBEDDINGS = {"ai.embed.doEmbed", "ai.embedMany.doEmbed"}
_EVENT_NAMES = re.compile(r'"(gen_ai|claude_code|codex|gemini_cli)\.[a-z_.]+"')  # events this reader reads, in a head
_NAMED_CALL = re.compile(r"^(chat|text_completion|generate_content)( |$)")
_NAMED_EMBEDDING = re.compile(r"^embeddings( |$)")
ADK_CALL_SPAN = "call_llm"  # Google ADK's model call; it sets no gen_ai.operation.name
# gen_ai.system values that name the agent framework, not the model's provider: the model says which it is.
FRAMEWORK_SYSTEMS = {"strands-agents", "gcp.vertex.agent", "langchain"}

PROVIDERS = {
    "aws.bedrock": "bedrock", "az.ai.openai": "azure", "azure.ai.openai": "azure", "azure.ai.inference": "azure",
    "az.ai.inference": "azure", "gcp.gemini": "google", "gcp.vertex_ai": "google", "gcp.gen_ai": "google",
    "vertex_ai": "google", "vertexai": "google", "gemini": "google", "google": "google", "gcp": "google", "mistral_ai": "mistral",
    "mistralai": "mistral", "x_ai": "xai", "ibm.watsonx.ai": "watsonx",
}
# (column, attribute names in order of preference): current, then older names, OpenInference, OpenLLMetry, AI SDK.
TOKENS = (
    ("input_tokens", ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
                      "llm.usage.prompt_tokens", "ai.usage.promptTokens", "ai.usage.inputTokens",
                      "gen_ai.response.prompt_tokens",  # Semantic Kernel
                      "ai.usage.tokens")),  # the AI SDK's embed spans
    ("output_tokens", ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion",
                       "llm.usage.completion_tokens", "ai.usage.completionTokens", "ai.usage.outputTokens",
                       "gen_ai.response.completion_tokens")),
    ("cached_input_tokens", ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                             "gen_ai.usage.input_cached_tokens", "llm.token_count.prompt_details.cache_read",
                             "ai.usage.cachedInputTokens", "gen_ai.usage.input_tokens.cached")),  # Sentry
    ("cache_write_tokens", ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
                            "gen_ai.usage.cache_creation_input_tokens", "llm.token_count.prompt_details.cache_write",
                            "gen_ai.usage.cache_write_input_tokens",  # Strands
                            "gen_ai.usage.input_tokens.cache_write")),  # Sentry
    ("reasoning_tokens", ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
                          "llm.token_count.completion_details.reasoning", "ai.usage.reasoningTokens",
                          "gen_ai.usage.output_tokens.reasoning")),  # Sentry
)
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.response.model_name", "llm.model_name",
              "llm.request.model_name", "embedding.model_name", "ai.response.model", "ai.model.id",
              "langfuse.observation.model.name")
# Langfuse's own attributes (its v3 SDKs, LiteLLM's Langfuse OpenTelemetry callback): usage, cost and texts as JSON.
LANGFUSE_USAGE, LANGFUSE_COST = "langfuse.observation.usage_details", "langfuse.observation.cost_details"
LANGFUSE_INPUT, LANGFUSE_OUTPUT = "langfuse.observation.input", "langfuse.observation.output"
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", "ai.model.provider")
COST_KEYS = ("llm.cost.total", "gen_ai.usage.cost", "gen_ai.cost.total", "operation.cost")
COST_PARTS = ("gen_ai.usage.input_cost", "gen_ai.usage.output_cost")  # any-agent: the call's cost in two parts
# Model names instrumentations write when they do not know the model (OpenLLMetry around a LangChain model that does
# not report it): no model, so that the framework's own name for it is read instead.
NO_MODEL = {"unknown", "none", "null", "undefined", "n/a"}
FRAMEWORK_MODEL_KEYS = ("traceloop.association.properties.ls_model_name", "metadata.ls_model_name", "ls_model_name")
PARAMS = (("temperature", "gen_ai.request.temperature"), ("top_p", "gen_ai.request.top_p"), ("top_k", "gen_ai.request.top_k"),
          ("max_tokens", "gen_ai.request.max_tokens"), ("stop", "gen_ai.request.stop_sequences"),
          ("seed", "gen_ai.request.seed"), ("frequency_penalty", "gen_ai.request.frequency_penalty"),
          ("presence_penalty", "gen_ai.request.presence_penalty"), ("n", "gen_ai.request.choice.count"))
DETAIL_EVENTS = ("gen_ai.client.inference.operation.details",)
# Messages as span events, one per message (the 1.28 conventions; Strands, Semantic Kernel, Microsoft's agent framework)
MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                  "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}
ADK_REQUEST, ADK_RESPONSE = "gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response"
# MLflow Tracing (autologging for OpenAI, Anthropic, LangChain, ...): the span's type, the call's request body and
# response as JSON, and MLflow's own token count.
MLFLOW_TYPE, MLFLOW_INPUTS, MLFLOW_OUTPUTS = "mlflow.spanType", "mlflow.spanInputs", "mlflow.spanOutputs"
MLFLOW_USAGE, MLFLOW_FORMAT = "mlflow.chat.tokenUsage", "mlflow.message.format"


# Logfire's LLM integrations (instrument_openai, instrument_anthropic, ...): the span is named by its message template
# and holds the request body (``request_data``) and the answer with its usage (``response_data``), both JSON; older
# versions set no gen_ai.operation.name. A streamed call is the request span (no answer) plus a log record
# "streaming response from ... took ..." with the chunks put together.
LOGFIRE_TEMPLATES = (("Chat Completion with", "call", "chat"), ("Chat completion with", "call", "chat"),
                     ("Completion with", "call", "text_completion"), ("Message with", "call", "chat"),
                     ("Responses API with", "call", "chat"), ("Embedding Creation with", "embedding", "embeddings"),
                     ("Embeddings with", "embedding", "embeddings"))
LOGFIRE_STREAM = "streaming response"


def logfire_kind(span: Span) -> tuple[str, str] | None:
    """('call'|'embedding'|'stream', operation) of a Logfire LLM integration's span or streaming log; None otherwise."""
    attrs = span.attributes
    if "request_data" not in attrs:
        return None
    template = str(attrs.get("logfire.msg_template") or span.name or "")
    if template.startswith(LOGFIRE_STREAM):
        return "stream", "chat"
    for prefix, kind, operation in LOGFIRE_TEMPLATES:
        if template.startswith(prefix):
            return kind, operation
    return None


def _logfire_json(attrs: dict, key: str) -> dict:
    value = maybe_json(attrs.get(key))
    return value if isinstance(value, dict) else {}


def logfire_answer(response: dict) -> str | None:
    """The answer in Logfire's ``response_data``: ``{message, usage}`` (OpenAI chat, Anthropic), ``{text}``
    (completions), ``{combined_chunk_content, chunk_count}`` (a stream), or a Responses API response."""
    if isinstance(response.get("combined_chunk_content"), str):
        return response["combined_chunk_content"] or None
    message = maybe_json(response.get("message"))
    if isinstance(message, dict):
        text = content_text(message.get("content"))
        if not text and message.get("tool_calls"):
            text = json.dumps(message["tool_calls"], ensure_ascii=False, default=str)
        return text or None
    return response_text(response) if response.get("output") is not None or isinstance(response.get("text"), str) else None


def classify(span: Span) -> str | None:
    """'call', 'embedding' or None (not a model call) from the markers each convention sets."""
    attrs = span.attributes
    logfire = logfire_kind(span)
    if logfire is not None:
        return "call" if logfire[0] == "stream" else logfire[0]
    operation = attrs.get("gen_ai.operation.name")
    if operation is not None:
        op = str(operation).lower()
        return "call" if op in CALL_OPERATIONS else "embedding" if op in EMBEDDING_OPERATIONS else None
    markers = (
        (attrs.get("openinference.span.kind"), {"LLM"}, {"EMBEDDING"}),
        (attrs.get("gen_ai.span.kind"), {"LLM"}, {"EMBEDDING"}),  # Alibaba's LoongSuite instrumentations
        (attrs.get(MLFLOW_TYPE), {"CHAT_MODEL", "LLM"}, {"EMBEDDING"}),
        (attrs.get("llm.request.type"), {"chat", "completion"}, {"embedding", "embeddings"}),
        (attrs.get("langfuse.observation.type"), {"generation"}, {"embedding"}),
        (attrs.get("ai.operationId") or attrs.get("operation.name"), AI_SDK_CALLS, AI_SDK_EMBEDDINGS),
    )
    for value, calls, embeddings in markers:
        if value is None:
            continue
        text = str(value)
        if text in calls or text.upper() in calls:
            return "call"
        # A span that says what it is, and is something else (CHAIN, AGENT, a wrapper span), is not a model call.
        return "embedding" if text in embeddings or text.upper() in embeddings else None
    if attrs.get("traceloop.span.kind") is not None:
        return None  # workflow, task, agent, tool
    if span.name == ADK_CALL_SPAN:
        return "call"
    if not any(key.startswith(("gen_ai.", "llm.")) for key in attrs):
        return None  # a span called "chat" that says nothing of a model (an app's own handler, say)
    if _NAMED_CALL.match(span.name):
        return "call"
    return "embedding" if _NAMED_EMBEDDING.match(span.name) else None


# ---------------------------------------------------------------------------------------------
# Messages, in every convention, as the chat shape `messages_json` uses
# ---------------------------------------------------------------------------------------------


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    kind = part.get("type")
    if kind in ("text", None) and isinstance(part.get("content"), str):
        return part["content"]
    if kind in ("reasoning", "thinking") or part.get("thought") is True:  # Gemini's thought parts: its thinking
        return ""
    if isinstance(part.get("text"), str):
        return part["text"]
    return ""


def _tool_calls(parts: list) -> list[dict]:
    calls = []
    for part in parts:
        if isinstance(part, dict) and part.get("type") in ("tool_call", "function_call"):
            arguments = part.get("arguments")
            calls.append({"id": part.get("id"), "type": "function",
                          "function": {"name": part.get("name"), "arguments": arguments if isinstance(arguments, str)
                                       else json.dumps(arguments, ensure_ascii=False)}})
    return calls


def parts_messages(messages: Any) -> list[dict]:
    """``gen_ai.input.messages``/``gen_ai.output.messages`` (``[{role, parts: [...]}]``, maybe a JSON string) in
    chat shape; messages already in chat shape (``content``) pass through ``generic.normalize_messages``. One
    Gemini ``Content`` (``{parts}``, Gemini CLI's answer) is a message of its own."""
    messages = maybe_json(messages)
    if isinstance(messages, dict) and isinstance(messages.get("parts"), list):
        messages = [messages]
    if not isinstance(messages, list):
        return []
    out = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        parts = message.get("parts")
        if not isinstance(parts, list):
            from .generic import normalize_messages

            out.extend(normalize_messages([message]))
            continue
        entry: dict = {"role": message.get("role") or "user", "content": "\n".join(t for t in map(_part_text, parts) if t)}
        responses = [p for p in parts if isinstance(p, dict) and p.get("type") == "tool_call_response"]
        if responses and not entry["content"]:
            result = responses[0].get("response", responses[0].get("result"))
            entry = {"role": "tool", "tool_call_id": responses[0].get("id"),
                     "content": result if isinstance(result, str) else content_text(result)}
        calls = _tool_calls(parts)
        if calls:
            entry["tool_calls"] = calls
        out.append(entry)
    return out


def indexed_messages(attrs: dict, prefix: str, role_key: str, content_key: str, parts_key: str | None = None) -> list[dict]:
    """Messages flattened into attributes with an index: ``gen_ai.prompt.0.content`` (OpenLLMetry),
    ``llm.input_messages.0.message.content`` (OpenInference)."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.(.+)$")
    found: dict[int, dict] = {}
    for key, value in attrs.items():
        match = pattern.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    out = []
    for index in sorted(found):
        fields = found[index]
        content = fields.get(content_key)
        if content is None and parts_key is not None:
            texts = [v for k, v in sorted(fields.items()) if k.startswith(parts_key) and k.endswith("message_content.text")]
            content = "\n".join(str(t) for t in texts)
        decoded = maybe_json(content)
        text = content_text(decoded) if isinstance(decoded, (list, dict)) else ("" if content is None else str(content))
        entry: dict = {"role": str(fields.get(role_key) or "user"), "content": text}
        answered = fields.get("message.tool_call_id", fields.get("tool_call_id"))
        if answered not in (None, "") and entry["role"] == "tool":
            entry["tool_call_id"] = str(answered)  # which call a tool's answer answers (a replay needs it)
        calls = _indexed_tool_calls(fields)
        if calls:
            entry["tool_calls"] = calls
        out.append(entry)
    return out


_INDEXED_TOOL_CALL = re.compile(r"(?:message\.)?tool_calls\.(\d+)\.(?:tool_call\.)?(?:function\.)?(id|name|arguments)$")


def _indexed_tool_calls(fields: dict) -> list[dict]:
    """A flattened message's tool calls in OpenAI's shape: OpenInference's
    ``message.tool_calls.{j}.tool_call.function.name``/``.arguments``, OpenLLMetry's ``tool_calls.{j}.name``."""
    calls: dict[int, dict] = {}
    for key, value in fields.items():
        match = _INDEXED_TOOL_CALL.match(key)
        if match:
            calls.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [{"id": call.get("id"), "type": "function", "function": {"name": call.get("name"), "arguments": call.get("arguments")}}
            for _, call in sorted(calls.items())]


def _request_messages(value: Any) -> list[dict]:
    """Messages out of a prompt attribute holding text, a message list or a request body (JSON or not)."""
    if value is None:
        return []
    return chat_request_fields(maybe_json(value)).get("messages_json") or []


def _event_attributes(span: Span, names) -> dict:
    merged: dict = {}
    for name, attrs in span.events:
        if name in names:
            merged.update(attrs)
    return merged


def _event_text(value: Any) -> str:
    """An event's ``content``/``message``: text, content blocks (``[{"text": ...}]``, maybe JSON) or a message."""
    decoded = maybe_json(value)
    if isinstance(decoded, dict) and "content" in decoded:
        decoded = maybe_json(decoded["content"])
    if isinstance(decoded, (list, dict)):
        return content_text(decoded)
    return "" if decoded is None else str(decoded)


def event_messages(span: Span) -> list[dict]:
    """``gen_ai.{system,user,assistant,tool}.message`` span events, in order, as chat messages."""
    out = []
    for name, attrs in span.events:
        role = MESSAGE_EVENTS.get(name)
        if role is not None:
            out.append({"role": str(attrs.get("role") or role), "content": _event_text(attrs.get("content"))})
    return out


def _adk_request_messages(value: Any) -> list[dict]:
    """Google ADK's ``gcp.vertex.agent.llm_request``: ``{"model", "config": {"system_instruction"}, "contents"}``."""
    request = maybe_json(value)
    if not isinstance(request, dict) or not request.get("contents"):
        return []
    messages = chat_request_fields({"contents": request["contents"]}).get("messages_json") or []
    config: dict = request["config"] if isinstance(request.get("config"), dict) else {}
    system = config.get("system_instruction", config.get("systemInstruction"))
    text = system if isinstance(system, str) else content_text(system.get("parts")) if isinstance(system, dict) else ""
    return ([{"role": "system", "content": text}] if text else []) + messages


def input_messages(span: Span) -> list[dict]:
    attrs = {**_event_attributes(span, DETAIL_EVENTS), **span.attributes}
    messages = parts_messages(attrs.get("gen_ai.input.messages"))
    if not messages:
        messages = indexed_messages(attrs, "llm.input_messages", "message.role", "message.content", "message.contents")
    if not messages:
        messages = indexed_messages(attrs, "gen_ai.prompt", "role", "content")
    if not messages:
        old = first_value(attrs, ("gen_ai.prompt",)) or _event_attributes(span, ("gen_ai.content.prompt",)).get("gen_ai.prompt")
        messages = _request_messages(old)
    if not messages:
        messages = event_messages(span)
    if not messages:
        messages = _adk_request_messages(attrs.get(ADK_REQUEST))
    if not messages and "request_data" in attrs:  # Logfire
        messages = chat_request_fields(_logfire_json(attrs, "request_data")).get("messages_json") or []
    if not messages and MLFLOW_INPUTS in attrs:
        messages = _request_messages(attrs[MLFLOW_INPUTS])
    if not messages:
        messages = _request_messages(first_value(attrs, ("input.value", "ai.prompt.messages", "ai.prompt", LANGFUSE_INPUT,
                                                         "gen_ai.request.messages")))  # Sentry's
    system = first_value(attrs, ("gen_ai.system_instructions",))
    if system is not None:
        decoded = maybe_json(system)
        text = "\n".join(t for t in map(_part_text, decoded) if t) if isinstance(decoded, list) else str(decoded)
        if text and not any(m.get("role") == "system" for m in messages):
            messages = [{"role": "system", "content": text}] + messages
    return messages


def output_text(span: Span) -> str | None:
    attrs = {**_event_attributes(span, DETAIL_EVENTS), **span.attributes}
    messages = parts_messages(attrs.get("gen_ai.output.messages"))
    if not messages:
        messages = indexed_messages(attrs, "llm.output_messages", "message.role", "message.content", "message.contents")
    if not messages:
        messages = indexed_messages(attrs, "gen_ai.completion", "role", "content")
    texts = [m.get("content") or (json.dumps(m["tool_calls"], ensure_ascii=False) if m.get("tool_calls") else "")
             for m in messages]
    if any(texts):
        return "\n".join(t for t in texts if t)
    old = first_value(attrs, ("gen_ai.completion",)) or _event_attributes(span, ("gen_ai.content.completion",)).get("gen_ai.completion")
    if old is None:
        choices = [_event_text(a.get("message", a.get("content"))) for n, a in span.events if n == "gen_ai.choice"]
        if any(choices):
            return "\n".join(c for c in choices if c)
        adk = maybe_json(attrs.get(ADK_RESPONSE))
        if isinstance(adk, dict) and adk.get("content"):
            return response_text({"candidates": [adk]})
    value = old if old is not None else first_value(attrs, ("output.value", "ai.response.text", MLFLOW_OUTPUTS, LANGFUSE_OUTPUT,
                                                            "gen_ai.response.text"))  # Sentry's
    if value is None and attrs.get("gen_ai.output") not in (None, ""):
        answer = attrs["gen_ai.output"]  # any-agent: the text, or the tool calls as JSON
        text = response_text(maybe_json(answer)) if isinstance(maybe_json(answer), dict) else None
        return text or (answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False, default=str))
    if value is None and attrs.get("ai.response.object") not in (None, ""):
        answer = attrs["ai.response.object"]  # generateObject's answer is the object itself, as JSON
        return answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False, default=str)
    if value is None:
        return logfire_answer(_logfire_json(attrs, "response_data")) if "response_data" in attrs else None
    return response_text(maybe_json(value)) if isinstance(maybe_json(value), (dict, list)) else str(value)


# ---------------------------------------------------------------------------------------------
# One span -> one record
# ---------------------------------------------------------------------------------------------


def _provider(attrs: dict, model: Any) -> str | None:
    """The provider the attributes name, unless they name the agent framework (then the model says, or ADK's Google)."""
    names = [str(attrs[k]).lower() for k in PROVIDER_KEYS if attrs.get(k) not in (None, "")]
    named = next((n for n in names if n not in FRAMEWORK_SYSTEMS), None)
    if named is None:
        return guess_provider(model) or ("google" if "gcp.vertex.agent" in names else None)
    name = named
    return PROVIDERS.get(name) or PROVIDERS.get(name.split(".")[0]) or name.split(".")[0]


def _model(attrs: dict) -> Any:
    known = {k: v for k, v in attrs.items() if not (isinstance(v, str) and v.strip().lower() in NO_MODEL)}
    return resource_model(first_value(known, MODEL_KEYS) or first_value(known, FRAMEWORK_MODEL_KEYS)
                          or _invoked_model(known))


def _invoked_model(attrs: dict) -> Any:
    """The model OpenInference's ``llm.invocation_parameters`` (JSON) name: all a failed call's span says of it."""
    params = maybe_json(attrs.get("llm.invocation_parameters"))
    model = params.get("model") if isinstance(params, dict) else None
    return model if isinstance(model, str) and model.strip().lower() not in NO_MODEL else None


def _cost(attrs: dict) -> float | None:
    stated = to_float(first_value(attrs, COST_KEYS), "llm.cost.total")
    if stated is not None:
        return stated
    try:
        parts = [to_float(attrs.get(key), key) for key in COST_PARTS]
    except ValueError:  # parts that are not numbers state no cost: the catalog prices the call
        return None
    return None if all(part is None for part in parts) else sum(part or 0.0 for part in parts)


def _tokens(attrs: dict) -> dict:
    out = {column: to_int(first_value(attrs, keys), keys[0]) for column, keys in TOKENS}
    read, write, total = out["cached_input_tokens"] or 0, out["cache_write_tokens"] or 0, out["input_tokens"]
    if total is not None and read + write > total:
        out["input_tokens"] = total + read + write  # an Anthropic-style count that left the cache out
    return out


def _params(attrs: dict) -> dict | None:
    params = {name: attrs[key] for name, key in PARAMS if attrs.get(key) not in (None, "", [], {})}
    invocation = maybe_json(attrs.get("llm.invocation_parameters"))
    if isinstance(invocation, dict):
        params.update({k: v for k, v in invocation.items() if k not in params and v not in (None, [], {})})
    return params or None


def _status(span: Span, attrs: dict) -> str:
    if span.error or attrs.get("error.type") is not None:
        return "error"
    reasons = maybe_json(attrs.get("gen_ai.response.finish_reasons"))
    if isinstance(reasons, list) and "content_filter" in reasons:
        return "blocked"
    return "ok"


def _tags(span: Span, attrs: dict) -> dict | None:
    tags = {
        "span_name": span.name or None,
        "service": span.resource.get("service.name"),
        "scope": span.scope,
        "conversation_id": first_value(attrs, ("gen_ai.conversation.id", "session.id", "langfuse.session.id")),
        "agent": first_value(attrs, ("gen_ai.agent.name",)),
        "error": first_value(attrs, ("error.type",)) or span.status_message,
    }
    return {k: v for k, v in tags.items() if v not in (None, "")} or None


def _sample_rate(span: Span, attrs: dict):
    """The rate the span's sampler stated: the tracestate's OpenTelemetry threshold, else sampler attributes."""
    stated = tracestate_rate(span.trace_state)
    return stated if stated is not None else attribute_rate(attrs)


def span_record(span: Span) -> dict | Skipped:
    kind = classify(span)
    if kind is None:
        return Skipped(None, f"span {span.name!r} is not a model call")
    attrs = span.attributes
    logfire = logfire_kind(span)
    request = _logfire_json(attrs, "request_data") if logfire else {}
    model = _model(attrs) or request.get("model")
    record: dict = {
        "source_id": span.span_id, "trace_id": span.trace_id, "parent_span_id": span.parent_id,
        "provider": _provider(attrs, model), "model": model, "created_at": span.start,
        "duration_ms": ms_between(span.start, span.end),
        "cost_usd": _cost(attrs),
        "operation": "embeddings" if kind == "embedding" else first_value(attrs, ("gen_ai.operation.name",)),
        "status": _status(span, attrs), "params_json": _params(attrs), "tags_json": _tags(span, attrs),
        "user_id": first_value(attrs, ("user.id", "enduser.id", "langfuse.user.id", "gen_ai.user.id")),
        "sample_rate": _sample_rate(span, attrs),
        **_tokens(attrs),
    }
    if logfire is not None:
        _logfire_fill(record, attrs, request, logfire[1])
    if MLFLOW_TYPE in attrs:
        _mlflow_fill(record, attrs)
    if "langfuse.observation.type" in attrs:
        _langfuse_fill(record, attrs)
    if kind == "call":
        messages = input_messages(span)
        if messages:
            from .generic import split_conversation

            system, prompt = split_conversation(messages)
            record.update(messages_json=messages, system_prompt=system, prompt_text=prompt)
        record["response_text"] = output_text(span)
    if span.span_id:
        record["_dedupe_key"] = f"otel|{span.span_id}"
    return record


def _logfire_fill(record: dict, attrs: dict, request: dict, operation: str) -> None:
    """Logfire's spans: the usage in ``response_data`` is exact (cache reads and writes, reasoning) where the
    gen_ai.usage.* attributes (newer versions only) give input and output alone; parameters from the request body."""
    usage = usage_fields(_logfire_json(attrs, "response_data").get("usage"))
    if usage:
        record.update({k: v for k, v in usage.items() if k in USAGE_FIELDS})
    record["operation"] = record.get("operation") or operation
    params = params_from_body(request)
    if params:
        record["params_json"] = {**params, **(record.get("params_json") or {})}


def usage_from_details(details) -> dict:
    """input/cached/cache-write/output/reasoning totals from a Langfuse usage or usageDetails mapping (the
    ``langfuse`` reader's too: its observations and the attributes of the spans Langfuse's SDKs send)."""
    details = decode_json(details)
    if not isinstance(details, dict):
        return {}
    if any(isinstance(v, dict) for v in details.values()):  # OpenAI's usage object, with its *_details
        return {k: usage_fields(details).get(k) for k in ("input_tokens", "cached_input_tokens", "cache_write_tokens",
                                                           "output_tokens", "reasoning_tokens")}
    sums = {"input": None, "cached": None, "write": None, "output": None, "reasoning": None}

    def add(slot, value):
        sums[slot] = (sums[slot] or 0) + value

    for key, raw in details.items():
        name = str(key).lower()
        if any(word in name for word in ("cost", "price", "unit")):
            continue
        try:
            value = to_int(raw, key)
        except ValueError:
            continue
        if value is None:
            continue
        if name in ("prompt_tokens", "prompttokens"):
            name = "input"
        elif name in ("completion_tokens", "completiontokens"):
            name = "output"
        if "input" in name:
            add("input", value)
            if "cache_read" in name or "cached" in name:
                add("cached", value)
            elif "cache_creation" in name or "cache_write" in name:
                add("write", value)
        elif "output" in name:
            add("output", value)
            if "reasoning" in name:
                add("reasoning", value)
    return {
        "input_tokens": sums["input"],
        "cached_input_tokens": sums["cached"],
        "cache_write_tokens": sums["write"],
        "output_tokens": sums["output"],
        "reasoning_tokens": sums["reasoning"],
    }


def _langfuse_fill(record: dict, attrs: dict) -> None:
    """Langfuse's attributes: the usage and cost details it records (where no gen_ai.* count is given)."""
    if all(record.get(k) is None for k in USAGE_FIELDS):
        record.update({k: v for k, v in usage_from_details(attrs.get(LANGFUSE_USAGE)).items() if v is not None})
    cost = maybe_json(attrs.get(LANGFUSE_COST))
    if record.get("cost_usd") is None and isinstance(cost, dict) and cost.get("total") is not None:
        record["cost_usd"] = to_float(cost["total"], LANGFUSE_COST)


def _mlflow_fill(record: dict, attrs: dict) -> None:
    """MLflow's spans: the model from the response or request body, the provider from ``mlflow.message.format``, the
    tokens from the response's own usage (exact cache and reasoning counts) else MLflow's ``mlflow.chat.tokenUsage``."""
    request, response = (maybe_json(attrs.get(key)) for key in (MLFLOW_INPUTS, MLFLOW_OUTPUTS))
    request = request if isinstance(request, dict) else {}
    response = response if isinstance(response, dict) else {}
    record["model"] = record.get("model") or response.get("model") or request.get("model")
    named = attrs.get(MLFLOW_FORMAT)
    record["provider"] = guess_provider(record["model"]) or (str(named).lower() if named else record.get("provider"))
    usage = usage_fields(response.get("usage")) or usage_fields(maybe_json(attrs.get(MLFLOW_USAGE)))
    if usage and not any(record.get(k) is not None for k in USAGE_FIELDS):
        record.update({k: v for k, v in usage.items() if k in USAGE_FIELDS})
    params = params_from_body(request)
    if params:
        record["params_json"] = {**params, **(record.get("params_json") or {})}


# ---------------------------------------------------------------------------------------------
# A model call inside a model call: the inner span is the request, the outer one a wrapper
# ---------------------------------------------------------------------------------------------

# What an inner call lacks is taken from its wrapper: always the prompt, model, user, parameters and tags; the answer,
# tokens and cost only when the wrapper holds that one call (around retries they would be the sum, or the last).
PROMPT_FIELDS = ("messages_json", "system_prompt", "prompt_text")
USAGE_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")
MAX_DEPTH = 512  # a parent chain longer than this is a loop in a broken file


def fill_from_wrapper(record: dict, outer: dict, single: bool) -> None:
    """Fields the inner call's span left empty, from the span of the same call one level up."""
    if not record.get("messages_json") and not record.get("prompt_text"):
        record.update({k: outer.get(k) for k in PROMPT_FIELDS})
    if record.get("model") is None and outer.get("model") is not None:
        record["model"] = outer["model"]
        record["provider"] = record.get("provider") or outer.get("provider")
    for key in ("user_id", "params_json"):
        if record.get(key) is None:
            record[key] = outer.get(key)
    if outer.get("tags_json"):
        record["tags_json"] = {**{k: v for k, v in outer["tags_json"].items() if k != "span_name"}, **(record.get("tags_json") or {})}
    if not single:
        return
    if record.get("response_text") is None:
        record["response_text"] = outer.get("response_text")
    if record.get("input_tokens") is None and record.get("output_tokens") is None:
        record.update({k: outer.get(k) for k in USAGE_FIELDS})
    if record.get("cost_usd") is None:
        record["cost_usd"] = outer.get("cost_usd")


class NestedCalls:
    """The model-call spans of a file that hold another model call of the same kind (an OpenInference LangChain
    ``LLM`` span around the OpenAI instrumentor's, ADK's ``call_llm`` around google-genai's ``generate_content``,
    OpenLLMetry's ``ChatOpenAI.chat`` around ``openai.chat``, Pydantic AI's ``chat MODEL`` around an instrumented
    client's). ``wrapped`` maps each wrapper's span id to the inner calls whose nearest model-call ancestor it is.
    Spans come in any order: an inner call read before its wrapper waits for it, a wrapper read first is kept until
    its inner calls are read; a console exporter's repeat of an inner call passes as it is (a duplicate)."""

    reason = "a model-call span around a model call of its own (counted at the inner span)"

    def __init__(self, wrapped: dict[str, set[str]]):
        self.wrapped = wrapped
        self.size = {outer: len(inners) for outer, inners in wrapped.items()}
        self.wrapper_of = {inner: outer for outer, inners in wrapped.items() for inner in inners}
        self.seen: dict[str, dict] = {}  # wrapper id -> its record, while some of its inner calls are unread
        self.waiting: dict[str, list[dict]] = {}  # wrapper id -> inner records read before it

    def _done(self, outer_id: str, inner_id: str) -> None:
        inners = self.wrapped[outer_id]
        inners.discard(inner_id)
        if not inners:
            self.seen.pop(outer_id, None)

    def take(self, number: int, span_id: str | None, record: dict) -> Iterator[dict | Skipped]:
        outer_id = self.wrapper_of.get(span_id) if span_id else None
        if span_id in self.wrapped:
            if span_id not in self.seen and self.wrapped[span_id]:  # not a repeat of a wrapper already read
                for inner in self.waiting.pop(span_id, []):
                    fill_from_wrapper(inner, record, self.size[span_id] == 1)
                    self.wrapped[span_id].discard(inner["source_id"])
                    yield inner
                if self.wrapped[span_id]:
                    self.seen[span_id] = record
            if outer_id is not None:  # a wrapper inside a wrapper: the outer one gives nothing further down
                self._done(outer_id, str(span_id))
            yield Skipped(number, self.reason)
            return
        if outer_id is None or span_id not in self.wrapped[outer_id]:
            yield record  # not nested, or a repeat of an inner call already given out
            return
        outer = self.seen.get(outer_id)
        if outer is None:
            self.waiting.setdefault(outer_id, []).append(record)
            return
        fill_from_wrapper(record, outer, self.size[outer_id] == 1)
        self._done(outer_id, str(span_id))
        yield record

    def leftovers(self) -> Iterator[dict]:
        """Inner calls whose wrapper never came (its span was unreadable): as they are."""
        for records in self.waiting.values():
            yield from records
        self.waiting.clear()


# What a Logfire streaming log gives the request span of its call.
STREAM_FIELDS = ("response_text", "cost_usd", *USAGE_FIELDS)


class LogfireStreams:
    """Logfire's streamed calls: the request span (``request_data`` with ``stream: true``, no ``response_data``) and
    the "streaming response from ..." log written when the stream was read (the same ``request_data``, the answer
    and maybe usage in ``response_data``; often under another parent, or in a trace of its own). Each log is paired
    with the earliest unpaired request span of the same request body that started before it: the call is one row,
    the request span's (its parent, timing and prompt) with the log's answer and usage; the log is skipped. A log
    whose request span is not in the file is a row of its own."""

    def __init__(self) -> None:
        self.requests: dict[str, list[tuple[Any, str]]] = {}  # request key -> [(start, span id)]
        self.logs: dict[str, list[tuple[Any, str, dict]]] = {}  # request key -> [(start, span id, fields)]
        self.fill: dict[str, dict] = {}  # request span id -> fields from its log
        self.paired: set[str] = set()  # span ids of the logs given to a request span

    @staticmethod
    def key(span: Span) -> str:
        attrs = span.attributes
        body = {name: maybe_json(attrs.get(name)) for name in ("request_data", "gen_ai.input.messages")}
        return json.dumps([body, span.resource.get("service.name")], sort_keys=True, default=str)

    def see(self, span: Span, kind: tuple[str, str] | None) -> None:
        if kind is None or span.span_id is None:
            return
        attrs = span.attributes
        if kind[0] == "stream":
            record = span_record(span)
            fields = {k: record.get(k) for k in STREAM_FIELDS if isinstance(record, dict) and record.get(k) is not None}
            if isinstance(record, dict) and attrs.get("gen_ai.response.model"):
                fields["model"] = record.get("model")
            self.logs.setdefault(self.key(span), []).append((span.start, span.span_id, fields))
        elif "response_data" not in attrs and (_logfire_json(attrs, "request_data").get("stream") or self.unanswered(span)):
            self.requests.setdefault(self.key(span), []).append((span.start, span.span_id))

    @staticmethod
    def unanswered(span: Span) -> bool:
        """A request span that holds no answer, no usage and no error: Logfire 5 keeps only the model in its
        ``request_data`` (no ``stream`` flag) and writes the stream's answer in its log."""
        attrs = span.attributes
        return (not span.error and "gen_ai.output.messages" not in attrs
                and not any(key.startswith("gen_ai.usage.") for key in attrs))

    def pair(self) -> None:
        for key, logs in self.logs.items():
            requests = sorted(self.requests.get(key, []), key=lambda r: (r[0] is None, str(r[0])))
            for start, log_id, fields in sorted(logs, key=lambda r: (r[0] is None, str(r[0]))):
                match = next((r for r in requests if r[0] is None or start is None or r[0] <= start), None)
                if match is None:
                    continue
                requests.remove(match)
                self.fill[match[1]] = fields
                self.paired.add(log_id)
        self.requests.clear()
        self.logs.clear()

    def apply(self, span_id: str | None, record: dict) -> None:
        for key, value in self.fill.pop(span_id, {}).items() if span_id else ():
            if record.get(key) is None or key == "model":
                record[key] = value


class LoggedEvents:
    """GenAI events an instrumentation emitted as log records instead of span events: the OpenAI instrumentor
    (``opentelemetry-instrumentation-openai-v2``) and OpenLLMetry's event mode write a call's messages as
    ``gen_ai.{system,user,assistant,tool}.message`` and its answer as ``gen_ai.choice`` records, the GenAI util under
    ``EVENT_ONLY`` the whole call as ``gen_ai.client.inference.operation.details``; the span holds the model and
    tokens, the log records the text, joined by span id. A model-call span of the file reads its records as its
    own events. Records whose span is not in the file (traces and logs exported to two files) are one call per
    span id, keyed like the span, so that whichever file is read second fills in what the first left empty.
    Coding agents' usage events (Claude Code, Codex CLI, Gemini CLI) are calls of their own (``agent_telemetry``)."""

    NOT_A_CALL = "a log record, not a model call"

    def __init__(self) -> None:
        self.by_span: dict[str, list[LogEvent]] = {}
        self.spans: set[str] = set()  # ids of the file's spans (their events are read with them)
        self.given: set[str] = set()  # span ids whose records were given out as a call of their own
        self.prompts = AgentPrompts()

    @staticmethod
    def is_genai(event: LogEvent) -> bool:
        return event.name.startswith("gen_ai.") and event.name != "gen_ai.evaluation.result"

    @classmethod
    def is_read(cls, event: LogEvent) -> bool:
        """A record this reader makes something of (what sniffing looks for)."""
        return cls.is_genai(event) or agent_event(event) is not None

    def see(self, event: LogEvent) -> None:
        if self.is_genai(event) and event.span_id is not None:
            self.by_span.setdefault(event.span_id, []).append(event)
        self.prompts.see(event)

    def attach(self, span: Span) -> None:
        span.events.extend((e.name, e.fields) for e in self.by_span.get(span.span_id or "", ()))

    def take(self, number: int, event: LogEvent) -> dict | Skipped:
        """The call a log record stands for, or why it is skipped."""
        if not self.is_genai(event):
            agent = agent_record(number, event, self.prompts)
            return Skipped(number, self.NOT_A_CALL) if agent is None else agent
        if event.span_id in self.spans:
            return Skipped(number, "a GenAI event of a span in this file (read with the span)")
        if event.span_id is None and event.name not in DETAIL_EVENTS:
            return Skipped(number, "a GenAI event without a span id (it cannot be joined to its call)")
        if event.span_id in self.given:
            return Skipped(number, "a GenAI event of a call already read from this file")
        events = self.by_span.get(event.span_id, []) if event.span_id else [event]
        if event.span_id:
            self.given.add(event.span_id)
        record = span_record(events_span(events))
        if isinstance(record, Skipped):
            return Skipped(number, record.reason)
        record["_line"] = number
        return record


def events_span(events: list[LogEvent]) -> Span:
    """The span a call's GenAI log records stand for when the span itself is not in the file: their attributes
    (model, tokens and provider where the records carry them) and the records as its events."""
    attributes: dict = {}
    for event in events:
        attributes.update(event.attributes)
    attributes.pop("event.name", None)
    attributes.setdefault("gen_ai.operation.name", "chat")  # message events are only written for a model call
    times = [e.time for e in events if e.time is not None]
    first = events[0]
    return Span(span_id=first.span_id, trace_id=first.trace_id, parent_id=None, name="", start=min(times, default=None),
                end=None, attributes=attributes, events=[(e.name, e.fields) for e in events], resource=first.resource,
                scope=first.scope)


class SpanCopies:
    """Spans printed more than once with more said in one copy: an exporter that writes a span when it starts (no
    end time, the request's attributes) and again when it ends (the answer's model, the tokens). The copy that says
    most is read, the others are skipped; copies that say as much are repeats (the first is kept, the others are
    duplicates, or conflicts when they differ)."""

    reason = "a copy of a span that another copy says more about (a span printed when it started and when it ended)"

    def __init__(self) -> None:
        self.most: dict[tuple, tuple[bool, int]] = {}  # (trace id, span id) -> the most any copy says

    @staticmethod
    def said(span: Span) -> tuple[bool, int]:
        return span.end is not None, len(span.attributes) + len(span.events)

    def see(self, span: Span) -> None:
        if span.span_id is not None:
            key = (span.trace_id, span.span_id)
            self.most[key] = max(self.most.get(key, (False, 0)), self.said(span))

    def says_less(self, span: Span) -> bool:
        return span.span_id is not None and self.said(span) < self.most.get((span.trace_id, span.span_id), (False, 0))


class RecordedTwice:
    """One call recorded by two instrumentations in traces of their own (the Anthropic SDK's own span beside
    OpenLLMetry's, each without a parent): model-call spans that name the same response (``gen_ai.response.id``) and
    are not nested in one another. The span that says most is read, the others are skipped."""

    reason = "the same call recorded by another instrumentation (the same response id), whose span says more"

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple]] = {}  # response id -> [(said, order, span id, trace id, (start, end))]
        self.skip: set[str] = set()

    def see(self, span: Span, order: int) -> None:
        response_id = span.attributes.get("gen_ai.response.id")
        # Ollama names its answers chatcmpl-0 ... chatcmpl-998 at random: its ids say nothing of which call it was.
        if isinstance(response_id, str) and response_id and span.span_id is not None and not OLLAMA_ID.fullmatch(response_id):
            said = (self.texts(span), *SpanCopies.said(span))
            self.spans.setdefault(response_id, []).append((said, -order, span.span_id, span.trace_id, (span.start, span.end)))

    @staticmethod
    def texts(span: Span) -> int:
        """How many of the call's texts a span holds (an SDK's own span may hold none, its instrumentor's all)."""
        keys = [k for k in span.attributes if any(part in k for part in TEXT_ATTRIBUTE_PARTS)]
        return len(keys) + sum(1 for name, _ in span.events if "message" in name or "content" in name)

    def settle(self, nested: NestedCalls) -> None:
        """Keep the span that says most (the first of those that say as much) of each response's spans outside a
        nesting (wrappers and their inner calls are counted once already); a span that did not overlap it in time
        is another call."""
        involved = set(nested.wrapped) | set(nested.wrapper_of)
        for spans in self.spans.values():
            alone = {span_id: (said, order, trace, times) for said, order, span_id, trace, times in spans if span_id not in involved}
            if len({trace for _, _, trace, _ in alone.values()}) < 2:
                continue  # in one trace: copies of a span, or calls an app made again (SpanCopies, duplicates)
            best = max(alone, key=lambda span_id: alone[span_id][:2])
            _, _, best_trace, best_times = alone[best]
            self.skip.update(span_id for span_id, (_, _, trace, times) in alone.items()
                             if trace != best_trace and _overlap(times, best_times))
        self.spans.clear()


TEXT_ATTRIBUTE_PARTS = ("input.messages", "output.messages", "prompt", "completion", "input.value", "output.value",
                        "input_messages", "output_messages", "system_instructions")


def _overlap(one: tuple, other: tuple) -> bool:
    """Whether two spans' (start, end) overlap; unknown times overlap."""
    if None in one or None in other:
        return True
    return one[0] <= other[1] and other[0] <= one[1]


def nested_model_calls(src) -> tuple[NestedCalls, LogfireStreams, LoggedEvents, SpanCopies, RecordedTwice]:
    """First pass over the file: the parent link of every span and the kind of every model call, then for each
    model call its nearest model-call ancestor of the same kind in the same trace (through any spans between);
    Logfire's streaming logs paired with their request spans (a paired log is not a model call of its own); the
    GenAI events logged as log records, by span; and which copy of a span printed more than once is read."""
    parents: dict[str, str] = {}
    calls: dict[str, tuple[str, str | None]] = {}
    streams = LogfireStreams()
    logged = LoggedEvents()
    copies = SpanCopies()
    twice = RecordedTwice()
    for order, (_, item) in enumerate(_raw_spans(src)):
        if isinstance(item, (Reject, Skipped)):
            continue
        if isinstance(item, LogEvent):
            logged.see(item)
            continue
        try:
            span = read_span(*item)
            kind = classify(span)
            streams.see(span, logfire_kind(span))
        except (ValueError, TypeError, AttributeError, OverflowError):
            continue
        copies.see(span)
        if span.span_id is None:
            continue
        logged.spans.add(span.span_id)
        if span.parent_id is not None and span.parent_id != span.span_id:
            parents[span.span_id] = span.parent_id
        if kind is not None:
            calls[span.span_id] = (kind, span.trace_id)
            twice.see(span, order)
    streams.pair()
    for log_id in streams.paired:
        calls.pop(log_id, None)
    nested = nested_calls(parents, calls)
    twice.settle(nested)
    return nested, streams, logged, copies, twice


def nested_calls(parents: dict[str, str], calls: dict[str, tuple[str, str | None]]) -> NestedCalls:
    """For each model call (id -> (kind, trace)), its nearest model-call ancestor of the same kind in the same
    trace, found through the parent links (id -> parent id) of any spans or observations between."""
    wrapped: dict[str, set[str]] = {}
    for span_id, (kind, trace) in calls.items():
        parent, depth = parents.get(span_id), 0
        while parent is not None and depth < MAX_DEPTH:
            outer = calls.get(parent)
            if outer is not None and outer[0] == kind and (trace is None or outer[1] is None or outer[1] == trace):
                wrapped.setdefault(parent, set()).add(span_id)
                break
            parent, depth = parents.get(parent), depth + 1
    return NestedCalls(wrapped)


def trace_records(trace: Any, number: int | None) -> list[dict]:
    """The model calls of a trace kept inside another record (the MLflow trace a Databricks agent endpoint returns
    with its answer, ``databricks_output.trace``), read as a file's spans are: model-call spans only, a call inside
    another counted once, at the innermost."""
    spans = [read_span(raw, resource, scope) for raw, resource, scope in spans_in(trace)
             if is_span(raw) or is_anonymous_span(raw)]
    parents = {s.span_id: s.parent_id for s in spans if s.span_id and s.parent_id and s.parent_id != s.span_id}
    calls = {s.span_id: (kind, s.trace_id) for s in spans if s.span_id and (kind := classify(s)) is not None}
    nested = nested_calls(parents, calls)
    found: list = []
    for span in spans:
        record = span_record(span)
        if isinstance(record, dict):
            record["_line"] = number
            found.extend(nested.take(number or 0, span.span_id, record))
    found.extend(nested.leftovers())
    return [r for r in found if isinstance(r, dict)]


class OpenTelemetry:
    name = "otel"
    label = "OpenTelemetry spans"
    order = 50
    skipped_hint = ("agent, tool and workflow spans are skipped; a model call is marked by gen_ai.operation.name chat, an "
                    "OpenInference LLM kind or a Langfuse generation")
    usage_hint = ("where they are GenAI events logged as log records, the model and tokens are on their spans: ingest the "
                  "traces export too, joined by span id; if the spans keep usage under other names, `--format generic "
                  "--map input_tokens=COL,output_tokens=COL,...` reads it")

    def sniff(self, src) -> int:
        from ..records import first_json_object

        if file_kind(src) in ("csv", "parquet"):
            columns = table_columns(src)
            if {"span_name", "span_id", "attributes"} <= columns:
                return 90  # Logfire's records table
            if "span.op" in columns and ({"id", "span_id"} & columns):
                return 90  # Sentry's spans, exported from its Explore view
            if {"trace.trace_id", "trace.span_id"} <= columns:
                return 90  # Honeycomb's raw data
            if {"operation_Id", "customDimensions"} <= columns or {"OperationId", "Properties"} <= columns:
                return 92 if b"gen_ai." in src.head() else 0  # Azure Monitor's dependencies, exported from its Logs
            return 90 if "context.span_id" in columns and any(c.startswith("attributes.") for c in columns) else 0
        obj = first_json_object(src)
        if not isinstance(obj, dict):
            return 0
        sources = elastic_sources(obj)
        if sources and is_span(sources[0]):
            return 92  # Elasticsearch's documents of spans (its OpenTelemetry-native mapping)
        if is_honeycomb_row(obj) or is_honeycomb_annotation(obj):
            return 90
        queried = app_insights_rows(obj) or [obj]
        if (is_app_insights_row(queried[0]) or app_insights_part(queried[0])) and b"gen_ai." in src.head():
            return 92  # Azure Monitor's envelopes (as its exporter sends them) or query results
        if is_sentry_envelope_header(obj) or sentry_spans(obj) is not None or is_sentry_span(obj):
            return 92  # Sentry's envelopes (as its SDK sends them), transactions, span v2 items
        if isinstance(obj.get("data"), list) and obj["data"] and is_sentry_span(obj["data"][0]):
            return 92  # Sentry's events API over its spans dataset
        if isinstance(obj.get("rows"), list) and obj["rows"] and isinstance(obj.get("columns"), list):
            obj = obj["rows"][0] if isinstance(obj["rows"][0], dict) else obj  # Logfire's query API
        rows = logfire_columns_to_rows(obj)
        if rows:
            obj = rows[0]
        if is_logfire_row(obj):
            return 90
        if isinstance(obj.get("resourceSpans", obj.get("resource_spans")), list):
            return 96
        if is_log_record(obj):  # GenAI events logged as log records (``LoggedEvents``); other logs, weakly
            events = [read_log_record(*r) for r in log_records_in(obj) if isinstance(r[0], dict)]
            if any(map(LoggedEvents.is_read, events)):
                return 96
            # An SDK's export that opens with metrics (Gemini CLI's outfile): its log records may come after them.
            return 90 if _EVENT_NAMES.search(src.head().decode("utf-8", "replace")) else 30
        if isinstance(obj.get("result"), dict) and isinstance(obj["result"].get("resourceSpans"), list):
            return 96  # Jaeger's query API v3: OTLP JSON
        spans = obj["data"].get("spans") if isinstance(obj.get("data"), dict) else obj.get("spans")
        if isinstance(spans, list) and spans and "traceID" not in obj and is_span(spans[0]):
            return 92  # MLflow's trace.to_json() ({"info", "data": {"spans"}}), or spans kept under "spans"
        data = obj.get("data")
        first = data[0] if isinstance(data, list) and data else obj  # the sniffer may have opened {"data": [...]}
        if isinstance(first, dict) and isinstance(first.get("spans"), list) and "traceID" in first:
            return 92 if any(is_jaeger_span(s) for s in first["spans"][:1]) else 0  # Jaeger's {"data": [traces]}
        if isinstance(first, dict) and (is_span(first) or is_logfire_row(first)):
            return 90
        if is_span(obj) or is_dataframe_row(obj):
            return 90
        return 80 if is_anonymous_span(first) or is_anonymous_span(obj) else 0

    def near_miss(self, src) -> str | None:
        """Trace exports plan cannot read as OpenTelemetry spans."""
        from ..records import first_json_object

        obj = first_json_object(src)
        if isinstance(obj, dict) and isinstance(obj.get("data"), list) and obj["data"]:
            obj = obj["data"][0]
        if not isinstance(obj, dict):
            return None
        sources = elastic_sources(obj)
        if sources and not is_span(sources[0]) and ({"processor", "labels", "span", "transaction"} & sources[0].keys()):
            return ("it looks like Elastic APM documents (the ECS mapping), which keep a span's GenAI attributes as "
                    "labels.gen_ai_* and drop its failure's message; export the OpenTelemetry-native traces-*.otel-* "
                    "data stream instead")
        if "traceID" in obj or "spanID" in obj or "references" in obj:  # operationName alone: Azure's resource logs too
            return ("it looks like a Jaeger trace export, but its spans hold no gen_ai.*, llm.* or OpenInference "
                    "tags (no model call to read)")
        braintrust = {"root_span_id", "span_parents", "span_attributes"} & obj.keys()  # Braintrust's rows (braintrust.py)
        if ("spanId" in obj or "span_id" in obj) and "attributes" not in obj and not braintrust:
            return "it looks like OpenTelemetry spans, but they carry no attributes (no gen_ai.* or llm.* values to read)"
        return None

    def parse(self, src, ctx):
        nested, streams, logged, copies, twice = nested_model_calls(src)
        for number, item in _raw_spans(src):
            if isinstance(item, (Reject, Skipped)):
                yield item
                continue
            if isinstance(item, LogEvent):
                try:
                    yield logged.take(number, item)
                except (ValueError, TypeError, AttributeError, OverflowError) as exc:
                    yield Reject(number, f"unreadable log record ({exc})", excerpt(item.fields))
                continue
            raw, resource, scope = item
            try:
                span = read_span(raw, resource, scope)
                if copies.says_less(span):
                    yield Skipped(number, copies.reason)
                    continue
                if span.span_id in twice.skip:
                    yield Skipped(number, twice.reason)
                    continue
                logged.attach(span)
                record = span_record(span)
            except (ValueError, TypeError, AttributeError, OverflowError) as exc:
                yield Reject(number, f"unreadable span ({exc})", excerpt(raw))
                continue
            if isinstance(record, Skipped):
                yield Skipped(number, record.reason)
                continue
            if span.span_id in streams.paired:
                yield Skipped(number, "Logfire's streaming-response log of a call (counted at its request span)")
                continue
            streams.apply(span.span_id, record)
            record["_line"] = number
            yield from nested.take(number, span.span_id, record)
        yield from nested.leftovers()


def _raw_spans(src) -> Iterator[tuple[int, Any]]:
    """(line, item) for every span and log record of the file: a (raw span, resource, scope) triple or a
    ``LogEvent``, or the Reject or Skipped of what is neither."""
    for number, value in iter_values(src):
        if isinstance(value, Reject):
            yield number, value
            continue
        for raw, resource, scope in spans_in(value):
            part = not_a_span(raw)
            if part is not None:
                yield number, Skipped(number, part)
            elif is_log_record(raw):  # a logs export, or the log records and metrics a console exporter prints
                records = list(log_records_in(raw, resource, scope))
                if not records:
                    yield number, Skipped(number, "a metrics export, not a span")
                for record, record_resource, record_scope in records:
                    if not isinstance(record, dict):
                        yield number, Reject(number, "a log record that is not an object", excerpt(record))
                        continue
                    try:
                        yield number, read_log_record(record, record_resource, record_scope)
                    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
                        yield number, Reject(number, f"unreadable log record ({exc})", excerpt(record))
            elif not (is_span(raw) or is_anonymous_span(raw)):
                yield number, Reject(number, "not a span (no span id, name or attributes)", excerpt(raw))
            else:
                yield number, (raw, resource, scope)


register(OpenTelemetry())
