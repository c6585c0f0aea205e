import csv
import json

from click.testing import CliRunner

from analyzer.ingest import detect_format, ingest_paths
from analyzer.ingest.sources import expand_paths
from helpers import stored_requests

COLUMNS = "source_id, model, provider, prompt_text, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, cost_usd, cost_source, duration_ms, status, tags_json"


def test_activity_csv_usage_and_cost(con, fixtures):
    path = fixtures / "openrouter" / "activity.csv"
    assert detect_format(expand_paths([str(path)])[0]) == "openrouter"
    summary = ingest_paths(con, [str(path)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (4, 2)
    got = stored_requests(con, COLUMNS)
    haiku = got["gen-1746259200-AbCdEfGh12345678"]
    assert haiku["model"] == "anthropic/claude-3.5-haiku-20241022" and haiku["provider"] == "openrouter"
    assert haiku["prompt_text"] is None  # the export carries no text
    assert (haiku["input_tokens"], haiku["cached_input_tokens"], haiku["output_tokens"]) == (10389, 4096, 137)
    assert (haiku["cost_usd"], haiku["cost_source"], haiku["duration_ms"]) == (0.00341, "log", 2210)
    byok = got["gen-1746259260-IjKlMnOp23456789"]
    assert abs(byok["cost_usd"] - (0.000012 + 0.00024)) < 1e-12  # OpenRouter fee + upstream BYOK charge
    assert byok["reasoning_tokens"] == 64
    assert got["gen-1746259320-QrStUvWx34567890"]["status"] == "cancelled"
    assert got["gen-1746259500-OpQrStUv67890123"]["status"] == "error"
    reasons = dict(con.execute("select source_line, reason from rejects").fetchall())
    assert "cost_total" in reasons[5] and "created_at" in reasons[6]


def test_columns_are_read_by_name_not_position(con, fixtures, tmp_path):
    with open(fixtures / "openrouter" / "activity.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    shuffled = tmp_path / "openrouter_activity_2025-05-03.csv"
    names = list(reversed(list(table[0]))) + ["some_future_column"]
    with open(shuffled, "w", newline="") as fh:
        writer = csv.DictWriter(fh, names)
        writer.writeheader()
        for row in table:
            writer.writerow({**row, "some_future_column": "x"})
    summary = ingest_paths(con, [str(shuffled)])
    assert summary["files"][0]["format"] == "openrouter"
    assert (summary["rows_added"], summary["rows_rejected"]) == (4, 2)
    assert stored_requests(con, COLUMNS)["gen-1746259200-AbCdEfGh12345678"]["input_tokens"] == 10389
    again = ingest_paths(con, [str(fixtures / "openrouter" / "activity.csv")])
    assert again["rows_added"] == 0 and again["rows_duplicate"] == 4


def test_cli_reads_it_without_format_flag(db_path, fixtures):
    from analyzer.cli import cli

    result = CliRunner().invoke(cli, ["ingest", str(fixtures / "openrouter"), "--db", db_path, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [f["format"] for f in summary["files"]] == ["openrouter"]
    assert summary["rows_added"] == 4
