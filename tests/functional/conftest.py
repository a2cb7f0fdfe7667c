"""Fixtures every functional test module can request by name."""

from tests.fixtures.network import containers  # noqa: F401
from tests.fixtures.network import host  # noqa: F401
from tests.fixtures.network import ovs  # noqa: F401
