"""Docker container states as Nova power states."""

from nova.compute import power_state
import pytest

from novadocker.virt.docker import driver


@pytest.mark.parametrize('state, expected', [
    ({'Status': 'running'}, power_state.RUNNING),
    ({'Status': 'paused'}, power_state.PAUSED),
    ({'Status': 'created'}, power_state.SHUTDOWN),
    ({'Status': 'exited', 'OOMKilled': False}, power_state.SHUTDOWN),
    ({'Status': 'exited', 'OOMKilled': True}, power_state.CRASHED),
    ({'Status': 'dead'}, power_state.CRASHED),
    ({'Status': 'restarting'}, power_state.NOSTATE),
])
def test_container_power_state(state, expected):
    assert driver.container_power_state(state) == expected
