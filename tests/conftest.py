"""Every test process trusts the test stacks' local CA (tests/support/edge_ca.py)."""

from tests.support.edge_ca import trust_in_this_process


def pytest_configure(config):
    trust_in_this_process()
