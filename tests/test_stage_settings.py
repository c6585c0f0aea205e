"""Each stage's settings are resolved once, flag > environment > plan.toml > default, and a choice that must be made
on the command line each time (writing unredacted text) is never taken from plan.toml."""

import pytest

from analyzer.errors import PlanError
from analyzer.privacy import PrivacySettings
from analyzer.report import ReportSettings
from analyzer.review import ReviewSettings
from analyzer.serve import ServeSettings


def test_a_flag_beats_plan_toml_even_when_it_is_zero():
    config = {"privacy": {"threshold": 0.2, "scan_per_category": 500}}
    assert PrivacySettings.resolve(config).threshold == 0.2
    assert PrivacySettings.resolve(config, threshold=0.0).threshold == 0.0
    assert PrivacySettings.resolve(config, scan_per_category=0).scan_per_category == 0
    assert PrivacySettings.resolve({}).scan_per_category == 2000


def test_out_of_range_values_are_refused_with_where_they_came_from():
    with pytest.raises(PlanError, match="plan.toml privacy.threshold"):
        PrivacySettings.resolve({"privacy": {"threshold": 5}})
    with pytest.raises(PlanError, match="--port"):
        ServeSettings.resolve({}, port=70_000)


def test_unredacted_output_is_never_configured():
    config = {"report": {"redact": False, "run_stages": False}, "review": {"redact": False}}
    assert ReportSettings.resolve(config).redact is True
    assert ReportSettings.resolve(config).run_stages is True
    assert ReviewSettings.resolve(config).redact is True
    assert ReportSettings.resolve(config, redact=False).redact is False


def test_report_settings_carry_the_stages_it_runs_resolved_from_the_same_file(monkeypatch):
    monkeypatch.delenv("PLAN_JUDGE_ENDPOINT", raising=False)
    config = {"categorize": {"top": 7}, "judge": {"margin": 0.05, "endpoint": "http://127.0.0.1:9/v1"},
              "privacy": {"threshold": 0.1}, "cost": {"hardware": "mac-studio-128gb"}}
    settings = ReportSettings.resolve(config, hardware="desktop-24gb")
    assert settings.categorize.top == 7 and settings.judge.margin == 0.05
    assert settings.judge.judge_endpoint == "http://127.0.0.1:9/v1"
    assert settings.privacy.threshold == 0.1
    assert settings.cost.hardware == "desktop-24gb"  # --hardware beats [cost] hardware
    assert ReportSettings.resolve(config).cost.hardware == "mac-studio-128gb"


def test_serve_reads_plan_toml_under_its_flags():
    config = {"serve": {"port": 8081, "ctx": 4096, "gguf": "/models/a.gguf"}}
    settings = ServeSettings.resolve(config, ctx=16384)
    assert (settings.port, settings.ctx, settings.gguf) == (8081, 16384, "/models/a.gguf")
    assert ServeSettings.resolve(config, port=0).port == 0  # 0 asks for a free port; it is not "not given"
