"""The docstring examples are tests: each module's examples must run and print what they show."""
import doctest
import importlib

import pytest

#: modules with examples, and the least number of examples each must keep
MODULES = {
    "dynloss.schedules": 9,
    "dynloss.losses": 6,
    "dynloss.losses.thesis": 14,
    "dynloss.data": 2,
    "dynloss.data.spiral": 5,
    "dynloss.thresholds.onset": 16,
    "dynloss.verdicts.stats": 7,
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (output above)"
    assert result.attempted >= MODULES[name], \
        f"{name} has {result.attempted} examples, expected >= {MODULES[name]}"
