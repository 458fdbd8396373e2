"""Test configuration: float64 on, silent broadcasts off, fast-compiling XLA options, and the
fast / --slow profiles.

``pytest`` runs the default (fast) suite; ``pytest --slow`` also runs the tests marked ``slow``
(exhaustive grids, deselected otherwise) and gives hypothesis 10x more examples.
"""

import os

# The tests compile thousands of small programs whose run time is negligible: LLVM's cheapest
# settings cut compile time by about a third (the results are IEEE-exact either way; the
# benchmarks and `jaxconv check` run with XLA's defaults). Set before JAX starts its backend, and
# inherited by the subprocesses the tests start; JAXCONV_TEST_XLA_DEFAULTS=1 keeps the defaults.
TEST_XLA_FLAGS = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true",
                  "--xla_cpu_parallel_codegen_split_count=1")
if not os.environ.get("JAXCONV_TEST_XLA_DEFAULTS"):
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), *TEST_XLA_FLAGS]).strip()

import jax  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

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
    """Without ``--slow``, the slow tests are deselected (counted once in the summary as
    "deselected"), not reported as a thousand skips."""
    if config.getoption("--slow"):
        return
    slow = [item for item in items if "slow" in item.keywords]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "slow" not in item.keywords]
