"""Hardware profiles: the built-in set, user profiles from plan.toml, and throughput measured by replay."""

from datetime import datetime

import pytest

from analyzer.errors import PlanError
from analyzer.hardware import (
    BUILTIN_PROFILES,
    apply_measurement,
    load_profiles,
    measured_throughput,
    resolve_name,
)


def test_builtin_profiles_cover_the_common_setups_with_sourced_figures():
    assert set(BUILTIN_PROFILES) == {"desktop-24gb", "desktop-32gb", "mac-studio-128gb", "gb10-128gb", "existing"}
    for p in BUILTIN_PROFILES.values():
        assert p.output_tokens_per_s > 0 and p.prompt_tokens_per_s > p.output_tokens_per_s
        assert p.load_watts > p.idle_watts >= 0
        assert p.useful_life_months >= 24
        assert "tok/s" in p.basis, f"{p.name} must say where its speed comes from"
    assert BUILTIN_PROFILES["existing"].price_usd == 0 and BUILTIN_PROFILES["existing"].max_boxes == 1
    assert all(p.price_usd > 1000 for n, p in BUILTIN_PROFILES.items() if n != "existing")
    # the discrete GPUs are the fast ones; the unified-memory boxes sip power
    assert BUILTIN_PROFILES["desktop-32gb"].output_tokens_per_s > BUILTIN_PROFILES["desktop-24gb"].output_tokens_per_s
    assert BUILTIN_PROFILES["mac-studio-128gb"].idle_watts < BUILTIN_PROFILES["desktop-24gb"].idle_watts


def test_user_profiles_are_added_and_builtins_overridden_key_by_key():
    config = {
        "hardware": {
            "office-tower": {"price_usd": 2400, "load_watts": 650, "idle_watts": 90, "output_tokens_per_s": 140, "description": "Dual 3090"},
            "desktop-24gb": {"price_usd": 1500},
        }
    }
    profiles = load_profiles(config)
    tower = profiles["office-tower"]
    assert (tower.price_usd, tower.load_watts, tower.output_tokens_per_s, tower.description) == (2400, 650, 140, "Dual 3090")
    assert tower.prompt_tokens_per_s == 20 * 140 and tower.useful_life_months == 48 and not tower.builtin
    desk = profiles["desktop-24gb"]
    assert desk.price_usd == 1500 and desk.output_tokens_per_s == BUILTIN_PROFILES["desktop-24gb"].output_tokens_per_s
    assert list(profiles)[:5] == list(BUILTIN_PROFILES)


@pytest.mark.parametrize(
    "table, message",
    [
        ({"box": {"price_usd": "cheap", "load_watts": 1, "output_tokens_per_s": 1}}, "must be a number"),
        ({"box": {"price_usd": -1, "load_watts": 1, "output_tokens_per_s": 1}}, "cannot be negative"),
        ({"box": {"price_usd": 100, "load_watts": 1, "output_tokens_per_s": 0}}, "above zero"),
        ({"box": {"price_usd": 100}}, "needs load_watts, output_tokens_per_s"),
        ({"box": {"price_usd": 100, "load_watts": 1, "output_tokens_per_s": 5, "tokens": 9}}, "unknown keys"),
        ({"box": 3000}, "each profile is a table"),
    ],
)
def test_bad_profiles_get_a_sentence_naming_the_key(table, message):
    with pytest.raises(PlanError, match=message):
        load_profiles({"hardware": table})


def test_profile_names_resolve_case_insensitively_with_a_helpful_error():
    profiles = load_profiles({})
    assert resolve_name(profiles, None) == "desktop-24gb"
    assert resolve_name(profiles, "GB10-128GB") == "gb10-128gb"
    with pytest.raises(PlanError, match="Choose one of: desktop-24gb"):
        resolve_name(profiles, "cray-1")


def test_measured_throughput_takes_the_latest_endpoint_at_its_best_concurrency(con):
    assert measured_throughput(con) is None
    con.execute(
        """
        insert into endpoint_throughput (endpoint, model, concurrency, calls, output_tokens, wall_s, output_tokens_per_s, measured_at) values
        ('http://127.0.0.1:8080/v1', 'old-model', 1, 10, 1000, 10, 100.0, '2026-01-01 10:00:00'),
        ('http://127.0.0.1:11434/v1', 'qwen3.6:35b-a3b', 1, 10, 1000, 25, 40.0, '2026-02-01 10:00:00'),
        ('http://127.0.0.1:11434/v1', 'qwen3.6:35b-a3b', 4, 40, 4000, 40, 100.0 * 0.9, '2026-02-01 10:05:00')
        """
    )
    m = measured_throughput(con)
    assert (m["model"], m["concurrency"], m["output_tokens_per_s"], m["source"]) == ("qwen3.6:35b-a3b", 4, 90.0, "endpoint_throughput")


def test_per_call_replay_rates_stand_in_when_no_throughput_run_was_recorded(con):
    for i, rate in enumerate([30.0, 32.0, 35.0, 31.0, 29.0, 80.0]):
        con.execute(
            "insert into replays (id, request_id, endpoint, model, output_tokens_per_s, finished_at) values (?, ?, 'http://127.0.0.1:11434/v1', 'qwen', ?, ?)",
            [i, i, rate, datetime(2026, 2, 1, 10, i)],
        )
    con.execute("insert into replays (id, request_id, model, output_tokens_per_s, error) values (99, 99, 'qwen', 500.0, 'timeout')")
    m = measured_throughput(con)
    assert m["source"] == "replays" and m["output_tokens_per_s"] == pytest.approx(31.5) and m["calls"] == 6


def test_a_measurement_replaces_only_the_profile_it_was_taken_on():
    profiles = load_profiles({})
    out, sources = apply_measurement(profiles, {"output_tokens_per_s": 47.5}, "mac-studio-128gb")
    assert out["mac-studio-128gb"].output_tokens_per_s == 47.5 and sources["mac-studio-128gb"] == "measured"
    assert out["desktop-24gb"] == profiles["desktop-24gb"] and sources["desktop-24gb"] == "profile"
    untouched, sources = apply_measurement(profiles, None, "existing")
    assert untouched is profiles and set(sources.values()) == {"profile"}
