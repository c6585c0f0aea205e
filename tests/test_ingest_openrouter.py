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


def test_generation_api_objects(con, fixtures, tmp_path):
    """GET /api/v1/generation responses: the provider's native token counts, BYOK upstream cost added."""
    folder = fixtures / "openrouter_generation"
    for name in ("generations.jsonl", "generation_sdk.json"):
        assert detect_format(expand_paths([str(folder / name)])[0]) == "openrouter-generation"
    summary = ingest_paths(con, [str(folder)])
    assert (summary["rows_added"], summary["rows_rejected"]) == (4, 1)
    got = stored_requests(con, COLUMNS + ", user_id")
    sonnet = got["gen-1750000000-Sonnet4aaaa"]
    assert (sonnet["model"], sonnet["provider"]) == ("anthropic/claude-sonnet-4", "openrouter")
    # native counts (1618/101), not OpenRouter's normalised tokens_prompt/tokens_completion (1402/88)
    assert (sonnet["input_tokens"], sonnet["cached_input_tokens"], sonnet["output_tokens"]) == (1618, 1536, 101)
    assert (sonnet["cost_usd"], sonnet["cost_source"], sonnet["duration_ms"], sonnet["status"]) == (0.0051315, "log", 1840, "ok")
    byok = got["gen-1750000060-Byokbbbbbbb"]
    assert abs(byok["cost_usd"] - (0.0000385 + 0.00077)) < 1e-12  # OpenRouter's fee + the provider's BYOK charge
    assert got["gen-1750000120-Errccccccccc"]["status"] == "error"
    o3 = got["gen-1750000240-O3eeeeeeeeee"]  # camelCase, as OpenRouter's SDKs return it; not BYOK, so upstream is inside totalCost
    assert (o3["input_tokens"], o3["output_tokens"], o3["reasoning_tokens"], o3["cost_usd"], o3["user_id"]) == (950, 1050, 640, 0.0093, "user-123")
    assert con.execute("select source_line, reason from rejects").fetchall() == [(4, "no created_at")]
    assert con.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchone() == (4, 4068, 1257)

    # the activity export names the same generation by generation_id: one request, whichever export came first
    activity = tmp_path / "activity.csv"
    activity.write_text("generation_id,created_at,cost_total,tokens_prompt,tokens_completion,tokens_cached,model_permaslug\n"
                        "gen-1750000000-Sonnet4aaaa,2025-06-15 10:00:00.123,0.0051315,1618,101,1536,anthropic/claude-sonnet-4\n")
    again = ingest_paths(con, [str(activity)])
    assert (again["files"][0]["format"], again["rows_added"], again["rows_duplicate"]) == ("openrouter", 0, 1)
