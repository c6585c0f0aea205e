"""The ingest core: paths, stdin, gzip, BOMs, line numbers, ids, dedupe, rejects, transactions, the CLI contract."""

import gzip
import hashlib
import json
import os

import pytest
from click.testing import CliRunner

import analyzer.ingest.run as ingest_run
import analyzer.ingest.tuning as tuning
from analyzer.cli import cli
from analyzer.db import connect, dicts, scalar
from analyzer.errors import PlanError
from analyzer.ingest import ingest_paths
from analyzer.ingest.formats import FORMATS
from analyzer.ingest.records import Reject, sql_stable_id, stable_id
from analyzer.ingest.sources import SourceFile
from helpers import route_neutral


def completion(i, content="billing", model="gpt-4o-mini-2024-07-18"):
    return {
        "id": f"chatcmpl-core{i}", "object": "chat.completion", "created": 1741000000 + i, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20 + i, "completion_tokens": 3},
    }


def pair_line(i, prompt="Which team handles a double charge?"):
    return json.dumps({"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{prompt} #{i}"}]},
                       "response": completion(i)})


def write_lines(path, lines, newline="\n"):
    path.write_text(newline.join(lines) + newline, encoding="utf-8")
    return path


def test_stable_id_is_the_same_in_python_and_sql(con):
    for key in ["openai|id|chatcmpl-1", "anthropic|batch|my-first-request|msg_01", "ünïcode|id|東京"]:
        assert scalar(con, f"select {sql_stable_id('?')}", [key]) == stable_id(key)
        assert 0 <= stable_id(key) < 2**63


def settle(path):
    """Date a file back, as an export that is no longer written to (such files are mapped, not read)."""
    old = path.stat().st_mtime - 3600
    os.utime(path, (old, old))
    return path


@pytest.mark.parametrize("exported", [False, True], ids=["live-log-read", "export-mapped"])
def test_line_chunks_number_lines_like_lines_does(tmp_path, exported):
    raw = b"\xef\xbb\xbf" + b'{"a": 1}\r\n\n   \n{"b": "caf\xc3\xa9"}\n{"c": "bad \xff byte"}\n{"d": 4}'
    path = tmp_path / "quirks.jsonl"
    path.write_bytes(raw)
    if exported:
        settle(path)
    src = SourceFile(path=path, display=str(path))
    assert src.settled() == exported
    expected = list(src.lines())
    assert [n for n, _ in expected] == [1, 4, 5, 6]
    assert expected[0][1] == '{"a": 1}' and "\ufffd" in expected[2][1]
    for size in (7, 16, 1 << 20):
        got = []
        for chunk in src.line_chunks(size):
            for number, text in zip(chunk.column(0).to_pylist(), chunk.column(1).to_pylist(), strict=True):
                text = text.rstrip("\r\n")
                if text.strip():
                    got.append((number, text))
        assert got == expected


def test_reingesting_adds_nothing_and_keeps_one_reject(con, tmp_path):
    path = write_lines(tmp_path / "calls.jsonl", [pair_line(1), pair_line(2), "{broken", pair_line(3)])
    first = ingest_paths(con, [str(path)])
    assert (first["rows_added"], first["rows_duplicate"], first["rows_rejected"]) == (3, 0, 1)
    again = ingest_paths(con, [str(path), str(tmp_path / "calls.jsonl")])  # the same file twice: read once
    assert (again["rows_added"], again["rows_duplicate"], again["rows_rejected"]) == (0, 3, 1)
    assert len(again["files"]) == 1
    assert scalar(con, "select count(*) from requests") == 3
    assert scalar(con, "select count(*) from rejects") == 1
    reject = dicts(con, "select * from rejects")[0]
    assert (reject["source_file"], reject["source_line"]) == (str(path), 3)
    assert reject["reason"].startswith("not valid JSON") and reject["excerpt"] == "{broken"


def test_a_call_seen_again_with_more_detail_fills_in_the_stored_row(con, tmp_path):
    bare = write_lines(tmp_path / "bare.jsonl", [json.dumps(completion(7))])
    ingest_paths(con, [str(bare)])
    assert scalar(con, "select prompt_text from requests") is None
    pairs = write_lines(tmp_path / "pairs.jsonl", [pair_line(7)])
    summary = ingest_paths(con, [str(pairs)])
    assert summary["rows_added"] == 0 and summary["rows_duplicate"] == 1
    row = dicts(con, "select * from requests")[0]
    assert row["prompt_text"] == "Which team handles a double charge? #7"
    assert row["source_file"] == str(bare)  # the stored row keeps where it was first seen


@pytest.mark.parametrize("probed", [True, False])
def test_many_chunks_and_stage_flushes_give_the_same_rows(tmp_path, monkeypatch, probed):
    # probed: the overlapping file's first lines are seen to be stored (it is read in chunks); else its stored lines
    # are left by the whole-file statement and judged by the careful way.
    monkeypatch.setattr(tuning, "PROBE_MIN_BYTES", 0 if probed else 1 << 30)
    lines = []
    for i in range(400):
        lines.append(pair_line(i))
        if i % 50 == 0:
            lines.append("{not json")
        if i % 70 == 0:
            lines.append(pair_line(i))  # a duplicate a few lines later
        if i % 90 == 0:
            lines.append(json.dumps({"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [{"type": "text", "text": f"list {i}"}]}]},
                                     "response": completion(10_000 + i)}))
    path = write_lines(tmp_path / "many.jsonl", lines)
    monkeypatch.setattr(tuning, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(tuning, "STAGE_ROWS", 7)
    monkeypatch.setattr(tuning, "BATCH_ROWS", 3)
    monkeypatch.setattr(tuning, "FEW_LINES", 0)  # the lines a chunk's first statement leaves go through SQL again
    # Then a file that repeats the second half and adds new lines: chunks of mostly stored ids.
    overlap = write_lines(tmp_path / "overlap.jsonl", lines[len(lines) // 2:] + [pair_line(i) for i in range(500, 560)])
    results = {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"{fast}.duckdb"))
        summary = route_neutral(ingest_paths(con, [str(path)], fast=fast))
        again = route_neutral(ingest_paths(con, [str(overlap)], fast=fast))
        results[fast] = (summary, again, dicts(con, "select * exclude (ingested_at) from requests order by id"),
                         dicts(con, "select source_line, reason from rejects order by source_line"))
        con.close()
    assert results[True] == results[False]
    summary, again = results[True][:2]
    assert summary["rows_added"] == 405 and summary["rows_rejected"] == 8 and summary["rows_duplicate"] == 6
    assert again["rows_added"] == 60 and again["rows_duplicate"] == 206 and again["rows_rejected"] == 4


def test_calls_with_long_conversations_are_read_within_duckdbs_memory(tmp_path, monkeypatch):
    # An agent's calls carry conversations of hundreds of KB: rows are handed over, staged and committed by their
    # bytes too, not only by their number (before, 61 such rows went to DuckDB in one batch: out of its memory).
    lines = [pair_line(0)] + [pair_line(i, prompt="Summarise this log: " + f"line {i} of the log " * 20_000) for i in range(1, 61)]
    path = write_lines(tmp_path / "agent.jsonl", lines)
    monkeypatch.setattr(tuning, "MEMORY_LIMIT", 64 << 20)
    for name in ("BATCH_BYTES", "STAGE_BYTES", "COMMIT_BYTES"):
        monkeypatch.setattr(tuning, name, 2 << 20)
    con = connect(str(tmp_path / "agent.duckdb"))
    summary = ingest_paths(con, [str(path)], fast=False)
    assert (summary["rows_added"], summary["rows_rejected"]) == (61, 0)
    assert scalar(con, "select count(*) from requests where length(prompt_text) > 300000") == 60


def test_a_log_of_long_conversations_takes_the_sql_route_chunk_by_chunk_within_memory(tmp_path, monkeypatch):
    # One statement over the whole file held every row until it ended: a 1.2 GB log of 400 KB conversations ran
    # DuckDB out of memory, and the commits between chunks did too until a checkpoint wrote the texts out. Here at
    # a smaller scale: 240 lines of 100 KB under a 128 MB limit.
    lines = [pair_line(i, prompt=f"Summarise log {i}: " + "line of the log " * 6_400) for i in range(240)]
    path = write_lines(tmp_path / "agent.jsonl", lines)
    monkeypatch.setattr(tuning, "MEMORY_LIMIT", 128 << 20)
    monkeypatch.setattr(tuning, "CHUNK_BYTES", 4 << 20)
    monkeypatch.setattr(tuning, "COMMIT_BYTES", 8 << 20)
    con = connect(str(tmp_path / "agent.duckdb"))
    file = ingest_paths(con, [str(path)])["files"][0]
    assert (file["rows_added"], file["rows_rejected"], file["lines_to_python"]) == (240, 0, 0)
    assert scalar(con, "select count(*) from requests where length(prompt_text) > 100000") == 240


def test_a_first_line_longer_than_the_sniffed_head_is_still_recognised(con, tmp_path):
    # The first call of a RAG app's log carries a 200 KB prompt: the file was "not a log format plan recognises".
    lines = [pair_line(1, prompt="Answer from these documents: " + "clause " * 30_000), pair_line(2), pair_line(3)]
    file = ingest_paths(con, [str(write_lines(tmp_path / "rag.jsonl", lines))])["files"][0]
    assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("openai", 3, 0)
    # A JSON document written on one line, longer than the head, keeps being read as one document.
    page = tmp_path / "completions.json"
    page.write_text(json.dumps([completion(10 + i, content="x" * 9_000) for i in range(12)]))
    file = ingest_paths(con, [str(page)])["files"][0]
    assert (file["rows_added"], file["rows_rejected"]) == (12, 0)


@pytest.mark.user_routes
def test_small_files_take_the_python_route_and_store_the_same_rows(tmp_path, monkeypatch, fixtures):
    # Planning the SQL route's statements cost about 0.15 s a file, more than parsing a small file: 200 six-line
    # logs took 44 s, 19 s by Python. Files under tuning.SQL_MIN_BYTES go to Python, with the same rows.
    paths = [str(p) for p in sorted((fixtures / "openai").glob("*.jsonl"))] + [str(write_lines(tmp_path / "pairs.jsonl", [pair_line(i) for i in range(50)]))]
    stored = {}
    for threshold in (0, tuning.SQL_MIN_BYTES):
        monkeypatch.setattr(tuning, "SQL_MIN_BYTES", threshold)
        con = connect(str(tmp_path / f"{threshold}.duckdb"))
        summary = ingest_paths(con, paths)
        routes = {f["path"]: f["lines_to_python"] for f in summary["files"]}
        stored[threshold] = (route_neutral(summary), dicts(con, "select * exclude (ingested_at) from requests order by id"))
        con.close()
        assert (routes[paths[-1]] == 0) if threshold == 0 else (routes[paths[-1]] is None)  # None: no SQL route taken
    assert stored[0] == stored[tuning.SQL_MIN_BYTES]


def on_both_routes(tmp_path, path):
    """(summary, requests, rejects) from the SQL fast route and from the Python route, for comparing."""
    stored = {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"{fast}.duckdb"))
        summary = route_neutral(ingest_paths(con, [str(path)], fast=fast))
        stored[fast] = (summary, dicts(con, "select * exclude (ingested_at) from requests order by id"),
                        dicts(con, "select source_line, reason, excerpt from rejects order by source_line"))
        con.close()
    return stored


def _quirky_lines():
    """Lines that the whole-file statement leaves to Python, among many it takes; no id repeats."""
    lines = [pair_line(i).encode() for i in range(300)]
    lines[10] = b"{not json"
    lines[20] = json.dumps({"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [{"type": "text", "text": "list"}]}]},
                            "response": completion(20)}).encode()
    lines[30] = pair_line(30, prompt="a MARK byte").encode().replace(b"MARK", b"\xff")  # invalid UTF-8 in a string
    lines[40] = b""
    lines[50] = pair_line(50, prompt="12345").encode().replace(b"12345 #50", b"12345")  # text that looks like a number
    lines[60] = lines[60] + b"\r"
    # Models first seen late in the file; deepseek's prices change by time of day, so each request is priced alone.
    for number, model in ((200, "gpt-4o-2024-08-06"), (250, "acme-llm-9"), (260, "deepseek-chat"), (261, "deepseek-chat")):
        lines[number] = json.dumps({"request": {"model": model, "messages": [{"role": "user", "content": f"late {number}"}]},
                                    "response": completion(number, model=model)}).encode()
    return b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("few_lines, exported, probed", [(200, False, True), (0, True, True), (200, False, False)])
def test_a_new_file_read_in_one_statement_stores_what_the_python_route_stores(tmp_path, monkeypatch, few_lines, exported, probed):
    path = tmp_path / "quirks.jsonl"
    path.write_bytes(_quirky_lines())
    if exported:
        settle(path)
    monkeypatch.setattr(tuning, "FEW_LINES", few_lines)  # 0: the lines left over go through SQL again
    monkeypatch.setattr(tuning, "PROBE_LINES", 5)  # models after the first lines are priced after the statement
    # Not probed (a small file): every model is learned after the statement, and its rows priced then.
    monkeypatch.setattr(tuning, "PROBE_MIN_BYTES", 0 if probed else 1 << 30)
    stored = on_both_routes(tmp_path, path)
    assert stored[True] == stored[False]
    summary, requests, rejects = stored[True]
    assert (summary["rows_added"], summary["rows_rejected"]) == (298, 1)
    assert [r["source_line"] for r in rejects] == [11]
    by_line = {r["source_line"]: r for r in requests}
    assert "\ufffd" in by_line[31]["prompt_text"] and by_line[51]["prompt_text"] == "12345"
    assert by_line[21]["prompt_text"] == "list" and by_line[1]["source_line"] == 1
    assert by_line[201]["cost_source"] == "catalog" and by_line[201]["cost_usd"] > by_line[200]["cost_usd"]
    assert by_line[251]["cost_source"] == "unknown" and summary["unknown_models"] == ["acme-llm-9"]
    assert by_line[261]["cost_source"] == by_line[262]["cost_source"] == "catalog" and by_line[262]["cost_usd"] > 0


def test_a_file_that_repeats_an_id_is_read_again_in_chunks_with_the_right_checksum_and_progress(tmp_path, monkeypatch):
    lines = [pair_line(i) for i in range(200)] + [pair_line(3, prompt="the same call logged again")]
    path = settle(write_lines(tmp_path / "again.jsonl", lines))
    seen = []

    class Bar:
        def update(self, n):
            seen.append(n)

        def reset(self):
            seen.clear()

        def close(self):
            pass

    monkeypatch.setattr(ingest_run.Bars, "for_file", lambda self, src: Bar())
    stored = {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"{fast}.duckdb"))
        seen.clear()
        summary = route_neutral(ingest_paths(con, [str(path)], fast=fast, progress=True))
        assert sum(seen) == path.stat().st_size
        assert scalar(con, "select sha256 from ingested_files") == hashlib.sha256(path.read_bytes()).hexdigest()
        assert scalar(con, "select count(*) - count(distinct id) from requests") == 0  # no call stored twice
        stored[fast] = (summary, dicts(con, "select * exclude (ingested_at) from requests order by id"))
        con.close()
    assert stored[True] == stored[False]
    # The repeat states another prompt: a conflict, not a duplicate; the first line with an id wins.
    assert (stored[True][0]["rows_added"], stored[True][0]["rows_duplicate"], stored[True][0]["rows_conflicting"]) == (200, 0, 1)
    assert "the same call" not in str(stored[True][1])


@pytest.mark.parametrize("stage_rows", [250_000, 1])
def test_within_one_file_the_first_line_wins_outright_on_both_routes(tmp_path, monkeypatch, stage_rows):
    """A later line with the same id neither replaces nor fills in the first, wherever flushes fall."""
    monkeypatch.setattr(tuning, "STAGE_ROWS", stage_rows)
    later = {"request": {"model": "gpt-4o-mini", "user": "u-later",
                         "messages": [{"role": "user", "content": [{"type": "text", "text": "same call, as a list"}]}]},
             "response": completion(1)}
    path = write_lines(tmp_path / "twice.jsonl", [pair_line(1), pair_line(2), json.dumps(later)])
    stored = on_both_routes(tmp_path, path)
    assert stored[True] == stored[False]
    assert (stored[True][0]["rows_added"], stored[True][0]["rows_conflicting"]) == (2, 1)  # another prompt: a conflict
    first = next(r for r in stored[True][1] if r["source_line"] == 1)
    assert first["user_id"] is None and first["prompt_text"].startswith("Which team")


def test_the_first_lines_may_lack_a_model_or_usage(tmp_path):
    """The models priced up front come from lines with usage, as on the Python route (and nothing crashes)."""
    no_model = completion(1)
    del no_model["model"]
    no_usage = completion(2, model="acme-preview")
    del no_usage["usage"]
    lines = [json.dumps(no_model), json.dumps(no_usage)] + [json.dumps(completion(i)) for i in range(3, 40)]
    path = write_lines(tmp_path / "bare.jsonl", lines)
    stored = on_both_routes(tmp_path, path)
    assert stored[True] == stored[False]
    assert stored[True][0]["rows_added"] == 39 and stored[True][0]["unknown_models"] == []


def test_a_repeated_key_keeps_its_first_value_on_both_routes(tmp_path):
    """RFC 8259 leaves repeated names undefined; DuckDB keeps the first value, so the Python route does too."""
    lines = []
    for i in range(6):
        record = json.loads(pair_line(i))
        response = json.dumps(record["response"])[:-1] + ', "model": "gpt-4o"}'
        request = json.dumps(record["request"])[:-1] + ', "user": "first-user", "user": "someone-else"}'
        lines.append('{"request": %s, "response": %s}' % (request, response))
    path = write_lines(tmp_path / "repeated.jsonl", lines)
    stored = {}
    for fast in (True, False):
        con = connect(str(tmp_path / f"{fast}.duckdb"))
        assert ingest_paths(con, [str(path)], fast=fast)["rows_added"] == 6
        stored[fast] = dicts(con, "select * exclude (ingested_at) from requests order by id")
        con.close()
    assert stored[True] == stored[False]
    assert {r["model"] for r in stored[True]} == {json.loads(pair_line(0))["response"]["model"]}
    assert {r["user_id"] for r in stored[True]} == {"first-user"}


def test_parsers_output_is_checked_and_bad_records_become_rejects(con, tmp_path, monkeypatch):
    class Odd:
        name, order = "odd", 50

        def sniff(self, src):
            return 0

        def parse(self, src, ctx):
            yield {"_line": 1, "provider": "openai", "model": "gpt-4o-mini", "input_tokens": "12", "output_tokens": 3.0, "prompt_text": "ok"}
            yield {"_line": 2, "provider": "openai", "model": "gpt-4o-mini", "input_tokens": "twelve"}
            yield {"_line": 3, "provider": "openai", "model": "gpt-4o-mini", "tags_json": {"x": float("nan")}}
            yield {"_line": 4, "surprise": 1}
            yield Reject(5, "the format said no", "raw text")

    monkeypatch.setitem(FORMATS, "odd", Odd())
    path = write_lines(tmp_path / "x.log", ["a", "b", "c", "d", "e"])
    summary = ingest_paths(con, [str(path)], fmt="odd")
    assert summary["rows_added"] == 1 and summary["rows_rejected"] == 4
    row = dicts(con, "select * from requests")[0]
    assert (row["input_tokens"], row["output_tokens"], row["is_batch"]) == (12, 3, False)
    reasons = [r[0] for r in con.execute("select reason from rejects order by source_line").fetchall()]
    assert "'twelve' is not a number" in reasons[0]
    assert "NaN" in reasons[1]
    assert "unknown fields ['surprise']" in reasons[2]
    assert reasons[3] == "the format said no"


def test_gzip_bom_and_a_provenance_record(con, tmp_path, monkeypatch):
    body = ("\ufeff" + "\n".join(pair_line(i) for i in range(3)) + "\n").encode("utf-8")
    path = tmp_path / "calls.jsonl.gz"
    path.write_bytes(gzip.compress(body))
    seen = []

    class Bar:
        def update(self, n):
            seen.append(n)

        def close(self):
            seen.append("closed")

    monkeypatch.setattr(ingest_run.Bars, "for_file", lambda self, src: Bar())
    summary = ingest_paths(con, [str(path)], progress=True)
    assert summary["rows_added"] == 3 and summary["rows_rejected"] == 0
    assert sum(n for n in seen if n != "closed") == path.stat().st_size and seen[-1] == "closed"
    assert scalar(con, "select min(source_line) from requests") == 1
    files = dicts(con, "select * from ingested_files")
    assert files[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert files[0]["source_format"] == "openai" and files[0]["rows_added"] == 3
    run = dicts(con, "select * from stage_runs where stage = 'ingest'")
    assert json.loads(run[0]["summary_json"])["rows_added"] == 3


def test_a_log_cut_short_while_it_is_read_is_a_clear_error_not_a_crash(con, tmp_path, monkeypatch):
    """logrotate's copytruncate empties a live log in place; plan must say so, not die or store half silently."""
    path = write_lines(tmp_path / "live.jsonl", [pair_line(i) for i in range(3000)] + ["{broken"])
    monkeypatch.setattr(tuning, "CHUNK_BYTES", 64 << 10)

    class RotatingBar:
        def update(self, n):
            os.truncate(path, 4096)

        def close(self):
            pass

    monkeypatch.setattr(ingest_run.Bars, "for_file", lambda self, src: RotatingBar())
    with pytest.raises(PlanError, match="changed while it was being read") as failed:
        ingest_paths(con, [str(path)], progress=True)
    # The lines read in one statement before the change are stored and counted in the message (a re-run adds the rest).
    stored = scalar(con, "select count(*) from requests")
    assert f"after {stored:,} of its requests were stored" in str(failed.value) if stored else "nothing from this file" in str(failed.value)


def test_a_named_pipe_is_read_like_stdin(con, tmp_path):
    """`plan ingest <(zcat calls.jsonl.gz)` hands plan a pipe, which can be read only once."""
    import threading

    pipe = tmp_path / "calls.pipe"
    os.mkfifo(pipe)
    body = ("\n".join(pair_line(i) for i in range(5)) + "\n{broken\n").encode()

    def feed():
        with open(pipe, "wb") as fh:
            fh.write(body)

    writer = threading.Thread(target=feed)
    writer.start()
    summary = ingest_paths(con, [str(pipe)])
    writer.join(5)
    assert (summary["rows_added"], summary["rows_rejected"]) == (5, 1)
    assert summary["files"][0]["path"] == str(pipe)
    assert scalar(con, "select source_line from rejects") == 6


def test_a_truncated_gzip_keeps_its_complete_records_rejects_the_cut_one_and_says_so(con, tmp_path):
    good = write_lines(tmp_path / "a_good.jsonl", [pair_line(1)])
    body = gzip.compress(("\n".join(pair_line(i) for i in range(100, 3000)) + "\n").encode(), compresslevel=1)
    bad = tmp_path / "b_cut.jsonl.gz"
    bad.write_bytes(body[: len(body) // 2])
    warnings = []
    summary = ingest_paths(con, [str(good), str(bad)], warn=warnings.append)
    stored = scalar(con, "select count(*) from requests where source_file = ?", [str(bad)])
    assert 0 < stored < 2900
    assert scalar(con, "select count(*) from requests where source_file = ?", [str(good)]) == 1
    # The line cut in the middle is the one rejected, right after the last stored line.
    rejected = dicts(con, "select source_line, reason from rejects where source_file = ?", [str(bad)])
    assert [r["source_line"] for r in rejected] == [stored + 1]
    assert summary["rows_added"] == stored + 1 and summary["rows_rejected"] == 1
    assert any("b_cut.jsonl.gz" in w and "cut short" in w for w in warnings)


def test_unknown_files_in_a_directory_are_skipped_with_a_warning(con, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write_lines(folder / "calls.jsonl", [pair_line(1)])
    (folder / "notes.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (folder / "empty.jsonl").write_text("")
    (folder / ".hidden.jsonl").write_text(pair_line(2))
    warnings = []
    summary = ingest_paths(con, [str(folder)], warn=warnings.append)
    formats = {f["path"].rsplit("/", 1)[1]: f["format"] for f in summary["files"]}
    assert formats == {"calls.jsonl": "openai", "notes.bin": "unknown", "empty.jsonl": "empty"}
    assert warnings == [f"{folder / 'notes.bin'}: skipped, not a log format plan recognises."]
    assert summary["rows_added"] == 1


def test_an_unknown_file_named_on_its_own_is_an_error(con, tmp_path):
    odd = tmp_path / "notes.bin"
    odd.write_bytes(b"\x00\x01\x02 not a log")
    with pytest.raises(PlanError, match="notes.bin: not a log format plan recognises. Pass --format NAME"):
        ingest_paths(con, [str(odd)])
    with pytest.raises(PlanError, match="no such file or directory"):
        ingest_paths(con, [str(tmp_path / "missing.jsonl")])
    with pytest.raises(PlanError, match="Unknown format 'nope'"):
        ingest_paths(con, [str(odd)], fmt="nope")
    with pytest.raises(PlanError, match="No files match"):
        ingest_paths(con, [str(tmp_path / "*.none")])


JSON_KEYS = {"rows_added", "rows_duplicate", "rows_conflicting", "rows_rejected", "rows_skipped", "rows_filled_in", "files", "unknown_models",
             "conflicts",
             "since", "files_skipped_unchanged", "files_skipped_since", "objects",  # these four: ingest/remote.py
             "s3_bodies"}  # Bedrock bodies beside the log (ingest/s3_bodies.py)
FILE_KEYS = {"path", "format", "rows_added", "rows_duplicate", "rows_conflicting", "rows_rejected", "rows_skipped", "rows_filled_in",
             "input_tokens", "output_tokens", "spend_usd", "rows_unpriced", "rows_cost_logged", "models", "joined_into", "note",
             "sample_rates", "spend_scaled_usd", "s3_bodies", "lines_to_python", "rows_without_usage"}


def test_cli_json_contract_and_stdin(tmp_path, db_path, fixtures):
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", "--db", db_path, "--json", str(fixtures / "openai" / "chat_pairs.jsonl")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == JSON_KEYS
    assert all(set(f) == FILE_KEYS for f in summary["files"])
    assert summary["unknown_models"] == ["acme-finetune-v3"]
    stdin = "\n".join(pair_line(i, "from stdin") for i in range(4)) + "\n"
    result = runner.invoke(cli, ["ingest", "--db", db_path, "--json", "-"], input=stdin.encode())
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [{k: f[k] for k in ("path", "format", "rows_added", "rows_rejected", "input_tokens", "output_tokens", "models")}
            for f in summary["files"]] == [{"path": "<stdin>", "format": "openai", "rows_added": 4, "rows_rejected": 0,
                                            "input_tokens": 20 + 21 + 22 + 23, "output_tokens": 12,
                                            "models": {"gpt-4o-mini-2024-07-18": 4}}]
    again = json.loads(runner.invoke(cli, ["ingest", "--db", db_path, "--json", "-"], input=stdin.encode()).stdout)
    assert again["rows_added"] == 0 and again["rows_duplicate"] == 4
    assert not list(tmp_path.glob("plan-stdin-*"))


def test_cli_errors_are_one_sentence_without_traceback(tmp_path, db_path):
    odd = tmp_path / "notes.bin"
    odd.write_bytes(b"\x00\x01 garbage")
    result = CliRunner().invoke(cli, ["ingest", "--db", db_path, str(odd)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("Error: ") and result.output.count("\n") == 1
    assert "not a log format plan recognises" in result.output


def test_cli_prices_from_config(tmp_path, db_path, fixtures):
    config = tmp_path / "plan.toml"
    config.write_text('[prices."acme-finetune-v3"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n')
    result = CliRunner().invoke(cli, ["ingest", "--db", db_path, "--config", str(config), "--json", str(fixtures / "openai" / "chat_pairs.jsonl")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["unknown_models"] == []
    con = connect(db_path, read_only=True)
    cost = scalar(con, "select cost_usd from requests where model = 'acme-finetune-v3'")
    con.close()
    assert cost == pytest.approx(12 * 1e-6 + 1 * 2e-6)


def test_each_run_prices_with_its_own_plan_toml(con, tmp_path):
    first = write_lines(tmp_path / "a.jsonl", [json.dumps(completion(1, model="acme-x"))])
    second = write_lines(tmp_path / "b.jsonl", [json.dumps(completion(2, model="acme-x"))])
    ingest_paths(con, [str(first)], config={"prices": {"acme-x": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}}})
    ingest_paths(con, [str(second)], config={"prices": {"acme-x": {"input_per_mtok": 2.0, "output_per_mtok": 2.0}}})
    costs = [r[0] for r in con.execute("select cost_usd from requests order by source_id").fetchall()]
    assert costs == pytest.approx([(21 + 3) * 1e-6, (22 + 3) * 2e-6])
    third = write_lines(tmp_path / "c.jsonl", [json.dumps(completion(3, model="acme-x"))])
    summary = ingest_paths(con, [str(third)])
    assert summary["unknown_models"] == ["acme-x"]
