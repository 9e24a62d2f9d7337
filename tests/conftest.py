"""Every test process trusts the test stacks' local CA (tests/support/edge_ca.py), and says why a test failed
the moment it fails."""

from tests.support.edge_ca import trust_in_this_process


def pytest_configure(config):
    trust_in_this_process()


def pytest_runtest_logreport(report):
    # pytest explains failures only at the end: a run stopped by CI's time limit would otherwise end without a word
    # on which test failed and why
    if report.failed:
        lines = [line for line in report.longreprtext.splitlines() if line.startswith("E ")] or [""]
        print(f"\n[failed now] {report.nodeid} ({report.when}): {lines[0][1:].strip()[:300]}", flush=True)
