import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from openai_stub import OpenAIStub, Reply, last_user_text

from analyzer.db import connect, dicts, rows, scalar
from analyzer.errors import PlanError
from analyzer.replay import ReplaySettings, build_replay_request, replay, sample_requests

CATEGORIES = [  # id, name, is_other, spend_rank, requests
    (1, "Ticket triage", False, 1, 6),
    (2, "SQL from questions", False, 2, 4),
    (3, "Long contract review", False, 3, 2),
    (9, "Other", True, None, 3),
]
FAST = {"backoff": 0.01, "timeout": 5}


def run(con, **flags):
    """``plan replay`` in-process, with fast retries: flags as on the command line."""
    return replay(con, ReplaySettings.resolve({}, **{**FAST, **flags}), progress=False)


def prompt_of(request_id: int) -> str:
    return f"request {request_id}: please handle item number {request_id}"


def seed_db(con, categories=CATEGORIES, without_response=(), params=None, duplicates=()):
    """Requests with ids category*100 + i, each with a distinct prompt (ids in ``duplicates`` copy the first one's)."""
    for cat_id, name, is_other, rank, n in categories:
        con.execute("insert into categories (category_id, name, task_type, is_other, spend_rank, spend_usd, requests) values (?, ?, 'classification', ?, ?, ?, ?)",
                    [cat_id, name, is_other, rank, 100.0 / (rank or 50), n])
        for i in range(n):
            rid = cat_id * 100 + i
            text = prompt_of(cat_id * 100) if rid in duplicates else prompt_of(rid)
            messages = [{"role": "user", "content": text}]
            con.execute(
                "insert into requests (id, provider, model, system_prompt, messages_json, prompt_text, response_text, params_json, created_at) "
                "values (?, 'openai', 'gpt-4o', 'You are terse.', ?, ?, ?, ?, now()::timestamp)",
                [rid, json.dumps(messages), text, None if rid in without_response else f"frontier answer {rid}",
                 json.dumps(params) if params else None])
            con.execute("insert into request_categories (request_id, category_id) values (?, ?)", [rid, cat_id])


def sent_ids(stub) -> list[int]:
    return [int(last_user_text(b).split(":")[0].split()[1]) for b in stub.requests]


def test_replay_needs_categories_first(con):
    with pytest.raises(PlanError, match="plan categorize"):
        run(con, endpoint="http://127.0.0.1:9/v1", model="m")


def test_sample_is_stratified_seeded_and_skips_other(con):
    seed_db(con)
    first = sample_requests(con, per_category=3, seed=7)
    again = sample_requests(con, per_category=3, seed=7)
    other_seed = sample_requests(con, per_category=3, seed=8)
    ids = [r["request_id"] for r in first]
    assert ids == [r["request_id"] for r in again]
    per_cat = {c: sum(r["category_id"] == c for r in first) for c in (1, 2, 3, 9)}
    assert per_cat == {1: 3, 2: 3, 3: 2, 9: 0}  # capped by what a category has; Other left out
    assert set(ids) != {r["request_id"] for r in other_seed}
    # interleaved: every category's first pick comes before any category's second pick
    assert [r["sample_rank"] for r in first][:3] == [1, 1, 1]
    assert len(sample_requests(con, per_category=3, seed=7, include_other=True)) == 11


def test_larger_sample_extends_the_smaller_one(con):
    seed_db(con)
    small = {r["request_id"] for r in sample_requests(con, per_category=2, seed=3)}
    large = {r["request_id"] for r in sample_requests(con, per_category=4, seed=3)}
    assert small < large


def test_sample_takes_only_answered_requests_and_distinct_prompts_first(con):
    seed_db(con, without_response={100, 101, 102}, duplicates={104, 105})
    picked = [r["request_id"] for r in sample_requests(con, per_category=2, seed=0) if r["category_id"] == 1]
    assert set(picked) <= {103, 104, 105} and not {104, 105} <= set(picked)  # answered, and not two copies
    three = [r["request_id"] for r in sample_requests(con, per_category=3, seed=0) if r["category_id"] == 1]
    assert set(three) == {103, 104, 105}  # a second copy, but never a request with nothing to compare with
    assert {r["request_id"] for r in sample_requests(con, per_category=9, seed=0)} & {100, 101, 102} == set()


def test_replay_records_every_call_and_prints_the_contract(con, openai_stub):
    seed_db(con)
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=2)
    assert {"endpoint", "model", "calls_made", "calls_failed", "skipped_already_done", "output_tokens_per_s"} <= set(out)
    assert out["endpoint"] == openai_stub.url and out["model"] == "stub-model"
    assert out["calls_made"] == 6 and out["calls_failed"] == 0 and out["skipped_already_done"] == 0
    assert out["output_tokens_per_s"] > 0 and out["remaining"] == 0
    got = dicts(con, "select * from replays order by request_id")
    assert len(got) == 6 and {g["category_id"] for g in got} == {1, 2, 3}
    row = got[0]
    assert row["output_text"] == f"Local answer to: {prompt_of(row['request_id'])}"
    assert row["output_tokens"] == 10 and row["tokens_estimated"] is False and row["error"] is None
    assert row["latency_ms"] > 0 and row["ttft_ms"] is not None and row["stream"] is True
    assert row["endpoint"] == openai_stub.url and row["model"] == "stub-model"
    tp = dicts(con, "select * from endpoint_throughput")
    assert len(tp) == 1 and tp[0]["calls"] == 6 and tp[0]["output_tokens"] == 60 and tp[0]["concurrency"] == 4
    assert tp[0]["output_tokens_per_s"] == pytest.approx(out["output_tokens_per_s"])
    assert scalar(con, "select count(*) from stage_runs where stage = 'replay'") == 1
    assert {c["category_id"]: (c["sampled"], c["done"]) for c in out["categories"]} == {1: (2, 2), 2: (2, 2), 3: (2, 2)}


def test_margin_sets_the_sample_size(con, openai_stub):
    seed_db(con)
    out = run(con, endpoint=openai_stub.url, model="stub-model", margin=0.3)
    assert out["per_category"] == 11 and out["calls_made"] == 12  # 6 + 4 + 2: every category has fewer than 11
    with pytest.raises(PlanError, match="either"):
        run(con, endpoint=openai_stub.url, model="stub-model", margin=0.3, per_category=2)


def test_system_prompt_conversation_and_parameters_are_carried(con, openai_stub):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}},
             {"type": "web_search_preview"}]
    params = {"temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 300, "stop": ["END"], "seed": 42,
              "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}}},
              "tools": tools, "tool_choice": "required", "top_k": 5, "logit_bias": {"50256": -100}, "n": 3,
              "metadata": {"team": "x"}, "reasoning_effort": "high"}
    seed_db(con, categories=[(1, "Extraction", False, 1, 1)], params=params)
    con.execute("""update requests set messages_json = ? where id = 100""", [json.dumps([
        {"role": "developer", "content": "Answer in JSON."},
        {"role": "user", "content": [{"type": "text", "text": "What is on this receipt?"},
                                      {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "total: 12.50"},
        {"role": "user", "content": "request 100: and the total?"},
    ])])
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=1, stream=False)
    body = openai_stub.requests[0]
    assert body["temperature"] == 0.2 and body["top_p"] == 0.9 and body["max_tokens"] == 300
    assert body["stop"] == ["END"] and body["seed"] == 42 and body["tool_choice"] == "required"
    assert body["response_format"]["type"] == "json_schema"
    assert [t["function"]["name"] for t in body["tools"]] == ["lookup"]
    for dropped in ("top_k", "logit_bias", "n", "metadata", "reasoning_effort", "max_completion_tokens"):
        assert dropped not in body
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]  # logged system message kept, not duplicated
    assert body["messages"][1]["content"] == "What is on this receipt?"
    assert body["messages"][2]["tool_calls"][0]["function"]["name"] == "lookup"
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "total: 12.50"}
    expected = {"image": 1, "n_reduced_to_1": 1, "param:logit_bias": 1, "param:reasoning_effort": 1,
                "param:top_k": 1, "server_tool:web_search_preview": 1}
    assert out["not_carried"] == expected and out["requests_with_not_carried"] == 1
    row = dicts(con, "select not_carried_json, params_json from replays")[0]
    assert json.loads(row["not_carried_json"]) == expected
    assert json.loads(row["params_json"])["max_tokens"] == 300
    # JSON mode reached the server: the stub answered with a JSON object
    assert json.loads(scalar(con, "select output_text from replays"))["answer"]


def test_anthropic_and_bedrock_shapes_are_translated():
    row = {
        "system_prompt": "Be exact.",
        "messages_json": json.dumps([
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "..."}, {"type": "text", "text": "Checking."},
                                              {"type": "tool_use", "id": "tu1", "name": "weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1", "content": [{"type": "text", "text": "18C"}]}]},
        ]),
        "params_json": json.dumps({"max_tokens": 1024, "top_k": 40, "thinking": {"type": "enabled"},
                                   "tools": [{"name": "weather", "description": "w", "input_schema": {"type": "object"}}],
                                   "tool_choice": {"type": "tool", "name": "weather"}, "stop_sequences": ["\n\nHuman:"]}),
    }
    messages, params, lost = build_replay_request(row, seed=1)
    assert messages[0] == {"role": "system", "content": "Be exact."}
    assert messages[1] == {"role": "user", "content": "Weather in Paris?"}
    assert messages[2]["content"] == "Checking."
    assert messages[2]["tool_calls"][0] == {"id": "tu1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
    assert messages[3] == {"role": "tool", "tool_call_id": "tu1", "content": "18C"}
    assert params["tools"][0]["function"]["parameters"] == {"type": "object"}
    assert params["tool_choice"] == {"type": "function", "function": {"name": "weather"}}
    assert params["max_tokens"] == 1024 and params["stop"] == ["\n\nHuman:"] and params["seed"] == 1
    assert lost == {"cache_control": 1, "thinking_block": 1, "param:top_k": 1, "param:thinking": 1}

    bedrock = {"messages_json": json.dumps([{"role": "user", "content": [{"text": "Hi"}, {"image": {"format": "png"}}]}]),
               "params_json": json.dumps({"inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "topP": 0.8}})}
    messages, params, lost = build_replay_request(bedrock)
    assert messages == [{"role": "user", "content": "Hi"}]
    assert params == {"max_tokens": 50, "temperature": 0.5, "top_p": 0.8} and lost == {"image": 1}


def test_legacy_function_calling_becomes_tools_and_bookkeeping_is_not_reported():
    row = {"prompt_text": "hi", "params_json": json.dumps({
        "functions": [{"name": "f", "parameters": {"type": "object"}}], "function_call": {"name": "f"},
        "logprobs": True, "top_logprobs": 3, "user": "u1", "store": True, "verbosity": "low"})}
    _, params, lost = build_replay_request(row)
    assert params["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert params["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert lost == {"param:verbosity": 1}


def test_output_cap_lowers_the_logged_limit_and_says_so():
    row = {"prompt_text": "hi", "params_json": json.dumps({"max_tokens": 4000})}
    _, params, lost = build_replay_request(row, max_output_tokens=64)
    assert params["max_tokens"] == 64 and lost == {"max_tokens_capped": 1}
    _, params, lost = build_replay_request({"prompt_text": "hi"}, max_output_tokens=64)
    assert params["max_tokens"] == 64 and lost == {}


def test_limit_then_resume_makes_no_duplicate_calls(con, openai_stub):
    seed_db(con)
    first = run(con, endpoint=openai_stub.url, model="stub-model", per_category=3, limit=4)
    assert first["calls_made"] == 4 and first["remaining"] == 4
    second = run(con, endpoint=openai_stub.url, model="stub-model", per_category=3)
    assert second["skipped_already_done"] == 4 and second["calls_made"] == 4 and second["remaining"] == 0
    ids = sent_ids(openai_stub)
    assert len(ids) == len(set(ids)) == 8
    third = run(con, endpoint=openai_stub.url, model="stub-model", per_category=3)
    assert third["calls_made"] == 0 and third["skipped_already_done"] == 8 and third["output_tokens_per_s"] is None
    assert len(openai_stub.requests) == 8
    # another model is another experiment: nothing is skipped
    openai_stub.models.append("other-model")
    assert run(con, endpoint=openai_stub.url, model="other-model", per_category=3)["calls_made"] == 8


def test_server_dying_mid_run_stops_with_a_sentence_and_resumes_elsewhere(con):
    seed_db(con)
    with OpenAIStub() as stub:
        stub.die_after = 5
        with pytest.raises(PlanError) as err:
            run(con, endpoint=stub.url, model="stub-model", per_category=3, concurrency=1)
        first_ids = sent_ids(stub)
    assert "Cannot reach" in str(err.value) and "resume" in str(err.value)
    answered = {r[0] for r in rows(con, "select request_id from replays where error is null")}
    assert len(answered) == 5 and answered == set(first_ids[:5])
    with OpenAIStub() as fresh:
        out = run(con, endpoint=fresh.url, model="stub-model", per_category=3, concurrency=2)
        assert out["skipped_already_done"] == 5 and out["calls_made"] == 3
        assert not answered & set(sent_ids(fresh))


def test_concurrency_is_bounded(con):
    seed_db(con, categories=[(1, "A", False, 1, 12)])
    with OpenAIStub(lambda body: Reply(content="ok", delay=0.15)) as stub:
        out = run(con, endpoint=stub.url, model="stub-model", per_category=12, concurrency=3)
    assert out["calls_made"] == 12
    assert 2 <= stub.max_in_flight <= 3


def test_failed_calls_are_recorded_then_retried_next_run(con, openai_stub):
    seed_db(con, categories=[(1, "A", False, 1, 3)])
    openai_stub.responder = lambda body: Reply(status=500) if "request 101:" in last_user_text(body) else Reply(content="fine")
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=3, retries=1)
    assert out["calls_made"] == 3 and out["calls_failed"] == 1 and out["errors"] == {"server_error": 1}
    bad = dicts(con, "select * from replays where request_id = 101")[0]
    assert bad["error_kind"] == "server_error" and "500" in bad["error"] and bad["attempts"] == 2 and bad["output_text"] is None
    openai_stub.responder = lambda body: Reply(content="fine now")
    again = run(con, endpoint=openai_stub.url, model="stub-model", per_category=3)
    assert again["calls_made"] == 1 and again["skipped_already_done"] == 2 and again["calls_failed"] == 0
    assert scalar(con, "select output_text from replays where request_id = 101") == "fine now"
    assert scalar(con, "select count(*) from replays") == 3


def test_missing_model_is_one_sentence_with_the_pull_command(con, openai_stub):
    seed_db(con)
    with pytest.raises(PlanError) as err:
        run(con, endpoint=openai_stub.url, model="qwen3.6:35b-a3b", per_category=2)
    assert "ollama pull qwen3.6:35b-a3b" in str(err.value)
    assert scalar(con, "select count(*) from replays") == 0


def test_unreachable_endpoint_is_one_sentence(con):
    seed_db(con)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PlanError) as err:
        run(con, endpoint=f"http://127.0.0.1:{port}/v1", model="m", per_category=2)
    assert f"Cannot reach the model server at http://127.0.0.1:{port}/v1" in str(err.value)
    assert scalar(con, "select count(*) from replays") == 0


def test_remote_endpoint_is_refused_before_any_call(db_path):
    con = connect(db_path)
    seed_db(con)
    con.close()
    result = CliRunner().invoke(__import__("analyzer.cli", fromlist=["cli"]).cli,
                                ["replay", "--db", db_path, "--endpoint", "http://10.1.2.3:11434/v1", "--model", "m"])
    assert result.exit_code != 0
    assert "10.1.2.3" in result.output and "--allow-remote" in result.output and "Traceback" not in result.output


def test_cli_json_against_the_stub(db_path, openai_stub):
    from analyzer.cli import cli

    con = connect(db_path)
    seed_db(con)
    con.close()
    result = CliRunner().invoke(cli, ["replay", "--db", db_path, "--endpoint", openai_stub.url, "--model", "stub-model",
                                      "--per-category", "1", "--concurrency", "2", "--json",
                                      "--param", "reasoning_effort=none", "--param", 'chat_template_kwargs={"enable_thinking": false}'])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["calls_made"] == 3 and payload["endpoint"] == openai_stub.url and payload["concurrency"] == 2
    assert payload["output_tokens_per_s"] > 0
    for body in openai_stub.requests:
        assert body["reasoning_effort"] == "none" and body["chat_template_kwargs"] == {"enable_thinking": False}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_interrupted_process_resumes_without_repeating_answered_calls(tmp_path, sig):
    db_path = str(tmp_path / "plan.duckdb")
    con = connect(db_path)
    seed_db(con, categories=[(1, "A", False, 1, 10), (2, "B", False, 2, 10)])
    con.close()
    with OpenAIStub(lambda body: Reply(content="slow answer", delay=0.25)) as stub:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-c", "from analyzer.cli import main; main()", "replay", "--db", db_path, "--endpoint", stub.url,
                                 "--model", "stub-model", "--per-category", "10", "--concurrency", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        deadline = time.monotonic() + 60
        while len(stub.requests) < 7 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "Interrupted" in stderr and "Traceback" not in stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    con = connect(db_path)
    answered = {r[0] for r in rows(con, "select request_id from replays where error is null")}
    assert 4 <= len(answered) < 20
    with OpenAIStub() as fresh:
        out = run(con, endpoint=fresh.url, model="stub-model", per_category=10)
        resent = set(sent_ids(fresh))
    assert not answered & resent
    assert answered | resent == {r[0] for r in rows(con, "select id from requests")}
    assert out["skipped_already_done"] == len(answered) and out["remaining"] == 0
    con.close()


def test_localhost_is_checked_then_pinned_and_stored_as_written(con, openai_stub):
    seed_db(con, categories=[(1, "A", False, 1, 2)])
    endpoint = f"http://localhost:{openai_stub.port}/v1"
    out = run(con, endpoint=endpoint, model="stub-model", per_category=2)
    assert out["endpoint"] == endpoint and out["calls_made"] == 2
    assert {r[0] for r in rows(con, "select distinct endpoint from replays")} == {endpoint}


def test_category_filter_by_id_or_name(con, openai_stub):
    seed_db(con)
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=2, categories=["2", "long contract review"])
    assert {c["category_id"] for c in out["categories"]} == {2, 3} and out["calls_made"] == 4
    with pytest.raises(PlanError, match="No top category matches --category nope"):
        run(con, endpoint=openai_stub.url, model="stub-model", categories=["nope"])


# ---------------------------------------------------------------- endpoint refusals, error classes, comparable requests

from openai_stub import SERVER_REFUSALS  # noqa: E402

ORDER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}, "words": {"type": "integer"}},
                "required": ["answer", "words"]}
JSON_SCHEMA_PARAMS = {"response_format": {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER_SCHEMA}},
                      "temperature": 0}


def formats_sent(stub) -> list:
    return [(b.get("response_format") or {}).get("type") for b in stub.requests]


@pytest.mark.parametrize("server", ["llama.cpp json_schema", "llama-cpp-python json_schema"])
def test_a_refused_json_schema_is_sent_as_json_mode_with_the_schema_and_recorded(con, openai_stub, server):
    seed_db(con, categories=[(1, "Order extraction", False, 1, 3)], params=JSON_SCHEMA_PARAMS)
    openai_stub.refuse(SERVER_REFUSALS[server])
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=3, concurrency=1)
    assert out["calls_failed"] == 0 and out["calls_made"] == 3 and out["errors"] == {}
    assert out["downgrades"] == {"response_format:json_schema->json_object": 3}
    # Refused once (a 500 that names the field is not retried as if transient), then JSON mode from the start.
    assert formats_sent(openai_stub) == ["json_schema", "json_object", "json_object", "json_object"]
    system = openai_stub.requests[1]["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You are terse.")
    assert json.loads(system["content"].split("and nothing else:\n", 1)[1]) == ORDER_SCHEMA
    rows_ = dicts(con, "select output_text, error, downgrades_json, params_json from replays")
    assert all(r["error"] is None and json.loads(r["output_text"])["answer"] for r in rows_)
    assert all(json.loads(r["downgrades_json"]) == ["response_format:json_schema->json_object"] for r in rows_)
    assert all(json.loads(r["params_json"])["response_format"] == {"type": "json_object"} for r in rows_)
    assert out["categories"][0]["downgraded"] == 3


def test_json_mode_refused_too_becomes_an_instruction(con, openai_stub):
    seed_db(con, categories=[(1, "Order extraction", False, 1, 2)], params=JSON_SCHEMA_PARAMS)
    openai_stub.refuse(SERVER_REFUSALS["llama.cpp json_schema"], SERVER_REFUSALS["lm studio json_object"])
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=2, concurrency=1)
    assert out["calls_failed"] == 0
    assert out["downgrades"] == {"response_format:json_schema->json_object": 2, "response_format:json_object->instruction": 2}
    assert formats_sent(openai_stub) == ["json_schema", "json_object", None, None]
    last = openai_stub.requests[-1]
    assert "response_format" not in last and json.dumps(ORDER_SCHEMA, indent=1) in last["messages"][0]["content"]


@pytest.mark.parametrize("server, dropped", [("ollama tools", "tools"), ("llama.cpp tools", "tools"),
                                             ("vllm tool_choice", "tool_choice")])
def test_refused_tools_are_dropped_and_the_rest_is_sent(con, openai_stub, server, dropped):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    seed_db(con, categories=[(1, "Support", False, 1, 2)], params={"tools": tools, "tool_choice": "auto", "temperature": 0.3})
    openai_stub.refuse(SERVER_REFUSALS[server])
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=2, concurrency=1)
    assert out["calls_failed"] == 0 and out["downgrades"] == {f"{dropped}:dropped": 2}
    final = openai_stub.requests[-1]
    assert dropped not in final and final["temperature"] == 0.3
    assert ("tools" in final) == (dropped == "tool_choice")


@pytest.mark.parametrize("server, field", [("llama.cpp unsupported param", "frequency_penalty"), ("openai-style seed", "seed")])
def test_a_refused_sampling_field_is_dropped(con, openai_stub, server, field):
    seed_db(con, categories=[(1, "Support", False, 1, 1)], params={"frequency_penalty": 0.5, "seed": 7})
    openai_stub.refuse(SERVER_REFUSALS[server])
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=1)
    assert out["calls_failed"] == 0 and out["downgrades"] == {f"{field}:dropped": 1}
    assert field not in openai_stub.requests[-1]


def test_a_request_the_endpoint_refuses_as_it_is_is_a_deterministic_error_not_retried(con, openai_stub):
    seed_db(con, categories=[(1, "Contracts", False, 1, 2)])
    too_long = {"object": "error", "message": "This model's maximum context length is 4096 tokens. However, you requested "
                "9000 tokens. Please reduce the length of the messages or completion.", "type": "BadRequestError",
                "param": None, "code": 400}
    openai_stub.fail_next("status", times=2, status=400, body=too_long)
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=2, concurrency=1)
    assert out["calls_failed"] == 2 and len(openai_stub.requests) == 2  # one call each, no retries
    assert out["errors_by_class"] == {"transient": 0, "deterministic": 2} and out["errors"] == {"bad_request": 2}
    assert {r[0] for r in rows(con, "select error_class from replays")} == {"deterministic"}
    advice = " ".join(out["advice"])
    assert "will not help" in advice and "larger context" in advice and "run the same command again" not in advice
    assert out["categories"][0]["failed_deterministic"] == 2
    assert "refused by the endpoint" in advice and out["remaining_retriable"] == 0


def test_a_prompt_longer_than_the_stated_context_is_not_sent_and_the_category_is_not_measured(con, openai_stub):
    from analyzer.judge import JudgeSettings, judge

    seed_db(con, categories=[(1, "Contracts", False, 1, 3), (2, "Triage", False, 2, 2)])
    document = "clause " * 6000  # 42,000 characters: about 10,500 tokens
    con.execute("update requests set messages_json = ?, input_tokens = 11000 where id in (100, 101)",
                [json.dumps([{"role": "user", "content": "request 100: " + document}])])
    con.execute("update requests set input_tokens = 9000 where id = 102")  # logged long, sent short: a borderline
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=3, context_tokens=8192)
    assert sorted(sent_ids(openai_stub)) == [102, 200, 201]  # the two that cannot fit never reached the server
    assert out["calls_made"] == 3 and out["calls_failed"] == 2 and out["errors"] == {"context_exceeded": 2}
    assert out["errors_by_class"] == {"transient": 0, "deterministic": 2} and out["context_tokens"] == 8192
    stored = dicts(con, "select request_id, error, error_kind, error_class, output_text from replays "
                        "where error is not null order by request_id")
    assert [r["request_id"] for r in stored] == [100, 101] and all(r["output_text"] is None for r in stored)
    assert {r["error_kind"] for r in stored} == {"context_exceeded"} and {r["error_class"] for r in stored} == {"deterministic"}
    assert "11,000 input tokens logged" in stored[0]["error"] and "context window of 8,192 tokens" in stored[0]["error"]
    assert "larger context" in " ".join(out["advice"])
    assert "not sent, too long for the model's context window" in " ".join(out["advice"])
    assert "refused by the endpoint" not in " ".join(out["advice"])
    assert out["remaining"] == 2 and out["remaining_retriable"] == 0  # running again as is cannot answer them
    verdicts = {c["category_id"]: c for c in judge(con, JudgeSettings.resolve({}), progress=False)["categories"]}
    assert verdicts[1]["decision"] == "not_measured"  # 2 of 3 calls could not be made: no verdict on the model
    assert "not sent" in verdicts[1]["decision_reason"] and "larger context" in verdicts[1]["decision_reason"]
    again = run(con, endpoint=openai_stub.url, model="stub-model", per_category=3)  # context unknown: all sent
    assert again["calls_made"] == 2 and len(openai_stub.requests) == 5


def test_transient_failures_are_retried_and_advised_as_such(con, openai_stub):
    seed_db(con, categories=[(1, "Support", False, 1, 2)])
    openai_stub.fail_next("rate_limit", retry_after=0)
    openai_stub.fail_next("timeout", delay=1.0)
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=2, concurrency=1, timeout=0.5)
    assert out["calls_failed"] == 0  # a 429 and a timeout were retried
    con.execute("delete from replays")
    openai_stub.fail_next("status", times=20, status=503)
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=2, concurrency=1, retries=1)
    assert out["errors_by_class"] == {"transient": 2, "deterministic": 0}
    assert any("run the same command again" in a for a in out["advice"])
    assert {r[0] for r in rows(con, "select error_class from replays")} == {"transient"}


def test_requests_the_frontier_did_not_answer_are_never_replayed_and_are_counted(con, openai_stub):
    seed_db(con, categories=[(1, "Support", False, 1, 6), (2, "Moderated", False, 2, 2)])
    con.execute("update requests set status = 'blocked' where id in (100, 200)")
    con.execute("update requests set status = 'content_filter' where id = 201")
    con.execute("update requests set status = 'error' where id = 101")
    con.execute("update requests set response_text = '  ' where id = 102")
    out = run(con, endpoint=openai_stub.url, model="stub-model", per_category=10)
    assert sorted(sent_ids(openai_stub)) == [103, 104, 105]
    assert out["excluded"] == {"blocked": 3, "errored": 1, "empty": 1, "total": 5}
    support = next(c for c in out["categories"] if c["category_id"] == 1)
    assert support["excluded"] == {"blocked": 1, "errored": 1, "empty": 1} and support["available"] == 3
    assert any("left out of the sample" in a for a in out["advice"])


def test_a_category_whose_calls_all_fail_is_reported_through_the_cli(db_path, openai_stub):
    from analyzer.cli import cli

    con = connect(db_path)
    seed_db(con, categories=[(1, "Support", False, 1, 2), (2, "Broken", False, 2, 2)])
    con.close()
    openai_stub.responder = lambda body: (Reply(status=400, body={"error": {"message": "prompt is malformed"}})
                                          if "request 2" in last_user_text(body) else Reply(content="fine"))
    result = CliRunner().invoke(cli, ["replay", "--db", db_path, "--endpoint", openai_stub.url, "--model", "stub-model",
                                      "--per-category", "2"])
    assert result.exit_code == 0, result.output
    assert "2 refused" in result.stderr and "will not help" in result.stderr and "Run again to retry" not in result.stderr
    payload = json.loads(CliRunner().invoke(cli, ["replay", "--db", db_path, "--endpoint", openai_stub.url, "--model",
                                                  "stub-model", "--per-category", "2", "--json"]).stdout)
    broken = next(c for c in payload["categories"] if c["category_id"] == 2)
    assert (broken["done"], broken["failed"], broken["failed_deterministic"]) == (0, 2, 2)
    assert payload["skipped_already_done"] == 2 and payload["calls_made"] == 2


def test_status_shows_failed_calls_per_category(db_path, openai_stub):
    from analyzer.cli import cli

    con = connect(db_path)
    seed_db(con, categories=[(1, "Support", False, 1, 2), (2, "Broken", False, 2, 2)])
    openai_stub.responder = lambda body: (Reply(status=400, body={"error": {"message": "prompt is malformed"}})
                                          if "request 2" in last_user_text(body) else Reply(content="fine"))
    run(con, endpoint=openai_stub.url, model="stub-model", per_category=2)
    con.close()
    status = json.loads(CliRunner().invoke(cli, ["status", "--db", db_path, "--json"]).stdout)
    by_name = {r["name"]: r for r in status["replay_errors"]}
    assert (by_name["Broken"]["errors"], by_name["Broken"]["deterministic"], by_name["Broken"]["answers"]) == (2, 2, 0)
    assert by_name["Support"]["errors"] == 0 and by_name["Support"]["answers"] == 2
    text = CliRunner().invoke(cli, ["status", "--db", db_path]).stdout
    assert "Broken" in text and "2 of 2 calls failed (0 transient, 2 refused)" in text


@pytest.mark.slow
def test_the_embedded_server_answers_json_schema_requests_with_json(con):
    """The embedded server is llama.cpp's own (xllamacpp), which constrains output to a json_schema itself: the
    request goes as logged, nothing is stepped down, and the real model's answer is JSON. (llama-cpp-python's
    server refuses json_schema with a 500; that refusal is replayed from its real error body over HTTP above.)"""
    seed_db(con, categories=[(1, "Order extraction", False, 1, 1)], params={**JSON_SCHEMA_PARAMS, "max_tokens": 48})
    out = run(con, endpoint="embedded", per_category=1, timeout=120)
    assert out["calls_failed"] == 0 and not out["downgrades"]
    row = dicts(con, "select output_text, downgrades_json, error, params_json from replays")[0]
    assert row["error"] is None and row["downgrades_json"] is None
    assert json.loads(row["params_json"])["response_format"]["type"] == "json_schema"
    assert row["output_text"].lstrip().startswith("{")
