from __future__ import annotations

import pytest

from api.checks import api_rate_limit_check


@pytest.mark.parametrize("rate", ["600/min", "20/second", "5000/hour", "1/d"])
def test_good_rates_pass(settings, rate):
    settings.API_RATE_LIMIT = rate
    assert api_rate_limit_check(None) == []


@pytest.mark.parametrize("rate", ["", "600", "fast", "0/min", "10/fortnight"])
def test_a_bad_rate_is_reported_with_the_fix(settings, rate):
    settings.API_RATE_LIMIT = rate
    (error,) = api_rate_limit_check(None)
    assert error.id == "api.E001" and "600/min" in error.hint
