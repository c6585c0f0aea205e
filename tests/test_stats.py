import pytest

from analyzer.stats import sample_size_for_margin, wilson_interval


def test_wilson_matches_published_values():
    # Reference values from statsmodels proportion_confint(method="wilson").
    low, high = wilson_interval(14, 20)
    assert low == pytest.approx(0.4810, abs=1e-4)
    assert high == pytest.approx(0.8545, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-4) and high == 1.0


def test_no_samples_means_nothing_is_known():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_sample_size_for_ten_points_worst_case():
    assert sample_size_for_margin(0.1) == 97
    assert sample_size_for_margin(0.05) == 385
    with pytest.raises(ValueError):
        sample_size_for_margin(0)
