import json
import socket

import pytest
from openai_stub import OpenAIStub, Reply

from analyzer.llm_client import LLMError, chat, split_reasoning

USER = [{"role": "user", "content": "Classify this ticket: printer on fire"}]
FAST = {"backoff": 0.01, "timeout": 5}


def test_plain_answer_with_usage(openai_stub):
    result = chat(openai_stub.url, "stub-model", USER, params={"temperature": 0, "max_tokens": 50}, **FAST)
    assert result.text == "Local answer to: Classify this ticket: printer on fire"
    assert result.input_tokens == 6 and result.output_tokens == 9
    assert result.tokens_estimated is False
    assert result.attempts == 1 and result.latency_ms > 0 and result.ttft_ms is None
    sent = openai_stub.requests[0]
    assert sent["temperature"] == 0 and sent["max_tokens"] == 50 and sent["stream"] is False
    assert openai_stub.paths == ["/v1/chat/completions"]


def test_streaming_measures_time_to_first_token_and_reads_usage_chunk(openai_stub):
    result = chat(openai_stub.url, "stub-model", USER, stream=True, **FAST)
    assert result.text == "Local answer to: Classify this ticket: printer on fire"
    assert result.ttft_ms is not None and 0 < result.ttft_ms <= result.latency_ms
    assert result.output_tokens == 9 and not result.tokens_estimated
    assert openai_stub.requests[0]["stream_options"] == {"include_usage": True}


def test_missing_usage_is_estimated_and_marked():
    with OpenAIStub(include_usage=False) as stub:
        plain = chat(stub.url, "stub-model", USER, **FAST)
        streamed = chat(stub.url, "stub-model", USER, stream=True, **FAST)
    assert plain.tokens_estimated and plain.output_tokens > 0 and plain.input_tokens > 0
    assert streamed.tokens_estimated and streamed.output_tokens == 9  # one content chunk per word


def test_retries_500s_with_backoff_then_succeeds(openai_stub):
    openai_stub.fail_next("status", times=2, status=500)
    result = chat(openai_stub.url, "stub-model", USER, **FAST)
    assert result.attempts == 3 and result.text.startswith("Local answer")
    assert len(openai_stub.requests) == 3


def test_gives_up_after_retries_on_persistent_503(openai_stub):
    openai_stub.fail_next("status", times=10, status=503)
    with pytest.raises(LLMError) as err:
        chat(openai_stub.url, "stub-model", USER, retries=2, **FAST)
    assert err.value.kind == "server_error" and err.value.attempts == 3 and not err.value.fatal
    assert len(openai_stub.requests) == 3


def test_malformed_json_and_dropped_connection_are_retried(openai_stub):
    openai_stub.fail_next("malformed")
    openai_stub.fail_next("malformed", body={"object": "chat.completion", "choices": []})
    openai_stub.fail_next("disconnect")
    result = chat(openai_stub.url, "stub-model", USER, **FAST)
    assert result.attempts == 4 and result.text.startswith("Local answer")


def test_rate_limit_honours_retry_after(openai_stub):
    openai_stub.fail_next("rate_limit", retry_after=0)
    assert chat(openai_stub.url, "stub-model", USER, **FAST).attempts == 2


def test_timeout_is_retried_then_reported(openai_stub):
    openai_stub.fail_next("timeout", delay=1.5)
    ok = chat(openai_stub.url, "stub-model", USER, timeout=0.5, backoff=0.01)
    assert ok.attempts == 2
    openai_stub.fail_next("timeout", times=2, delay=1.5)
    with pytest.raises(LLMError) as err:
        chat(openai_stub.url, "stub-model", USER, timeout=0.5, retries=1, backoff=0.01)
    assert err.value.kind == "timeout" and "0.5 s" in str(err.value)


def test_slow_stream_within_deadline_completes_and_beyond_it_times_out(openai_stub):
    openai_stub.fail_next("slow_stream", chunk_delay=0.05)
    slow = chat(openai_stub.url, "stub-model", USER, stream=True, timeout=5, backoff=0.01)
    assert slow.text.endswith("printer on fire") and slow.latency_ms - slow.ttft_ms >= 200
    openai_stub.fail_next("slow_stream", chunk_delay=0.3)
    with pytest.raises(LLMError) as err:
        chat(openai_stub.url, "stub-model", USER, stream=True, timeout=0.8, retries=0)
    assert err.value.kind == "timeout"


def test_missing_model_fails_at_once_with_ollama_pull_hint(openai_stub):
    with pytest.raises(LLMError) as err:
        chat(openai_stub.url, "qwen3.6:35b-a3b", USER, **FAST)
    assert err.value.kind == "model_not_found" and err.value.fatal
    assert "ollama pull qwen3.6:35b-a3b" in str(err.value)
    assert len(openai_stub.requests) == 1  # not retried


def test_wrong_base_url_says_so(openai_stub):
    with pytest.raises(LLMError) as err:
        chat(openai_stub.url.removesuffix("/v1"), "stub-model", USER, **FAST)
    assert err.value.kind == "endpoint_not_found" and "/v1" in str(err.value)


def test_bad_request_is_not_retried(openai_stub):
    openai_stub.fail_next("status", status=400, body={"error": {"message": "context length exceeded"}})
    with pytest.raises(LLMError) as err:
        chat(openai_stub.url, "stub-model", USER, **FAST)
    assert err.value.kind == "bad_request" and "context length exceeded" in str(err.value)
    assert len(openai_stub.requests) == 1


def test_unreachable_endpoint_is_one_clear_sentence():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(LLMError) as err:
        chat(f"http://127.0.0.1:{port}/v1", "m", USER, retries=1, backoff=0.01, timeout=2)
    assert err.value.kind == "unreachable" and f"127.0.0.1:{port}" in str(err.value)
    assert "\n" not in str(err.value)


def test_reasoning_tool_calls_and_extra_fields_are_tolerated(openai_stub):
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    openai_stub.responder = lambda body: Reply(content="done", reasoning="think first", tool_calls=[call],
                                               finish_reason="tool_calls", extra={"x_vendor": {"a": 1}})
    plain = chat(openai_stub.url, "stub-model", USER, **FAST)
    streamed = chat(openai_stub.url, "stub-model", USER, stream=True, **FAST)
    for r in (plain, streamed):
        assert r.text == "done" and r.reasoning.strip() == "think first" and r.finish_reason == "tool_calls"
        assert json.loads(r.tool_calls[0]["function"]["arguments"]) == {"q": "x"}
        assert r.tool_calls[0]["function"]["name"] == "lookup"


def test_inline_think_block_is_split_from_the_answer():
    text, reasoning = split_reasoning("<think>\nplan it\n</think>\n\n{\"a\": 1}", None)
    assert text == '{"a": 1}' and reasoning == "plan it"
    assert split_reasoning("plain", None) == ("plain", None)


def test_chat_works_inside_a_running_event_loop(openai_stub):
    import asyncio

    async def inside():
        return chat(openai_stub.url, "stub-model", USER, **FAST)

    assert asyncio.run(inside()).text.startswith("Local answer")


def test_a_refused_field_is_deterministic_even_as_a_500_and_is_not_retried(openai_stub):
    from openai_stub import SERVER_REFUSALS

    openai_stub.refuse(SERVER_REFUSALS["llama.cpp json_schema"])
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    with pytest.raises(LLMError) as err:
        chat(openai_stub.url, "stub-model", USER, params={"response_format": schema}, **FAST)
    assert err.value.kind == "unsupported_param" and err.value.param == "response_format"
    assert err.value.error_class == "deterministic" and err.value.status == 500 and not err.value.fatal
    assert len(openai_stub.requests) == 1
    # The same server answers JSON mode: only the refused form fails.
    assert chat(openai_stub.url, "stub-model", USER, params={"response_format": {"type": "json_object"}}, **FAST).text


def test_a_500_that_names_no_sent_field_stays_transient(openai_stub):
    openai_stub.fail_next("status", status=500, body={"error": {"message": "slot unavailable, try tools later"}})
    result = chat(openai_stub.url, "stub-model", USER, params={"temperature": 0}, **FAST)
    assert result.attempts == 2  # "tools" was not sent, so the 500 is not about it


@pytest.mark.parametrize("message, param, sent, expected", [
    ("tools param requires --jinja flag", None, {"tools": [1]}, "tools"),
    ("registry.ollama.ai/library/gemma3:4b does not support tools", None, {"tools": [1], "tool_choice": "auto"}, "tools"),
    ('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set', None,
     {"tools": [1], "tool_choice": "auto"}, "tool_choice"),
    ("'response_format.type' must be 'json_schema' or 'text'", None, {"response_format": {"type": "json_object"}}, "response_format"),
    ("[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type')}]", None, {"response_format": {}}, "response_format"),
    ("Unsupported param: frequency_penalty", None, {"frequency_penalty": 1}, "frequency_penalty"),
    ("Unrecognized request argument supplied: seed", None, {"seed": 1}, "seed"),
    ("Invalid value", "response_format.json_schema.schema", {"response_format": {}}, "response_format"),
    ("This model's maximum context length is 4096 tokens", None, {"max_tokens": 10, "tools": [1]}, None),
    ("does not support tools", None, {"temperature": 0}, None),  # not sent: not the reason
])
def test_which_sent_field_an_error_names(message, param, sent, expected):
    from analyzer.llm_client import rejected_param

    assert rejected_param(message, param, {"model": "m", "messages": [], **sent}) == expected
