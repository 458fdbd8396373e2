"""Test configuration: float64 on, silent broadcasts off, and the fast / --slow profiles.

``pytest`` runs the default (fast) suite; ``pytest --slow`` also runs the tests marked ``slow``
(exhaustive grids) and gives hypothesis 10x more examples.
"""

import jax
import pytest
from hypothesis import HealthCheck, settings

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

_COMMON = dict(deadline=None, derandomize=True, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fast", max_examples=15, **_COMMON)
settings.register_profile("slow", max_examples=150, **_COMMON)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the tests marked slow and 10x more hypothesis examples")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: exhaustive grids; run with --slow")
    settings.load_profile("slow" if config.getoption("--slow") else "fast")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="exhaustive; run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
