"""Every test here is part of the fault suite and needs redis-server; see tests/faults/support.py for the forms."""

import pytest


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    for item in items:
        if "tests/faults/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.redis)
