"""Network's all-or-nothing bookkeeping, with the privileged layer faked."""

import threading
import time
from unittest import mock

from nova import exception
import pytest

from novadocker.virt.docker import addressing
from novadocker.virt.docker import network
from novadocker.virt.docker.vifs import base
from tests.fixtures import netinfo


class RecordingPlugin(base.VIFPlugin):
    """Records into ``log``; fails to plug the ports in ``failing``."""

    vif_types = ('ovs',)

    def __init__(self, log, failing=()):
        self.log, self.failing = log, failing

    def plug(self, instance, vif, host_ifname, undo):
        if vif['id'] in self.failing:
            raise RuntimeError('switch said no')
        self.log.append(('plug', host_ifname))
        undo.add('unplug', self.log.append, ('undo plug', host_ifname))

    def unplug(self, instance, vif):
        if vif['id'] in self.failing:
            raise RuntimeError('switch said no')
        self.log.append(('unplug', addressing.tap_name(vif)))


@pytest.fixture
def log():
    return []


@pytest.fixture
def privileged(log):
    """netns and linux_net, replaced by recorders."""
    with mock.patch.object(network, 'netns') as netns, \
            mock.patch.object(network, 'linux_net') as linux_net:
        netns.expose.return_value = True
        netns.ifnames.return_value = ['lo', 'eth0']
        netns.hide.side_effect = lambda cid: log.append(('hide', cid))
        netns.create_veth.side_effect = (
            lambda cid, tap, ifname, mac, mtu: log.append(('veth', tap,
                                                           ifname)))
        linux_net.delete_device.side_effect = (
            lambda name: log.append(('delete', name)))
        yield netns


def make_network(log, failing=()):
    net = network.Network()
    net._vif_driver = RecordingPlugin(log, failing)
    return net


def test_undo_runs_newest_first_and_past_a_failing_step(log):
    undo = base.Undo(netinfo.instance())
    undo.add('first', log.append, 1)
    undo.add('broken', mock.Mock(side_effect=RuntimeError))
    undo.add('last', log.append, 3)
    undo.run()
    assert log == [3, 1]


def test_a_failure_half_way_undoes_this_call_newest_first(log, privileged):
    good = netinfo.simple_vif('10.0.0.5', index=1)
    bad = netinfo.simple_vif('10.0.0.6', index=2)
    tap_good, tap_bad = addressing.tap_name(good), addressing.tap_name(bad)
    with pytest.raises(exception.VirtualInterfacePlugException) as caught:
        make_network(log, failing=[bad['id']]).attach_all(
            netinfo.instance(), 'cid', 42, [good, bad])
    assert ('Could not plug port %s as eth1 into container cid: switch '
            'said no' % bad['id']) == str(caught.value)
    # Both veth pairs first, then the switches (beside the namespace's
    # configuration).
    assert log == [('veth', tap_good, 'eth0'), ('veth', tap_bad, 'eth1'),
                   ('plug', tap_good), ('undo plug', tap_good),
                   ('delete', tap_bad), ('delete', tap_good), ('hide', 'cid')]


def test_a_failure_inside_the_namespace_undoes_the_switch_side_too(
        log, privileged):
    """The host ends join their switches while the namespace is configured:
    a failure there waits for them, then undoes them as well."""
    vif = netinfo.simple_vif('10.0.0.5')
    tap = addressing.tap_name(vif)
    privileged.configure.side_effect = RuntimeError('no such device')
    with pytest.raises(exception.VirtualInterfacePlugException,
                       match='Could not configure the ports of container '
                             'cid: no such device'):
        make_network(log).attach_all(netinfo.instance(), 'cid', 42, [vif])
    assert log == [('veth', tap, 'eth0'), ('plug', tap), ('undo plug', tap),
                   ('delete', tap), ('hide', 'cid')]
    privileged.configure.assert_called_once_with('cid', [
        ('eth0', addressing.ip_config(vif, metadata_route=True))])


def test_a_netns_link_that_existed_before_the_call_is_kept(log, privileged):
    privileged.expose.return_value = False
    bad = netinfo.simple_vif('10.0.0.6')
    with pytest.raises(exception.VirtualInterfacePlugException):
        make_network(log, failing=[bad['id']]).attach(
            netinfo.instance(), 'cid', 42, bad)
    assert ('hide', 'cid') not in log
    assert ('veth', addressing.tap_name(bad), 'eth1') in log


def test_detach_all_unplugs_every_port_and_reports_the_failures(
        log, privileged):
    bad = netinfo.simple_vif('10.0.0.6', index=1)
    good = netinfo.simple_vif('10.0.0.5', index=2)
    with pytest.raises(exception.VirtualInterfaceUnplugException,
                       match='port %s: switch said no' % bad['id']):
        make_network(log, failing=[bad['id']]).detach_all(
            netinfo.instance(), 'cid', [bad, good])
    assert log == [('delete', addressing.tap_name(bad)),
                   ('unplug', addressing.tap_name(good)),
                   ('delete', addressing.tap_name(good)), ('hide', 'cid')]


def test_detach_all_without_a_container_touches_no_namespace(log,
                                                             privileged):
    make_network(log).detach_all(netinfo.instance(), None, [])
    assert log == []


def test_an_instance_without_ports_needs_nothing_plugged(log, privileged):
    net = make_network(log)
    net.attach_all(netinfo.instance(), 'cid', 0, [])
    net.plug_vifs(netinfo.instance(), None)
    net.unplug_vifs(netinfo.instance(), None)
    assert log == [] and not privileged.expose.called


def test_the_host_ends_join_their_switch_while_the_namespace_is_set_up(
        log, privileged):
    """The plugin waits here until the namespace is being configured: done
    one after the other, this would fail."""
    configuring = threading.Event()
    privileged.configure.side_effect = lambda cid, devices: (
        configuring.set() or time.sleep(0.05))

    class WaitingPlugin(RecordingPlugin):
        def plug(self, instance, vif, host_ifname, undo):
            assert configuring.wait(5), 'switched before configuring'
            super().plug(instance, vif, host_ifname, undo)

    net = network.Network()
    net._vif_driver = WaitingPlugin(log)
    vif = netinfo.simple_vif('10.0.0.5')
    net.attach_all(netinfo.instance(), 'cid', 42, [vif])
    assert ('plug', addressing.tap_name(vif)) in log
