"""Soak: spawn, reboot and destroy cycles under faults, on the real engine
and the real OVS.

It runs twice: with the ports plugged into each container's own namespace
(the default) and with ``[docker] network_sandbox``, where a sandbox
container holds them. Four instance slots, each with its own ports (plain
OVS, OVS hybrid or both), go through cycles that run one driver operation
on one slot. Most cycles inject one fault at a random point of that
operation, and each fault kind comes round in turn:

* the engine answers one request with HTTP 500, or does what it was asked
  but its answer is lost (ReadTimeout);
* dockerd is SIGKILLed while one request of a spawn or a destroy is in
  flight, then started again (it stops every container as it starts);
* a port cannot be plugged: its host device name is squatted just before
  the container starts;
* ovsdb-server is stopped during the operation and started again on the
  same database up to a second later;
* the image's process exits at once (``true`` or ``false``).

After each cycle every slot is checked from outside the driver, through the
engine's API, the kernel and the OVS database. A slot must be running with
its network: its container runs, its netns link is present, each of its
ports is on br-int with an ofport, and its addresses are configured inside.
Otherwise it must be absent: no container, no device, no OVS port, no netns
link. What a failed operation left behind gets what Nova does next: destroy
after a failed spawn or destroy, hard reboot or destroy after a failed
reboot, stop and then start or destroy for a container that died
underneath. That must succeed and end running or absent. A failure must
reach the caller as a Nova exception. At the end every slot is destroyed,
and nothing may be left: no container, device, Linux bridge, OVS port,
netns link, image, temporary file or file descriptor.

Environment:

* ``NOVADOCKER_SOAK_CYCLES``: cycles to run (30 by default, CI's run; 200
  for the long local run);
* ``NOVADOCKER_SOAK_SEED``: replay the choices of a printed seed (timing
  may still make a replay differ);
* ``NOVADOCKER_SOAK_SECONDS``: the time budget (by default 3 s per cycle,
  at least 90 s). A run that exceeds it fails.

The long run::

    NOVADOCKER_SOAK_CYCLES=200 .venv/bin/python -m pytest -s \\
        -p no:cacheprovider tests/functional/test_soak.py
"""

import collections
import faulthandler
import gc
import json
import os
import random
import subprocess
import tempfile
import threading
import time
import traceback

from nova import exception
from nova.network import model as network_model
from nova import objects
from nova.virt import fake
from oslo_utils import uuidutils
from pyroute2 import IPRoute
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import addressing
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from novadocker.virt.docker import images
from novadocker.virt.docker import netns
from tests.fixtures import engine as engine_fixture
from tests.fixtures import faults
from tests.fixtures import fds
from tests.fixtures import netinfo
from tests.fixtures import network as network_fixture
from tests.unit import factories

CONF = nd_conf.CONF
CYCLES = int(os.environ.get('NOVADOCKER_SOAK_CYCLES', 30))
SEED = int(os.environ.get('NOVADOCKER_SOAK_SEED',
                          random.SystemRandom().randrange(2 ** 32)))
SECONDS = float(os.environ.get('NOVADOCKER_SOAK_SECONDS',
                               max(90, 3 * CYCLES)))
# A cycle that takes longer is hung: dump every thread's stack and end the
# run rather than hang CI.
CYCLE_WATCHDOG = 120
HYBRID = {network_model.VIF_DETAILS_OVS_HYBRID_PLUG: True}
SLOT_PORTS = (('ovs',), ('ovs', 'hybrid'), ('hybrid',), ('ovs', 'ovs'))
# PID 1 ends on SIGTERM, so a soft reboot is soft and short.
GRACEFUL_COMMAND = ('sh', '-c', 'trap "exit 0" TERM; '
                                'while true; do sleep 1 & wait $!; done')
OVSDB_MAX_DOWNTIME = 1.0
EXIT_WAIT = 10
DOCKERD_MAX_CRASH_DELAY = 0.05
OPS = ('spawn', 'reboot', 'destroy')


class Slot:
    """One instance place: its ports stay, its instance changes."""

    def __init__(self, index, port_kinds):
        self.index = index
        self.network_info = network_model.NetworkInfo([
            netinfo.simple_vif('10.20.0.%d' % (10 + 4 * index + n),
                               index=4 * index + n,
                               details=HYBRID if kind == 'hybrid' else None)
            for n, kind in enumerate(port_kinds)])
        self.instance = None
        # Every container this slot had: its netns link must go too.
        self.container_ids = set()

    def __str__(self):
        return 'slot %d' % self.index

    def new_instance(self):
        self.instance = factories.instance(hostname='soak-%d' % self.index)
        self.instance.info_cache.network_info = self.network_info

    @property
    def name(self):
        return client.container_name(self.instance.uuid)

    def ovs_devices(self):
        """The device of each port that is its OVS port on br-int."""
        return [addressing.hybrid_ovs_end(vif)
                if vif['details'].get(
                    network_model.VIF_DETAILS_OVS_HYBRID_PLUG)
                else addressing.tap_name(vif) for vif in self.network_info]

    def host_devices(self):
        """Every host device its ports can have."""
        names = set()
        for vif in self.network_info:
            names |= {addressing.tap_name(vif),
                      addressing.hybrid_bridge_name(vif),
                      addressing.hybrid_bridge_end(vif),
                      addressing.hybrid_ovs_end(vif)}
        return names

    def addresses(self):
        return {addressing.container_ifname(n): [
            '%s/24' % vif['network']['subnets'][0]['ips'][0]['address']]
            for n, vif in enumerate(self.network_info)}


class HostView:
    """The host as the engine, the kernel and the OVS database report it,
    never as the driver does; taken once per check."""

    def __init__(self, api, switch):
        with IPRoute() as ipr:
            here = {link.get('ifname') for link in ipr.link('dump')}
        self.devices = here | set(os.listdir('/sys/class/net'))
        self.netns_links = set(os.listdir(netns.NETNS_DIR))
        self.interfaces = {}
        table = switch.vsctl('--format=json', '--columns=name,ofport,'
                             'external_ids', 'list', 'Interface')
        for name, ofport, external_ids in json.loads(table)['data']:
            self.interfaces[name] = (
                ofport if isinstance(ofport, int) else None,
                dict(external_ids[1]))
        self._api = api

    def container(self, slot, name_of=client.container_name):
        """The slot's container (or, with ``client.sandbox_name``, its
        network sandbox), inspected, or None."""
        if slot.instance is None:
            return None
        try:
            attrs = self._api.inspect_container(name_of(slot.instance.uuid))
        except Exception as e:
            if getattr(e, 'status_code', None) == 404:
                return None
            raise
        slot.container_ids.add(attrs['Id'])
        return attrs

    def leftovers(self, slot):
        """What remains of an absent slot on the host."""
        return sorted((self.devices & slot.host_devices()) |
                      (set(self.interfaces) & slot.host_devices()) |
                      (self.netns_links & slot.container_ids))

    def network_problems(self, slot, attrs):
        """Why the running container of ``slot`` lacks its network."""
        cid, pid = attrs['Id'], attrs['State']['Pid']
        try:
            link = os.stat(netns.netns_path(cid))
        except FileNotFoundError:
            return ['no netns link']
        target = os.stat('/proc/%d/ns/net' % pid)
        if (link.st_dev, link.st_ino) != (target.st_dev, target.st_ino):
            return ['the netns link is not the namespace of pid %d' % pid]
        problems = []
        for vif, device in zip(slot.network_info, slot.ovs_devices()):
            ofport, external_ids = self.interfaces.get(device, (None, {}))
            if not ofport or ofport < 0:
                problems.append('OVS port %s: ofport %s' % (device, ofport))
            elif (external_ids.get('iface-id'), external_ids.get(
                    'vm-uuid')) != (vif['id'], slot.instance.uuid):
                problems.append('OVS port %s: external_ids %s' % (
                    device, external_ids))
        inside = {link['ifname']: ['%s/%s' % (a['local'], a['prefixlen'])
                                   for a in link['addr_info']
                                   if a['family'] == 'inet']
                  for link in network_fixture.ip_json('-n', cid, 'addr')
                  if link['ifname'] != 'lo'}
        if inside != slot.addresses():
            problems.append('addresses inside %s' % inside)
        return problems

    def state(self, slot):
        """('running' | 'absent' | 'stopped' | 'broken' | 'dirty', why)."""
        attrs = self.container(slot)
        sandbox = self.container(slot, client.sandbox_name)
        if attrs is None:
            leftovers = self.leftovers(slot)
            if sandbox:
                leftovers.append('sandbox %s' % sandbox['Name'])
            return ('dirty', leftovers) if leftovers else ('absent', [])
        if attrs['State']['Status'] != 'running':
            return 'stopped', [attrs['State']['Status']]
        if attrs['HostConfig']['NetworkMode'].startswith('container:'):
            # The ports live in the sandbox's namespace.
            if not (sandbox and sandbox['State']['Status'] == 'running'):
                return 'broken', ['its sandbox is not running']
            attrs = sandbox
        problems = self.network_problems(slot, attrs)
        return ('broken', problems) if problems else ('running', [])


# -- faults ------------------------------------------------------------------

class Fault:
    """A kind of fault: the operations it can hit, whether the operation
    must then fail, and how it is injected."""

    name = None
    ops = OPS
    must_fail = True

    def inject(self, soak, slot, op):
        """Arm the fault for ``op`` on ``slot``."""

    def settle(self, soak):
        """Wait for the fault to be over; True if it fired."""
        return soak.requests.disarm()


class EngineError(Fault):
    name = 'engine error (HTTP 500)'

    def inject(self, soak, slot, op):
        soak.requests.arm(faults.engine_error, soak.random_request(op))


class LostResponse(Fault):
    name = 'lost engine response (timeout)'

    def inject(self, soak, slot, op):
        soak.requests.arm(faults.lost_response, soak.random_request(op))


class DockerdCrash(Fault):
    must_fail = False

    def __init__(self, op):
        self.ops = (op,)
        self.name = 'dockerd killed mid-%s' % op

    def inject(self, soak, slot, op):
        soak.requests.arm(faults.engine_crash(
            soak.engine, soak.rng.uniform(0, DOCKERD_MAX_CRASH_DELAY)),
            soak.random_request(op))


class SquattedDevice(Fault):
    """The host end's name is taken just before the container starts:
    the plug of that port fails."""

    name = 'VIF plug failure (device name taken)'

    @property
    def ops(self):
        # In a network sandbox the ports stay plugged across a reboot.
        if CONF.docker.network_sandbox:
            return ('spawn',)
        return ('spawn', 'reboot')

    def inject(self, soak, slot, op):
        self.device = addressing.tap_name(soak.rng.choice(slot.network_info))
        soak.requests.arm(faults.before(
            lambda request: network_fixture.squat_device(self.device)),
            faults.request_to('start'))

    def settle(self, soak):
        # The driver's unplug deletes it by name (it is the port's name);
        # otherwise it is the test's to remove.
        subprocess.run(['ip', 'link', 'del', self.device],
                       stderr=subprocess.DEVNULL, check=False)
        return super().settle(soak)


class OvsdbRestart(Fault):
    name = 'OVSDB server restarted'
    must_fail = False

    def inject(self, soak, slot, op):
        downtime = soak.rng.uniform(0, OVSDB_MAX_DOWNTIME)
        self.restart = threading.Thread(
            target=soak.switch.restart_ovsdb, args=(downtime,))
        soak.requests.arm(faults.before(lambda request: self.restart.start()),
                          soak.random_request(op))

    def settle(self, soak):
        fired = super().settle(soak)
        if fired:
            self.restart.join()
        return fired


class ExitingProcess(Fault):
    """Most often the process has ended before the spawn returns, which
    then fails naming the exit; it may end just after."""

    name = 'process exits at once'
    ops = ('spawn',)
    must_fail = False

    def inject(self, soak, slot, op):
        soak.image_id = soak.rng.choice(soak.exiting_image_ids)

    def settle(self, soak):
        soak.image_id = soak.graceful_image_id
        return True


FAULTS = (EngineError(), LostResponse(), DockerdCrash('spawn'),
          DockerdCrash('destroy'), SquattedDevice(), OvsdbRestart(),
          ExitingProcess())


# -- the soak ----------------------------------------------------------------

class SoakFailure(AssertionError):
    pass


class Soak:
    """The slots, the driver with its engine requests intercepted, and
    what happened to them."""

    def __init__(self, drv, engine, api, switch, rng, images):
        self.drv = drv
        self.engine = engine
        self.api = api
        self.switch = switch
        self.rng = rng
        self.graceful_image_id, self.exiting_image_ids = images
        self.image_id = self.graceful_image_id
        self.requests = faults.EngineRequests(drv.docker.api)
        self.slots = [Slot(i, kinds) for i, kinds in enumerate(SLOT_PORTS)]
        # Requests of each operation without a fault, the most seen: where
        # a fault can hit.
        self.requests_per_op = collections.Counter()
        self.counts = collections.Counter()
        self.cycle = 0
        self.last_report = 'nothing yet'

    # -- operations as nova calls them -------------------------------------

    def _call(self, slot, op, reboot_type='HARD'):
        if op == 'spawn':
            slot.new_instance()
            meta = objects.ImageMeta.from_dict(
                {'id': self.image_id, 'container_format': 'docker'})
            self.drv.spawn(None, slot.instance, meta, [], None, {},
                           network_info=slot.network_info)
        elif op == 'reboot':
            self.drv.reboot(None, slot.instance, slot.network_info,
                            reboot_type)
        elif op == 'destroy':
            self.drv.destroy(None, slot.instance, slot.network_info)
        elif op == 'power_off':
            self.drv.power_off(slot.instance, timeout=0)
        elif op == 'power_on':
            self.drv.power_on(None, slot.instance, slot.network_info)

    def run(self, slot, op, reboot_type='HARD'):
        """The operation's Nova exception, or None; a raw exception fails
        the soak."""
        try:
            self._call(slot, op, reboot_type)
        except exception.NovaException as e:
            return e
        except Exception:
            self.fail('%s of %s raised a raw exception:\n%s'
                      % (op, slot, traceback.format_exc()))
        return None

    def must_succeed(self, slot, op):
        self.requests.arm(None, None)
        error = self.run(slot, op)
        if op in OPS:
            self.requests_per_op[op] = max(self.requests_per_op[op],
                                           self.requests.count)
        if error is not None:
            self.fail('%s of %s (Nova recovering, no fault) failed: %r'
                      % (op, slot, error))

    def fail(self, message):
        raise SoakFailure('cycle %d (seed %d, replay with '
                          'NOVADOCKER_SOAK_SEED=%d), after "%s": %s'
                          % (self.cycle, SEED, SEED, self.last_report,
                             message))

    def random_request(self, op):
        return faults.nth_request(
            self.rng.randint(1, self.requests_per_op[op] or 1))

    # -- checks ---------------------------------------------------------------

    def view(self):
        return HostView(self.api, self.switch)

    def expect(self, slot, *states):
        state, why = self.view().state(slot)
        if state not in states:
            self.fail('%s is %s (%s), expected %s'
                      % (slot, state, '; '.join(why), ' or '.join(states)))
        return state

    def recover(self, slot, failed_op):
        """What Nova does next after ``failed_op`` failed, then the slot
        must be running or absent."""
        if failed_op == 'reboot' and self.rng.random() < 0.5:
            self.must_succeed(slot, 'reboot')  # HARD, from ERROR
            return self.expect(slot, 'running')
        self.must_succeed(slot, 'destroy')
        return self.expect(slot, 'absent')

    def recover_stopped(self, slot, may_start=True):
        """A container that died underneath: Nova's power-state sync stops
        the instance, then the user starts or deletes it."""
        self.must_succeed(slot, 'power_off')
        if may_start and self.rng.random() < 0.5:
            self.must_succeed(slot, 'power_on')
            return self.expect(slot, 'running')
        self.must_succeed(slot, 'destroy')
        return self.expect(slot, 'absent')

    # -- cycles ---------------------------------------------------------------

    def choose(self, fault):
        """(slot, operation) for ``fault``: one of its operations, then a
        slot that can take it. If none can, one is made ready first (a
        spawn or a destroy without fault)."""
        op = self.rng.choice(fault.ops)
        ready = [s for s in self.slots if (s.instance is None) == (
            op == 'spawn')]
        if not ready:
            slot = self.rng.choice(self.slots)
            setup = 'destroy' if op == 'spawn' else 'spawn'
            self.must_succeed(slot, setup)
            self.counts['%s without fault, to make a slot ready' % setup] += 1
            if self.expect(slot, 'absent', 'running') == 'absent':
                slot.instance = None
            ready = [slot]
        return self.rng.choice(ready), op

    def run_cycle(self, fault):
        slot, op = self.choose(fault or Fault())
        reboot_type = self.rng.choice(('SOFT', 'HARD'))
        self.requests.arm(None, None)
        if fault is not None:
            fault.inject(self, slot, op)
        started = time.monotonic()
        error = self.run(slot, op, reboot_type)
        took = time.monotonic() - started
        fired = fault is not None and fault.settle(self)
        if fault is None:
            self.requests_per_op[op] = max(self.requests_per_op[op],
                                           self.requests.count)
        self.counts['%s %s' % (op, 'failed' if error else 'succeeded')] += 1
        self.report('cycle %3d: %s %s%s%s -> %s in %.2f s' % (
            self.cycle, slot, op, ' ' + reboot_type if op == 'reboot' else '',
            ', ' + fault.name + (' at ' + self.requests.fired_on
                                 if self.requests.fired_on else '')
            if fired else '', type(error).__name__ if error else 'ok', took))
        if fired:
            self.counts['fault: ' + fault.name] += 1
            self.check_error(fault, op, slot, error)
        crashed = fired and isinstance(fault, DockerdCrash)
        exits = fired and isinstance(fault, ExitingProcess)
        self.counts['outcome: ' + self.check_operated(
            slot, op, error, crashed, exits)] += 1
        self.check_others(slot, crashed)

    def report(self, line):
        self.last_report = line
        print(line, flush=True)

    def check_error(self, fault, op, slot, error):
        if error is None and fault.must_fail:
            self.fail('%s of %s succeeded despite: %s' % (op, slot,
                                                          fault.name))
        if isinstance(fault, ExitingProcess) and error is not None and not (
                isinstance(error, exception.InstanceDeployFailure) and
                'exited during boot' in str(error)):
            self.fail('a spawn failed by its process\'s exit must name the '
                      'exit, not: %r' % error)

    def check_operated(self, slot, op, error, crashed, exits):
        """Check the operated slot, recover it as Nova would if it must;
        its outcome: running, absent or recovered."""
        if error is not None:
            state = self.expect(slot, 'running', 'absent', 'stopped',
                                'broken', 'dirty')
            final = self.recover(slot, op)
            outcome = 'absent' if state == 'absent' else 'recovered'
            self.report('           %s after the failure; Nova\'s next '
                        'call leaves it %s' % (state, final))
        elif op == 'destroy':
            outcome = final = self.expect(slot, 'absent')
        elif exits:
            self.api.wait(slot.name, timeout=EXIT_WAIT)
            self.expect(slot, 'stopped')
            final = self.recover_stopped(slot, may_start=False)
            outcome = 'recovered'
            self.report('           its process ended just after the spawn; '
                        'Nova stops it, then it is %s' % final)
        elif crashed:
            outcome = final = self.expect(slot, 'running', 'stopped')
            if final == 'stopped':
                final = self.recover_stopped(slot)
                outcome = 'recovered'
                self.report('           stopped by the engine restart; '
                            'Nova stops it, then it is %s' % final)
        else:
            outcome = final = self.expect(slot, 'running')
        if final == 'absent':
            slot.instance = None
        return outcome

    def check_others(self, operated, crashed):
        """Every other slot is as it was: running or absent. After a dockerd
        crash the running ones have stopped: Nova stops them, then they
        are started or deleted."""
        view = self.view()
        for slot in self.slots:
            if slot is operated:
                continue
            state, why = view.state(slot)
            if state == 'stopped' and crashed:
                if self.recover_stopped(slot) == 'absent':
                    slot.instance = None
                self.counts['outcome: collateral, recovered'] += 1
            elif state not in ('running', 'absent'):
                self.fail('%s, not operated on, is %s (%s)'
                          % (slot, state, '; '.join(why)))

    def destroy_all(self):
        for slot in self.slots:
            if slot.instance is not None:
                self.must_succeed(slot, 'destroy')
                self.expect(slot, 'absent')
                slot.instance = None

    def remove_what_remains(self):
        """After a failed run: best effort, so the next test starts clean
        (the ``host`` fixture reports what even this left)."""
        for slot in self.slots:
            if slot.instance is not None:
                self.run(slot, 'destroy')
                try:
                    self.api.remove_container(slot.name, force=True)
                except Exception:
                    pass


# -- leaks -------------------------------------------------------------------

def linux_bridges():
    with IPRoute() as ipr:
        return {link.get('ifname') for link in ipr.link('dump')
                if link.get(('IFLA_LINKINFO', 'IFLA_INFO_KIND')) == 'bridge'}


def open_files(*clients):
    """How many of this process's file descriptors refer to each file or
    kind of thing (fds.open_files: a socket by its family and peer), once
    ``clients`` have closed their idle connections (the SDK keeps up to 25
    per client, one per URL) and garbage is collected. A reconnection
    replaces a socket: the kinds are counted, not the sockets."""
    for api in clients:
        api.close()
    gc.collect()
    return fds.open_files()


def census(api, switch, tmpdir):
    """What the driver may leave behind, by kind."""
    found = network_fixture.host_network_state(switch)
    found.update({
        'containers': {c['Id'] for c in api.containers(all=True)},
        'Linux bridges': linux_bridges(),
        'images': {t for i in api.images() for t in i['RepoTags'] or ()
                   if t.startswith((images.SNAPSHOT_REPOSITORY + ':',
                                    images.GLANCE_REPOSITORY + ':'))},
        'dangling images': {i['Id'] for i in api.images(
            filters={'dangling': True})},
        'temporary files': set(os.listdir(tmpdir)),
    })
    return found


# -- the test ----------------------------------------------------------------

@pytest.fixture
def soak_images(engine):
    """Glance image ids already in the engine: the graceful one, and two
    whose process exits at once (success, failure)."""
    api = engine.client()
    built = []
    ids = []
    for name, command in (('graceful', GRACEFUL_COMMAND),
                          ('exits-true', ('/bin/true',)),
                          ('exits-false', ('/bin/false',))):
        tag = 'novadocker-soak/%s:latest' % name
        engine_fixture.build_test_image(api, tag=tag, command=command)
        image_id = uuidutils.generate_uuid()
        api.tag(tag, images.GLANCE_REPOSITORY, image_id)
        built.append(tag)
        ids.append(image_id)
    yield ids[0], ids[1:]
    for image_id in ids:
        api.remove_image(images.glance_reference(image_id))
    for tag in built:
        api.remove_image(tag)
    api.close()


@pytest.fixture(params=[False, True],
                ids=['plug-after-start', 'network-sandbox'])
def soak_conf(request, engine, host, monkeypatch, tmp_path):
    CONF.set_override('host_url', engine.url, group='docker')
    CONF.set_override('soft_reboot_timeout', 1, group='docker')
    CONF.set_override('network_sandbox', request.param, group='docker')
    CONF.set_override('sandbox_image', engine_fixture.TEST_IMAGE,
                      group='docker')
    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir()
    # Whatever the driver spools goes here, to be counted.
    monkeypatch.setattr(tempfile, 'tempdir', str(tmpdir))
    yield str(tmpdir)
    for option in ('host_url', 'soft_reboot_timeout', 'network_sandbox',
                   'sandbox_image'):
        CONF.clear_override(option, group='docker')


def test_soak(engine, host, soak_conf, soak_images):
    print('\nsoak: %d cycles, seed %d (replay with NOVADOCKER_SOAK_SEED=%d),'
          ' budget %.0f s' % (CYCLES, SEED, SEED, SECONDS))
    api = engine.client()
    before = census(api, host, soak_conf)
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    drv.init_host('testhost')
    soak = Soak(drv, engine, api, host, random.Random(SEED), soak_images)
    files_before = None
    schedule = [None, *FAULTS]
    started = time.monotonic()
    try:
        for soak.cycle in range(1, CYCLES + 1):
            faulthandler.dump_traceback_later(CYCLE_WATCHDOG, exit=True)
            soak.run_cycle(schedule[(soak.cycle - 1) % len(schedule)])
            faulthandler.cancel_dump_traceback_later()
            if soak.cycle == 1:
                # The OVSDB connection and the event stream are open.
                files_before = open_files(api, drv.docker.api)
            elapsed = time.monotonic() - started
            if elapsed > SECONDS:
                soak.fail('over the time budget: %.0f s after %d cycles'
                          % (elapsed, soak.cycle))
        soak.destroy_all()
    finally:
        faulthandler.cancel_dump_traceback_later()
        soak.requests.close()
        soak.remove_what_remains()
        drv.cleanup_host('testhost')
    elapsed = time.monotonic() - started
    files_after = open_files(api, drv.docker.api)
    after = census(api, host, soak_conf)
    api.close()
    leaks = {kind: sorted(after[kind] - before[kind]) for kind in after}
    leaks['file descriptors'] = sorted(
        (files_after - files_before).elements())

    print('soak: %d cycles in %.1f s (seed %d)' % (CYCLES, elapsed, SEED))
    # Not the driver's: containerd forgets a shim it started just before
    # dockerd was killed. Removed with the engine.
    print('  engine debris: %d containerd shims running no container'
          % len(engine.orphaned_shims()))
    for key in sorted(soak.counts):
        print('  %-45s %d' % (key, soak.counts[key]))
    for kind in sorted(leaks):
        print('  leaked %-38s %d' % (kind, len(leaks[kind])))
    missing = [f.name for f in FAULTS
               if not soak.counts['fault: ' + f.name]]
    assert not missing, 'never injected (seed %d): %s' % (SEED, missing)
    leaks = {kind: names for kind, names in leaks.items() if names}
    assert not leaks, 'left behind (seed %d): %s' % (SEED, leaks)
