"""Markers of the engine tests that only run when asked (registered here, next to them)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cluster: starts a three-node OpenSearch cluster (about 1.5 GB RAM, a minute or more); "
        "runs only with PORTALNEWS_TEST_CLUSTER=1 (set by .ci/run)",
    )
