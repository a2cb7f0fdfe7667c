"""The privsep daemon path: the production way privileged code runs, here
started by root with a helper command and without sudo (none is installed).
"""

import os
import sys

from nova import exception

from oslo_privsep import capabilities
import pytest

from novadocker import conf
from novadocker import privsep
from novadocker.virt.docker import addressing
from novadocker.virt.docker import network
from tests.fixtures import netinfo
from tests.fixtures.network import ip_json
from tests.fixtures.network import squatting_device

CONF = conf.CONF
HELPER = os.path.join(os.path.dirname(sys.executable), 'privsep-helper')


def effective_capabilities(pid):
    with open('/proc/%d/status' % pid) as f:
        bits = next(int(line.split()[1], 16) for line in f
                    if line.startswith('CapEff:'))
    return {cap for cap in range(64) if bits & (1 << cap)}


def privsep_daemons():
    """Pids of processes running our context's privsep-helper."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if b'novadocker.privsep.sys_admin_pctxt' in argv:
            found.append(int(pid))
    return found


@pytest.fixture
def daemon(host):
    """Entrypoints go to a daemon started with a helper command."""
    CONF.set_override('helper_command', HELPER, group=conf.PRIVSEP_GROUP)
    try:
        yield privsep.sys_admin_pctxt
    finally:
        privsep.sys_admin_pctxt.stop()
        CONF.clear_override('helper_command', group=conf.PRIVSEP_GROUP)


def test_attach_through_the_daemon_with_only_its_capabilities(
        daemon, host, containers):
    """The container runs as an unprivileged user: opening its namespace
    takes CAP_SYS_PTRACE, which the daemon must keep."""
    assert daemon.client_mode
    instance = netinfo.instance()
    vif = netinfo.simple_vif('10.20.0.5', details={
        'ovs_hybrid_plug': True})
    cid, pid = containers.start(user='1000')
    net = network.Network()

    net.attach_all(instance, cid, pid, [vif])

    (daemon_pid,) = privsep_daemons()
    assert daemon_pid != os.getpid()
    assert effective_capabilities(daemon_pid) == {
        capabilities.CAP_NET_ADMIN, capabilities.CAP_SYS_ADMIN,
        capabilities.CAP_SYS_PTRACE, capabilities.CAP_DAC_OVERRIDE}
    inside = {link['ifname']: link for link in ip_json('-n', cid, 'link')}
    assert inside['eth0']['address'] == vif['address']
    assert host.ports('br-int') == {addressing.hybrid_ovs_end(vif)}
    net.detach_all(instance, cid, [vif])
    assert host.ports('br-int') == set()


def test_errors_cross_the_daemon_boundary_with_their_message(
        daemon, host, containers):
    vif = netinfo.simple_vif('10.20.0.5')
    cid, pid = containers.start()
    with squatting_device(addressing.tap_name(vif)) as squatter:
        with pytest.raises(exception.VirtualInterfacePlugException,
                           match='%s .* already exists' % squatter):
            network.Network().attach_all(netinfo.instance(), cid, pid, [vif])
        assert daemon.channel is not None


def test_root_without_a_helper_command_runs_in_process(host):
    assert not privsep.sys_admin_pctxt.client_mode
    assert privsep.sys_admin_pctxt.channel is None
