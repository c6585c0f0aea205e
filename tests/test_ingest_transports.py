"""An app's log lines as a container runtime or a log store hands them back (format-neutral wrappers, read before
detection): Kubernetes' CRI node logs (`<time> stdout F <line>`, a long line in `P` pieces), Grafana Loki's `logcli
--output=jsonl` and its query API. Before, each was "not a log format plan recognises"."""

import json

import pytest

from analyzer.db import connect
from analyzer.ingest import ingest_paths

CHAT = "openai/chat_pairs_variants.jsonl"


def app_lines(fixtures, name: str = CHAT) -> list[str]:
    return [line for line in (fixtures / name).read_text().split("\n") if line.strip()]  # not splitlines: \u2028 is no break


def rows_of(path, tmp_path, name: str) -> tuple[list, dict]:
    con = connect(str(tmp_path / f"{name}.duckdb"))
    try:
        summary = ingest_paths(con, [str(path)])
        rows = con.execute("""select * exclude (id, source_file, source_line, ingested_at) from requests
                              order by source_id, prompt_text""").fetchall()
        return rows, summary["files"][0]
    finally:
        con.close()


def cri(lines: list[str], piece: int = 0) -> str:
    """CRI lines; with ``piece``, each line longer than it cut into P pieces of that size before its F piece."""
    out = []
    for number, line in enumerate(lines):
        stamp = f"2026-11-01T10:00:{number % 60:02d}.123456789Z"
        cuts = [line[i:i + piece] for i in range(0, len(line), piece)] if piece else [line]
        out += [f"{stamp} stdout P {cut}" for cut in cuts[:-1]] + [f"{stamp} stdout F {cuts[-1]}"]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("wrapper", ["cri", "cri pieces", "logcli", "loki api"])
def test_wrapped_lines_store_the_rows_the_app_log_stores(fixtures, tmp_path, wrapper):
    lines = app_lines(fixtures)
    path = tmp_path / "wrapped.log"
    if wrapper.startswith("cri"):
        path.write_text(cri(lines, 300 if wrapper == "cri pieces" else 0))
    elif wrapper == "logcli":
        path.write_text("".join(json.dumps({"labels": {"app": "bot"}, "line": line, "timestamp": "2026-11-01T10:00:00Z"}) + "\n"
                                for line in lines))
    else:  # two streams, newest first as Loki returns them by default
        values = [[str(1_790_000_000_000_000_000 + i), line] for i, line in enumerate(lines)]
        path.write_text(json.dumps({"status": "success", "data": {"resultType": "streams", "result": [
            {"stream": {"pod": "a"}, "values": values[::2][::-1]}, {"stream": {"pod": "b"}, "values": values[1::2][::-1]}]}}))
    original, expected = rows_of(fixtures / CHAT, tmp_path, "app")
    wrapped, file = rows_of(path, tmp_path, "wrapped")
    assert (file["format"], file["rows_added"], file["rows_rejected"]) == ("openai", expected["rows_added"], expected["rows_rejected"])
    assert wrapped == original


def test_a_cri_lines_pieces_are_one_line_at_its_first_pieces_number_and_the_runtimes_file_is_removed(fixtures, tmp_path):
    import tempfile
    from pathlib import Path

    lines = app_lines(fixtures)[:3]
    path = tmp_path / "0.log"
    path.write_text(cri(lines, 200))
    before = set(Path(tempfile.gettempdir()).glob("plan-lines-*"))
    con = connect(str(tmp_path / "x.duckdb"))
    ingest_paths(con, [str(path)])
    marks = [line.split(" ", 3)[2] for line in path.read_text().split("\n") if line]
    first_pieces = [n for n, mark in enumerate(marks, start=1) if n == 1 or marks[n - 2] == "F"]
    assert [r[0] for r in con.execute("select source_line from requests order by source_line").fetchall()] == first_pieces
    assert con.execute("select distinct source_file from requests").fetchall() == [(str(path),)]
    assert set(Path(tempfile.gettempdir()).glob("plan-lines-*")) == before  # the lines spooled for the run are gone


def test_a_gateways_log_collected_from_a_node_is_read_as_that_gateway(fixtures, tmp_path):
    path = tmp_path / "kong-0.log"
    path.write_text(cri(app_lines(fixtures, "kong/kong_39_file_log.jsonl")))
    rows, file = rows_of(path, tmp_path, "kong")
    assert (file["format"], file["rows_added"], file["rows_skipped"]) == ("kong", 8, 2)


@pytest.mark.parametrize("shape", ["portal csv", "query api"])
def test_azure_monitors_container_logs_are_read_as_the_containers_lines(fixtures, tmp_path, shape):
    import csv

    lines = app_lines(fixtures)
    columns = ["TimeGenerated [UTC]", "Computer", "ContainerId", "ContainerName", "PodName", "PodNamespace", "LogSource", "LogMessage"]
    rows = [["11/1/2026, 10:00:00.000 AM", "aks-node-1", "c0ffee", "bot", "bot-7d9", "prod", "stdout", line] for line in lines]
    path = tmp_path / "containers.csv"
    if shape == "portal csv":
        with open(path, "w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh).writerows([columns, *rows])
    else:
        path = tmp_path / "containers.json"
        path.write_text(json.dumps({"tables": [{"name": "PrimaryResult", "columns": [{"name": c.split(" ")[0], "type": "string"}
                                                                                    for c in columns], "rows": rows}]}))
    original, expected = rows_of(fixtures / CHAT, tmp_path, "app")
    wrapped, file = rows_of(path, tmp_path, "wrapped")
    assert (file["format"], file["rows_added"]) == ("openai", expected["rows_added"])
    assert wrapped == original


def test_a_progress_bars_carriage_returns_stay_inside_their_line(fixtures, tmp_path):
    lines = app_lines(fixtures)[:4]
    noise = "2026-11-01T10:00:00.5Z stderr F loading 10%\r loading 50%\r loading 100%"
    path = tmp_path / "0.log"
    path.write_text("\n".join(part for line in cri(lines).splitlines() for part in (line, noise)) + "\n")
    con = connect(str(tmp_path / "x.duckdb"))
    summary = ingest_paths(con, [str(path)])["files"][0]
    assert [r[0] for r in con.execute("select source_line from requests order by source_line").fetchall()] == [1, 3, 5, 7]
    assert summary["rows_rejected"] == 4  # each progress line once, at its own number


def test_rows_keep_their_csv_line_numbers_and_a_broken_wrapper_in_a_directory_is_skipped(fixtures, tmp_path):
    import csv

    lines = app_lines(fixtures)[:3]
    with open(tmp_path / "containers.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["TimeGenerated", "ContainerName", "LogMessage"], ["t", "bot", lines[0]],
                                  ["t", "bot", "Traceback (most recent call last):\n  File x\nValueError"],
                                  ["t", "bot", lines[1]], ["t", "bot", lines[2]]])
    (tmp_path / "z_loki.json").write_text('{"status": "success", "data": {"resultType": "streams", "result": [{"stre')
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not a parquet file")
    con = connect(str(tmp_path / "x.duckdb"))
    files = {f["path"].rsplit("/", 1)[-1]: f for f in ingest_paths(con, [str(tmp_path)])["files"]}
    assert files["containers.csv"]["rows_added"] == 3
    assert [r[0] for r in con.execute("select source_line from requests order by 1").fetchall()] == [2, 6, 7]


def test_a_directory_of_node_logs_holds_one_files_lines_on_disk_at_a_time(fixtures, tmp_path, monkeypatch):
    """Every wrapped file's lines were written out before the first was read: a directory of node logs needed its
    whole size free in the temporary directory. Now each file's lines are written while it is read, then removed."""
    import tempfile

    from analyzer.ingest import run

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    logs = tmp_path / "pods"
    logs.mkdir()
    lines = app_lines(fixtures)
    for number in range(3):
        (logs / f"{number}.log").write_text(cri(lines[number * 10:number * 10 + 10]))
    plain = tmp_path / "plain.jsonl"
    plain.write_text("\n".join(lines[:30]) + "\n")
    expected = ingest_paths(connect(str(tmp_path / "plain.duckdb")), [str(plain)])["rows_added"]
    on_disk = []
    read_file = run.read_file

    def watched(reader, parser, src, *args):
        on_disk.append(sorted(p.name for p in spool.iterdir()))
        return read_file(reader, parser, src, *args)

    monkeypatch.setattr(run, "read_file", watched)
    con = connect(str(tmp_path / "x.duckdb"))
    summary = ingest_paths(con, [str(logs)])
    assert sum(f["rows_added"] for f in summary["files"]) == expected > 20
    assert [len(names) for names in on_disk] == [1, 1, 1] and len({n for names in on_disk for n in names}) == 3
    assert list(spool.iterdir()) == []  # nothing left after the run


def test_a_wrapped_file_gone_before_its_turn_is_a_sentence_and_planted_lines_are_never_read(fixtures, tmp_path, monkeypatch):
    """A node log rotated away after the run began (kubelet does) stops the run with a sentence naming it, not a
    traceback; the lines are written again into a new private file, never into the name used for detection, which
    another user could have filled in the meantime."""
    import tempfile

    from analyzer.errors import PlanError
    from analyzer.ingest import run
    from analyzer.ingest.sources import SourceFile
    from analyzer.ingest.transports import lines_written, set_aside, unwrapped

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    lines = app_lines(fixtures)
    path = tmp_path / "0.log"
    path.write_text(cri(lines[:5]))
    inner, _ = unwrapped(SourceFile(path=path, display=str(path), size_bytes=path.stat().st_size))
    detected = inner.path
    set_aside(inner)
    detected.write_text('{"planted": 1}\n')
    with lines_written(inner):
        assert inner.path != detected and "planted" not in inner.path.read_text()
        assert inner.path.read_text().count("\n") == 5
    assert not inner.path.exists() and detected.read_text() == '{"planted": 1}\n'

    logs = tmp_path / "pods"
    logs.mkdir()
    for number in range(2):
        (logs / f"{number}.log").write_text(cri(lines[number * 5:number * 5 + 5]))
    read_file = run.read_file

    def rotating(reader, parser, src, *args):
        result = read_file(reader, parser, src, *args)
        (logs / "1.log").unlink(missing_ok=True)  # rotated away once the first file is read
        return result

    monkeypatch.setattr(run, "read_file", rotating)
    with pytest.raises(PlanError, match=r"1\.log: cannot read \(No such file or directory\); nothing from this file"):
        ingest_paths(connect(str(tmp_path / "x.duckdb")), [str(logs)])
    assert [p.name for p in spool.iterdir()] == [detected.name]  # only the planted file is left
