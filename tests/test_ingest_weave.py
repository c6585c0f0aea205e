"""W&B Weave call exports: the model calls a trace made are requests; the app's own ops around them (chains, tools,
evaluations, scorers), whose summary.usage only repeats their children's, are skipped and counted."""

import csv
import json

import pytest

from analyzer.ingest import ingest_paths
from helpers import stored_requests

PROJECT = "acme/support"
TRACE = "0192f3a1-0000-7000-8000-0000000000ff"


def _ref(name: str) -> str:
    return f"weave:///{PROJECT}/op/{name}:dg{len(name)}"


def _call(call_id, name, inputs, output, *, parent=None, started="2026-11-02T10:00:00.000000Z",
          ended="2026-11-02T10:00:01.250000Z", usage=None, costs=None, exception=None, bare_name=False):
    summary: dict = {"usage": usage or {}}
    if costs is not None:
        summary["weave"] = {"status": "success", "costs": costs}
    return {"id": call_id, "project_id": PROJECT, "op_name": name if bare_name else _ref(name), "display_name": None,
            "trace_id": TRACE, "parent_id": parent, "started_at": started, "ended_at": ended,
            "exception": exception, "attributes": {"weave": {"client_version": "0.51.0", "source": "python-sdk"}},
            "inputs": inputs, "output": output, "summary": summary, "wb_user_id": "VXNlcjox", "wb_run_id": None}


def _completion(cid, model, text, usage=None):
    out = {"id": cid, "object": "chat.completion", "created": 1793527200, "model": model,
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    if usage is not None:
        out["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return out


def _usage(model, prompt, completion):
    return {model: {"requests": 1, "prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion}}


MINI = "gpt-4o-mini-2024-07-18"
SONNET = "claude-sonnet-4-5-20250929"
SELF = "<openai.resources.chat.completions.Completions object at 0x7f>"


def trace_calls() -> list[dict]:
    """A support bot's trace: root op -> triage op -> an OpenAI call; an Anthropic call; a streamed call; a failed
    call; a Responses call Weave priced; a Gemini call; an embedding; a wrapper op returning its child's completion;
    an op of the app's own that returns a completion it built; a scorer."""
    chat = _completion("chatcmpl-wv01", MINI, "shipping", (31, 2))
    return [
        _call("c-root", "handle_ticket", {"ticket": "My parcel is late"}, {"route": "shipping"},
              ended="2026-11-02T10:00:09Z", usage={**_usage(MINI, 86, 11), SONNET: {"requests": 1, "input_tokens": 40,
                                                                                     "output_tokens": 6}},
              costs={MINI: {"prompt_tokens_total_cost": 0.1, "completion_tokens_total_cost": 0.1}}),
        _call("c-triage", "triage", {"text": "My parcel is late"}, "shipping", parent="c-root",
              usage=_usage(MINI, 31, 2)),
        _call("c-openai", "openai.chat.completions.create",
              {"self": SELF, "model": "gpt-4o-mini", "temperature": 0,
               "messages": [{"role": "system", "content": "Route the ticket."},
                            {"role": "user", "content": "My parcel is late"}]},
              chat, parent="c-triage", started="2026-11-02T10:00:00.100000Z", ended="2026-11-02T10:00:00.900000Z",
              usage=_usage(MINI, 31, 2)),
        _call("c-claude", "anthropic.Messages.create",
              {"self": "<anthropic.resources.messages.Messages object>", "model": "claude-sonnet-4-5", "max_tokens": 256,
               "system": "Write a short apology.", "messages": [{"role": "user", "content": "Parcel late, order 1182"}]},
              {"id": "msg_wv01", "type": "message", "role": "assistant", "model": SONNET,
               "content": [{"type": "text", "text": "Sorry for the delay on order 1182."}],
               "stop_reason": "end_turn", "usage": {"input_tokens": 40, "output_tokens": 6}},
              parent="c-root", started="2026-11-02T10:00:01Z", ended="2026-11-02T10:00:03.500000Z",
              usage={SONNET: {"requests": 1, "input_tokens": 40, "output_tokens": 6}}),
        _call("c-stream", "openai.chat.completions.create",
              {"self": SELF, "model": "gpt-4o-mini", "stream": True,
               "messages": [{"role": "user", "content": "Summarise the ticket"}]},
              _completion("chatcmpl-wv02", MINI, "Late parcel, order 1182."), parent="c-root",
              started="2026-11-02T10:00:04Z", ended="2026-11-02T10:00:05Z", usage=_usage(MINI, 55, 9)),
        _call("c-failed", "openai.chat.completions.create",
              {"self": SELF, "model": "gpt-4o", "messages": [{"role": "user", "content": "Escalate?"}]},
              None, parent="c-root", started="2026-11-02T10:00:06Z", ended="2026-11-02T10:00:06.200000Z",
              exception="RateLimitError: Error code: 429 - Rate limit reached for gpt-4o"),
        _call("c-responses", "openai.responses.create",
              {"self": "<openai.resources.responses.Responses object>", "model": "gpt-4.1-mini",
               "instructions": "Reply in one line.", "input": "Draft a reply about order 1182"},
              {"id": "resp_wv01", "object": "response", "created_at": 1793527207, "status": "completed",
               "model": "gpt-4.1-mini-2025-04-14",
               "output": [{"type": "message", "role": "assistant",
                           "content": [{"type": "output_text", "text": "Your parcel ships today."}]}],
               "usage": {"input_tokens": 24, "output_tokens": 7, "total_tokens": 31}},
              parent="c-root", started="2026-11-02T10:00:07Z", ended="2026-11-02T10:00:08Z",
              usage={"gpt-4.1-mini-2025-04-14": {"requests": 1, "input_tokens": 24, "output_tokens": 7}},
              costs={"gpt-4.1-mini-2025-04-14": {"prompt_tokens": 24, "completion_tokens": 7,
                                                 "prompt_tokens_total_cost": 0.000012,
                                                 "completion_tokens_total_cost": 0.000021,
                                                 "prompt_token_cost": 5e-7, "completion_token_cost": 3e-6}}),
        _call("c-gemini", "google.genai.models.Models.generate_content",
              {"self": "<google.genai.models.Models object>", "model": "gemini-2.0-flash",
               "contents": "Classify: my parcel is late"},
              {"candidates": [{"content": {"role": "model", "parts": [{"text": "logistics"}]}, "finish_reason": "STOP"}],
               "model_version": "gemini-2.0-flash",
               "usage_metadata": {"prompt_token_count": 8, "candidates_token_count": 1, "total_token_count": 9}},
              parent="c-root", usage={"gemini-2.0-flash": {"requests": 1, "prompt_tokens": 8, "completion_tokens": 1}}),
        _call("c-embed", "openai.embeddings.create",
              {"self": "<openai.resources.embeddings.Embeddings object>", "model": "text-embedding-3-small",
               "input": "My parcel is late"},
              {"object": "list", "model": "text-embedding-3-small", "data": [{"object": "embedding", "index": 0}],
               "usage": {"prompt_tokens": 5, "total_tokens": 5}}, parent="c-root"),
        _call("c-wrapper", "ask_llm", {"prompt": "My parcel is late"}, chat, parent="c-triage",
              usage=_usage(MINI, 31, 2)),
        _call("c-own", "cached_answer", {"question": "Where is my parcel?"},
              _completion("chatcmpl-cache01", "gpt-4o-mini", "It ships today.", (12, 4)), parent="c-root",
              bare_name=True),
        _call("c-score", "Evaluation.predict_and_score", {"example": {"ticket": "My parcel is late"}},
              {"scores": {"exact": True}}, parent="c-root", usage=_usage(MINI, 31, 2)),
    ]


def _write(tmp_path, shape: str, calls: list[dict]):
    if shape == "jsonl":
        path = tmp_path / "calls.jsonl"
        path.write_text("".join(json.dumps(c) + "\n" for c in calls))
    elif shape == "list":
        path = tmp_path / "calls.json"
        path.write_text(json.dumps(calls, indent=2))
    else:
        path = tmp_path / "calls_query.json"
        path.write_text(json.dumps({"calls": calls}))
    return path


def _flatten(value, prefix: str, out: dict, depth: int) -> None:
    if isinstance(value, dict) and value and depth:
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}", out, depth - 1)
    else:
        out[prefix] = "" if value is None else value if isinstance(value, str) else json.dumps(value)


def _write_table(tmp_path, calls: list[dict], delimiter: str):
    """The UI's table export: nested keys flattened with dots (three levels), deeper objects as JSON cells."""
    rows = []
    for call in calls:
        row: dict = {}
        for key, value in call.items():
            _flatten(value, key, row, 3 if key in ("inputs", "output", "summary", "attributes") else 0)
        rows.append(row)
    columns = sorted({c for row in rows for c in row})
    path = tmp_path / ("calls.csv" if delimiter == "," else "calls.tsv")
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns, delimiter=delimiter, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _assert_trace_rows(con):
    r = stored_requests(con)
    assert sorted(r) == ["c-claude", "c-embed", "c-failed", "c-gemini", "c-openai", "c-own", "c-responses", "c-stream"]
    chat = r["c-openai"]
    assert (chat["provider"], chat["model"], chat["input_tokens"], chat["output_tokens"]) == ("openai", MINI, 31, 2)
    assert (chat["system_prompt"], chat["prompt_text"], chat["response_text"]) == (
        "Route the ticket.", "My parcel is late", "shipping")
    assert (chat["trace_id"], chat["parent_span_id"], chat["duration_ms"]) == (TRACE, "c-triage", 800.0)
    assert str(chat["created_at"]) == "2026-11-02 10:00:00.100000" and chat["status"] == "ok"
    assert chat["cost_source"] == "catalog" and chat["cost_usd"] > 0
    assert json.loads(chat["params_json"]) == {"temperature": 0}
    claude = r["c-claude"]
    assert (claude["provider"], claude["model"], claude["input_tokens"], claude["output_tokens"]) == (
        "anthropic", SONNET, 40, 6)
    assert (claude["system_prompt"], claude["prompt_text"], claude["response_text"]) == (
        "Write a short apology.", "Parcel late, order 1182", "Sorry for the delay on order 1182.")
    assert (claude["parent_span_id"], claude["duration_ms"]) == ("c-root", 2500.0)
    streamed = r["c-stream"]  # the output has no usage: the tokens Weave summed
    assert (streamed["input_tokens"], streamed["output_tokens"], streamed["response_text"]) == (
        55, 9, "Late parcel, order 1182.")
    failed = r["c-failed"]
    assert (failed["status"], failed["model"], failed["prompt_text"], failed["response_text"]) == (
        "error", "gpt-4o", "Escalate?", None)
    assert "Rate limit" in json.loads(failed["tags_json"])["exception"]
    priced = r["c-responses"]  # the cost Weave computed (a custom price here) is the log's, not the catalog's
    assert (priced["cost_usd"], priced["cost_source"]) == (pytest.approx(0.000033), "log")
    assert (priced["system_prompt"], priced["prompt_text"], priced["response_text"]) == (
        "Reply in one line.", "Draft a reply about order 1182", "Your parcel ships today.")
    assert (priced["input_tokens"], priced["output_tokens"], priced["model"]) == (24, 7, "gpt-4.1-mini-2025-04-14")
    gemini = r["c-gemini"]
    assert (gemini["provider"], gemini["model"], gemini["prompt_text"], gemini["response_text"]) == (
        "google", "gemini-2.0-flash", "Classify: my parcel is late", "logistics")
    assert (gemini["input_tokens"], gemini["output_tokens"]) == (8, 1)
    embed = r["c-embed"]
    assert (embed["operation"], embed["model"], embed["input_tokens"], embed["prompt_text"]) == (
        "embeddings", "text-embedding-3-small", 5, None)
    own = r["c-own"]  # not a patched op, but it returned a completion nobody else did
    assert (own["response_text"], own["input_tokens"], own["output_tokens"]) == ("It ships today.", 12, 4)
    totals = con.execute("select sum(input_tokens), sum(output_tokens), count(*) filter (where prompt_text = '') "
                         "from requests").fetchone()
    assert totals == (31 + 40 + 55 + 24 + 8 + 5 + 12, 2 + 6 + 9 + 7 + 1 + 4, 0)


@pytest.mark.parametrize("shape", ["jsonl", "list", "calls"])
def test_a_weave_trace_keeps_its_model_calls_and_counts_the_ops(con, tmp_path, shape):
    path = _write(tmp_path, shape, trace_calls())
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "weave"
    # root, triage, the wrapper returning its child's completion, the scorer
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (8, 4, 0)
    _assert_trace_rows(con)
    again = ingest_paths(con, [str(path)])
    assert (again["rows_added"], con.execute("select count(*) from requests").fetchone()[0]) == (0, 8)


def test_the_same_calls_in_another_export_count_once(con, tmp_path):
    ingest_paths(con, [str(_write(tmp_path, "jsonl", trace_calls()))])
    summary = ingest_paths(con, [str(_write(tmp_path, "list", trace_calls()))])
    assert (summary["rows_added"], summary["rows_duplicate"]) == (0, 8)


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_the_ui_table_export_is_read_back_into_calls(con, tmp_path, delimiter):
    path = _write_table(tmp_path, trace_calls(), delimiter)
    summary = ingest_paths(con, [str(path)])
    assert summary["files"][0]["format"] == "weave"
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (8, 4, 0)
    _assert_trace_rows(con)


def test_a_parent_op_is_no_phantom_request(con, tmp_path):
    """The parent op carries no model and an empty prompt; its summary.usage repeats its child's tokens."""
    child = _call("c-1", "openai.chat.completions.create",
                  {"self": SELF, "model": "gpt-4o-mini", "temperature": 0,
                   "messages": [{"role": "system", "content": "You are a triage bot."},
                                {"role": "user", "content": "My parcel is late"}]},
                  _completion("chatcmpl-abc", MINI, "shipping", (20, 2)), parent="c-0", usage=_usage(MINI, 20, 2))
    parent = _call("c-0", "triage", {"ticket": "My parcel is late"}, "shipping", usage=_usage(MINI, 20, 2))
    path = _write(tmp_path, "jsonl", [child, parent])
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"]) == (1, 1)
    assert summary["files"][0]["models"] == {MINI: 1} and summary["files"][0]["input_tokens"] == 20
    row = stored_requests(con)["c-1"]
    assert (row["prompt_text"], row["system_prompt"], row["parent_span_id"]) == (
        "My parcel is late", "You are a triage bot.", "c-0")


def test_a_file_of_app_ops_only_says_so(con, tmp_path):
    calls = [c for c in trace_calls() if c["id"] in ("c-root", "c-triage", "c-score")]
    path = _write(tmp_path, "jsonl", calls)
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (0, 3, 0)
    note = summary["files"][0]["note"]
    assert note.startswith("3 records read as a W&B Weave calls export, none of them a model call") and "openai.chat.completions.create" in note


def test_other_integrations_name_their_provider(con, tmp_path):
    """Bedrock Converse (read by the generic readers), Bedrock InvokeModel (bodies under `body`), LiteLLM (provider
    from the model) and Mistral (OpenAI-shaped answers from another provider)."""
    haiku = "anthropic.claude-3-haiku-20240307-v1:0"
    calls = [
        _call("b-converse", "BedrockRuntime.converse",
              {"modelId": haiku, "system": [{"text": "Be brief."}],
               "messages": [{"role": "user", "content": [{"text": "Is order 1182 late?"}]}],
               "inferenceConfig": {"maxTokens": 100, "temperature": 0.2}},
              {"ResponseMetadata": {"HTTPStatusCode": 200}, "stopReason": "end_turn", "metrics": {"latencyMs": 420},
               "output": {"message": {"role": "assistant", "content": [{"text": "Yes, by two days."}]}},
               "usage": {"inputTokens": 12, "outputTokens": 6, "totalTokens": 18}},
              usage={haiku: {"requests": 1, "prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}},
              bare_name=True),
        _call("b-invoke", "BedrockRuntime.invoke",
              {"modelId": "anthropic.claude-3-5-haiku-20241022-v1:0", "contentType": "application/json",
               "body": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                        "messages": [{"role": "user", "content": "Refund order 1182?"}]}},
              {"ResponseMetadata": {"HTTPStatusCode": 200}, "contentType": "application/json",
               "body": {"id": "msg_bdrk_01", "type": "message", "role": "assistant",
                        "model": "claude-3-5-haiku-20241022", "content": [{"type": "text", "text": "No refund yet."}],
                        "stop_reason": "end_turn", "usage": {"input_tokens": 14, "output_tokens": 4}}},
              bare_name=True),
        _call("l-completion", "litellm.completion",
              {"model": "claude-3-5-haiku-20241022", "messages": [{"role": "user", "content": "Tag: parcel late"}]},
              _completion("chatcmpl-lt01", "claude-3-5-haiku-20241022", "logistics", (9, 1))),
        _call("m-chat", "mistralai.chat.complete",
              {"self": "<mistralai.chat.Chat object>", "model": "mistral-small-latest",
               "messages": [{"role": "user", "content": "Tag: card charged twice"}]},
              _completion("cmpl-mi01", "mistral-small-latest", "billing", (10, 1))),
    ]
    summary = ingest_paths(con, [str(_write(tmp_path, "jsonl", calls))])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (4, 0, 0)
    r = stored_requests(con)
    converse = r["b-converse"]
    assert (converse["provider"], converse["model"], converse["input_tokens"], converse["output_tokens"]) == (
        "bedrock", haiku, 12, 6)
    assert (converse["system_prompt"], converse["prompt_text"], converse["response_text"]) == (
        "Be brief.", "Is order 1182 late?", "Yes, by two days.")
    invoke = r["b-invoke"]
    assert (invoke["provider"], invoke["model"], invoke["input_tokens"], invoke["output_tokens"]) == (
        "bedrock", "claude-3-5-haiku-20241022", 14, 4)
    assert (invoke["prompt_text"], invoke["response_text"]) == ("Refund order 1182?", "No refund yet.")
    assert [r[k]["provider"] for k in ("l-completion", "m-chat")] == ["anthropic", "mistral"]
    assert (r["m-chat"]["prompt_text"], r["m-chat"]["response_text"]) == ("Tag: card charged twice", "billing")


@pytest.mark.parametrize("shape", ["jsonl", "csv"])
def test_sdk_objects_cache_tokens_and_weave_costs(con, fixtures, tmp_path, shape):
    """Calls as the SDK stores them (tests/fixtures/weave_sdk_objects.jsonl, written by hand): an Anthropic Message and
    a Responses object serialized as Weave's object records (``_type``/``_class_name``/``_bases`` on every nested
    model), a google-genai response as Weave dictifies it (snake_case ``usage_metadata`` with thinking tokens), and
    ``summary.weave.costs`` as the cost query writes it, with cache-read and cache-write totals beside the prompt's."""
    path = fixtures / "weave_sdk_objects.jsonl"
    if shape == "csv":  # the same calls through the UI's table export
        path = _write_table(tmp_path, [json.loads(line) for line in path.read_text().splitlines()], ",")
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (4, 0, 0)
    r = stored_requests(con)
    cols = ("model", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
    # 12 uncached + 2000 read + 300 written; Weave's total is the sum of all four parts:
    # 12 * 3e-6 + 40 * 1.5e-5 + 2000 * 3e-7 + 300 * 3.75e-6 = 0.002361 (prompt + completion alone: 0.000636)
    cached = r["a1"]
    assert tuple(cached[c] for c in cols) == (SONNET, 2312, 2000, 300, 40, None)
    assert (cached["cost_usd"], cached["cost_source"]) == (pytest.approx(0.002361), "log")
    assert (cached["prompt_text"], cached["response_text"]) == ("Refund?", "Refund approved.")
    # Usage without gross_input_tokens: Weave's prompt total is (5 - 50 - 10) * 3e-6 < 0, so the call is priced again
    # at the entry's unit prices: 5 * 3e-6 + 3 * 1.5e-5 + 50 * 3e-7 + 10 * 3.75e-6 = 0.0001125 (not -0.00012)
    legacy = r["a2"]
    assert tuple(legacy[c] for c in cols) == (SONNET, 65, 50, 10, 3, None)
    assert (legacy["cost_usd"], legacy["cost_source"]) == (pytest.approx(0.0001125), "log")
    # Gemini bills thinking as output: 3 answer + 120 thoughts (summary.usage only has the 3)
    gemini = r["g1"]
    assert tuple(gemini[c] for c in cols) == ("gemini-2.5-flash", 9, None, None, 123, 120)
    assert (gemini["provider"], gemini["prompt_text"], gemini["response_text"]) == ("google", "Say hi in French", "Bonjour")
    responses = r["r1"]
    assert tuple(responses[c] for c in cols) == ("o4-mini-2025-04-16", 1500, 1024, None, 300, 256)
    assert (responses["prompt_text"], responses["response_text"]) == ("Capital of France?", "Paris.")


def test_cohere_tokens_come_from_billed_units(con, tmp_path):
    """Cohere's responses have no ``model`` (so Weave writes no summary.usage) and keep their tokens under
    ``usage.billed_units`` (v2, as the integration rebuilds it) or ``meta.billed_units`` (v1)."""
    v2 = {"_type": "NonStreamedChatResponse2", "id": "co-2", "finish_reason": "COMPLETE",
          "message": {"role": "assistant", "content": [{"type": "text", "text": "Shipping."}]},
          "usage": {"billed_units": {"input_tokens": 17, "output_tokens": 3},
                    "tokens": {"input_tokens": 211, "output_tokens": 3}},
          "_class_name": "NonStreamedChatResponse2", "_bases": ["BaseModel"]}
    v1 = {"text": "Billing.", "generation_id": "gen-1", "finish_reason": "COMPLETE",
          "meta": {"api_version": {"version": "1"}, "billed_units": {"input_tokens": 9, "output_tokens": 2}}}
    calls = [
        _call("co-v2", "cohere.ClientV2.chat", {"self": "<cohere.ClientV2>", "model": "command-r-plus-08-2024",
                                                "messages": [{"role": "user", "content": "Tag: parcel late"}]}, v2),
        _call("co-v1", "cohere.Client.chat", {"self": "<cohere.Client>", "model": "command-r-08-2024",
                                              "message": "Tag: charged twice"}, v1),
    ]
    summary = ingest_paths(con, [str(_write(tmp_path, "jsonl", calls))])
    assert (summary["rows_added"], summary["rows_skipped"], summary["rows_rejected"]) == (2, 0, 0)
    r = stored_requests(con)
    got = {k: (r[k]["provider"], r[k]["model"], r[k]["input_tokens"], r[k]["output_tokens"], r[k]["response_text"])
           for k in r}
    assert got == {"co-v2": ("cohere", "command-r-plus-08-2024", 17, 3, "Shipping."),
                   "co-v1": ("cohere", "command-r-08-2024", 9, 2, "Billing.")}
