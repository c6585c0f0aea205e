"""Every command has help with an example, and `plan --help` stays instant (no heavy imports)."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from analyzer.cli import SUBCOMMANDS, cli


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "example" in result.output.lower(), f"plan {name} --help shows no example"


def test_top_level_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from analyzer.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'sklearn', 'matplotlib', 'llama_cpp') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"plan --help imported {out}"


def test_library_errors_are_one_sentence_without_traceback(tmp_path):
    result = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "plan ingest" in result.output
