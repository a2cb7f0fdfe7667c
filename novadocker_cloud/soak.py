"""The soak of the real cloud: cycles of boot, reboot, stop, start,
snapshot and delete through the API, as the demo project's member, on a few
servers at once, with a fault injected at a random point of most cycles:

* a service restarted during the operation: RabbitMQ, the Neutron API,
  the OVN southbound database, ovn-northd, ovn-controller, or the Docker
  engine under running instances (the cloud's engine runs with
  ``--live-restore``);
* nova-compute killed with SIGKILL in the middle of a spawn, a delete or a
  snapshot (once the server shows the operation's task state), then
  started again, as after an OOM kill;
* the Glance API killed while nova-compute downloads an image the engine
  does not hold yet, then started again.

After each cycle, with every service back, each server must be ACTIVE and
serving its page through its floating IP, or SHUTOFF as asked, or in ERROR
with a fault that names the cause; an ERROR server is then deleted, as its
owner would. No server may stay in a task state, and the audit
(audit.py) must find nothing that belongs to no server: no container,
namespace link, host device, OVS or OVN port, Neutron port, Placement
allocation, engine snapshot image or instance directory. A snapshot the
soak asked for is deleted once the cycle is judged; one that Nova left
unfinished in Glance is counted.

``python -m novadocker_cloud soak`` runs it against the running cloud;
``--cycles``, ``--seed`` (replay the choices of a printed seed; timing may
still differ) and ``--seconds`` (the time budget) bound it.
"""

import collections
import os
import random
import threading
import time
import traceback
import urllib.request

import docker

from novadocker_cloud import audit
from novadocker_cloud import clouds
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud import sample_image
from novadocker_cloud.services import docker as docker_service
from novadocker_cloud.services import network
from novadocker_cloud.services import nova
from novadocker_cloud.services import ovn
from novadocker_cloud.services import rabbitmq

from novadocker.virt.docker import images

SLOTS = 3
FLAVOR = 'docker.tiny'
# An operation, its faults and the services' recovery end within this.
SETTLE_TIMEOUT = 300
# At most this long between an operation's request and a service fault.
MAX_FAULT_DELAY = 2.0
# A restarted service stays down up to this long.
MAX_DOWNTIME = 3.0
# After nova-compute shows the task state, it is killed within this.
MAX_KILL_DELAY = 0.5
# The image of the Glance fault: big enough that its download lasts.
LARGE_IMAGE_BYTES = 128 << 20
REACH_TIMEOUT = 90
# Cycles a fault kind gets to hit its operation before the next kind's turn.
MAX_TRIES = 3
POLL = 0.2
IN_COMPUTE = {'boot': ('networking', 'block_device_mapping', 'spawning'),
              'delete': ('deleting',),
              'snapshot': ('image_pending_upload', 'image_uploading')}
OPS = ('boot', 'reboot', 'stop', 'start', 'snapshot', 'delete')


class SoakFailure(AssertionError):
    pass


class Slot:
    """A place for one server at a time, with its floating IP."""

    def __init__(self, index, floating_ip):
        self.index = index
        self.floating_ip = floating_ip
        self.server_id = None
        self.wanted = None  # 'ACTIVE' or 'SHUTOFF', as last asked

    def __str__(self):
        return 'slot %d' % self.index

    def can(self, op):
        if op == 'boot':
            return self.server_id is None
        if op in ('stop', 'reboot'):
            return self.wanted == 'ACTIVE'
        if op == 'start':
            return self.wanted == 'SHUTOFF'
        return self.server_id is not None


# -- faults ------------------------------------------------------------------

class Fault:
    """A kind of fault: the operations it may hit, and how it is injected
    into one (in a thread of its own, while the soak waits for the
    operation); ``inject`` says whether it hit."""

    name = 'none'
    ops = OPS

    def applies(self, soak):
        return True

    def prepare(self, soak, slot, op):
        """Before the operation's request."""

    def inject(self, soak, slot, op):
        """After the operation's request: runs in its own thread."""
        return False


class Restart(Fault):
    """A daemon of the cloud stopped (SIGTERM, or SIGKILL) at a random
    point of the operation, started again after a random downtime, and
    waited for until ``ready(soak)``."""

    def __init__(self, name, daemon, ready, kill=False, ops=OPS):
        self.name = name
        self.daemon = daemon
        self.ready = ready
        self.kill = kill
        self.ops = ops

    def applies(self, soak):
        # The engine is restarted only if the cloud started it.
        return os.path.exists(soak.layout.pidfile(self.daemon))

    def inject(self, soak, slot, op):
        time.sleep(soak.rng.uniform(0, MAX_FAULT_DELAY))
        self.bounce(soak)
        return True

    def bounce(self, soak):
        daemon = process.Daemon.recorded(soak.layout.pidfile(self.daemon))
        if self.kill:
            daemon.kill()
        else:
            daemon.stop()
        time.sleep(soak.rng.uniform(0, MAX_DOWNTIME))
        daemon.start()
        daemon.wait_until(lambda: self.ready(soak), self.daemon + ' back',
                          180)


class KilledAtTaskState(Restart):
    """A daemon SIGKILLed once the server shows one of ``task_states`` (the
    operation is where the fault must hit), then started again."""

    task_states = ()

    def inject(self, soak, slot, op):
        if not soak.wait_task_state(slot, self.task_states):
            return False
        time.sleep(soak.rng.uniform(0, MAX_KILL_DELAY))
        self.killed_at = nova.utc_now()
        self.bounce(soak)
        return True


class ComputeKilled(KilledAtTaskState):
    """nova-compute killed once the operation is in its hands; back when
    it reports again."""

    def __init__(self, op):
        super().__init__('nova-compute killed mid-' + op, 'nova-compute',
                         self._reporting, kill=True, ops=(op,))
        self.task_states = IN_COMPUTE[op]

    def _reporting(self, soak):
        return nova.compute_reporting(soak.admin, soak.layout.hostname,
                                      self.killed_at)


class GlanceKilledDuringDownload(KilledAtTaskState):
    """The Glance API killed while the spawn downloads an image the engine
    does not hold."""

    task_states = ('spawning',)

    def __init__(self):
        super().__init__('Glance API killed during an image download',
                         'glance', _http_ok('glance'), kill=True,
                         ops=('boot',))

    def prepare(self, soak, slot, op):
        soak.forget_large_image()
        soak.boot_image = soak.large_image


def _http_ok(service):
    return lambda soak: process.http_ok(soak.layout.url(service))


def _ovn_daemon_ready(daemon, command, answer):
    return lambda soak: ovn.appctl(soak.layout, daemon, command) == answer


FAULTS = (
    Restart('RabbitMQ restarted', 'rabbitmq',
            lambda soak: rabbitmq.serving(soak.layout)),
    Restart('Neutron API stopped then started', 'neutron-api',
            _http_ok('neutron')),
    Restart('OVN southbound database restarted', 'ovsdb-server-sb',
            lambda soak: process.tcp_open(cloud_layout.HOST,
                                          cloud_layout.PORTS['ovn_sb'])),
    Restart('ovn-northd restarted', 'ovn-northd',
            _ovn_daemon_ready('ovn-northd', 'status', 'Status: active')),
    Restart('ovn-controller restarted', 'ovn-controller',
            _ovn_daemon_ready('ovn-controller', 'connection-status',
                              'connected')),
    ComputeKilled('boot'), ComputeKilled('delete'),
    ComputeKilled('snapshot'),
    Restart('Docker engine restarted under running instances', 'dockerd',
            lambda soak: docker_service.answers(),
            ops=('reboot', 'stop', 'start', 'snapshot')),
    GlanceKilledDuringDownload(),
)


# -- the soak ----------------------------------------------------------------

class Soak:

    def __init__(self, layout, seed, out=print):
        self.layout = layout
        self.seed = seed
        self.rng = random.Random(seed)
        self.out = out
        self.admin = clouds.connect(layout, 'admin')
        self.demo = clouds.connect(layout, 'demo')
        self.counts = collections.Counter()
        self.cycle = 0
        self.snapshots = []
        self.made_images = []
        self.slots = []
        self.last = 'nothing yet'

    # -- set-up and tear-down ----------------------------------------------
    def set_up(self):
        self.flavor = self.admin.compute.find_flavor(FLAVOR)
        self.network = self.demo.network.find_network(network.PRIVATE)
        public = self.demo.network.find_network(network.PUBLIC)
        self.image = self._upload('soak-web', sample_image.web_server)
        self.large_image = self._upload('soak-large', _large_web_server)
        self.boot_image = self.image
        for index in range(SLOTS):
            ip = self.demo.network.create_ip(floating_network_id=public.id,
                                             description='novadocker soak')
            self.slots.append(Slot(index, ip))

    def _upload(self, name, build):
        data = sample_image.saved('novadocker-soak/%s:latest' % name, build)
        image = self.demo.image.create_image(
            name=name, container_format='docker', disk_format='raw',
            data=_chunks(data), allow_duplicates=True, wait=True)
        self.made_images.append(image)
        return image

    def tear_down(self):
        """Delete what the soak made, servers first."""
        for slot in self.slots:
            if slot.server_id:
                self._delete(slot)
            self.demo.network.delete_ip(slot.floating_ip)
        for image in self.made_images + self.snapshots:
            self.demo.image.delete_image(image, ignore_missing=True)

    # -- operations ------------------------------------------------------
    def request(self, slot, op):
        """Ask the compute API for ``op`` on the slot's server."""
        compute = self.demo.compute
        if op == 'boot':
            server = compute.create_server(
                name='soak-%d' % slot.index, image_id=self.boot_image.id,
                flavor_id=self.flavor.id,
                networks=[{'uuid': self.network.id}])
            slot.server_id, slot.wanted = server.id, 'ACTIVE'
        elif op == 'reboot':
            compute.reboot_server(slot.server_id,
                                  self.rng.choice(('SOFT', 'HARD')))
        elif op == 'stop':
            compute.stop_server(slot.server_id)
            slot.wanted = 'SHUTOFF'
        elif op == 'start':
            compute.start_server(slot.server_id)
            slot.wanted = 'ACTIVE'
        elif op == 'snapshot':
            image = compute.create_server_image(
                slot.server_id, 'soak-%d-snapshot' % slot.index)
            self.snapshots.append(image)
        elif op == 'delete':
            compute.delete_server(slot.server_id)

    def wait_task_state(self, slot, states, timeout=60):
        """Whether the slot's server reaches one of ``states`` in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.admin.compute.find_server(slot.server_id)
            if server is None:
                return False
            if server.task_state in states:
                return True
            if server.task_state is None and server.status != 'BUILD':
                return False
            time.sleep(0.1)
        return False

    def settle(self, slot, op):
        """Wait until the operation is over: the server in no task state
        (or gone, after a delete), and a snapshot active or gone."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            server = self.admin.compute.find_server(slot.server_id)
            # Nova saves a deleted instance as DELETED, with no task
            # state, just before it removes the record.
            if server is None or server.status == 'DELETED':
                if op != 'delete':
                    self.fail('%s: server %s disappeared' % (slot,
                                                             slot.server_id))
                slot.server_id = slot.wanted = None
                break
            if server.task_state is None and server.status != 'BUILD':
                break
            if time.monotonic() > deadline:
                self.fail('%s: server %s still %s/%s after %d s' % (
                    slot, server.id, server.status, server.task_state,
                    SETTLE_TIMEOUT))
            time.sleep(POLL)

    # -- cycles ------------------------------------------------------------
    def choose(self, fault):
        """(slot, op) for ``fault``: one of its operations, and a slot that
        can take it; if none can, one is made ready by operations without
        fault, each judged."""
        op = self.rng.choice(fault.ops)
        ready = [s for s in self.slots if s.can(op)]
        if ready:
            return self.rng.choice(ready), op
        slot = self.rng.choice(self.slots)
        while not slot.can(op):
            if op == 'boot':
                step = 'delete'
            elif slot.server_id is None:
                step = 'boot'
            else:
                step = 'stop' if op == 'start' else 'start'
            self.operate(Fault(), slot, step)
            self.counts['%s without fault, to make a slot ready' % step] += 1
            self.judge()
        return slot, op

    def run_cycle(self, fault):
        """One cycle; whether its fault fired (a cycle without fault
        counts as fired)."""
        fault = fault or Fault()
        slot, op = self.choose(fault)
        began = time.monotonic()
        fired = self.operate(fault, slot, op)
        took = time.monotonic() - began
        self.counts['%s: %s' % (op, 'with ' + fault.name if fired
                                else 'no fault')] += 1
        if fired:
            self.counts['fault: ' + fault.name] += 1
        outcome = self.judge(fault if fired else None)
        self.report('cycle %3d: %s %s%s -> %s in %.1f s' % (
            self.cycle, slot, op, ', ' + fault.name if fired else '',
            outcome, took))
        if isinstance(fault, GlanceKilledDuringDownload) and slot.server_id:
            self._delete(slot)
        self.boot_image = self.image
        return fired or type(fault) is Fault

    def operate(self, fault, slot, op):
        """Run ``op`` with ``fault`` injected; whether the fault fired."""
        fault.prepare(self, slot, op)
        self.request(slot, op)
        self.out('  %s %s: %s requested (%s)' % (
            time.strftime('%H:%M:%S'), slot, op, fault.name), flush=True)
        fired = []
        errors = []

        def inject():
            try:
                fired.append(fault.inject(self, slot, op))
            except Exception:
                errors.append(traceback.format_exc())
        injector = threading.Thread(target=inject, daemon=True)
        injector.start()
        injector.join(SETTLE_TIMEOUT)
        if errors:
            self.fail('injecting %s: %s' % (fault.name, errors[0]))
        self.settle(slot, op)
        return bool(fired and fired[0])

    def judge(self, fault=None):
        """Every slot's server as the soak asked, or ERROR with a fault
        (then deleted); then nothing of no server. The slots' outcomes.

        One ERROR may come without a fault: Nova's start-up turns a build
        it finds cut short (``fault``: nova-compute killed mid-boot) into
        ERROR and records none, whatever the driver.
        """
        outcomes = []
        for slot in self.slots:
            if slot.server_id is None:
                continue
            self.settle(slot, 'judge')
            server = self.admin.compute.get_server(slot.server_id)
            if server.status == 'ERROR':
                message = self._fault_message(server.id)
                if not message:
                    if not (isinstance(fault, ComputeKilled) and
                            fault.ops == ('boot',)):
                        self.fail('%s: server %s in ERROR without a fault'
                                  % (slot, server.id))
                    message = 'none: a build cut short by nova-compute\'s end'
                self.counts['ERROR, fault: ' +
                            message.splitlines()[0][:100]] += 1
                outcomes.append('%s ERROR (%s), deleted' % (slot,
                                                            message[:80]))
                self._delete(slot)
                continue
            if server.status != slot.wanted:
                self.fail('%s: server %s is %s, not %s as asked; %s' % (
                    slot, server.id, server.status, slot.wanted,
                    self._last_action(server.id)))
            if server.status == 'ACTIVE':
                self.reach(slot)
        self._snapshots_done()
        orphans = self._orphans()
        if orphans:
            self.fail('left without a server: %s' % orphans)
        return '; '.join(outcomes) or 'as asked'

    def _fault_message(self, server_id, timeout=15):
        """The message of the ERROR server's fault, or '' if none comes:
        Nova saves the state before its fault decorator records why."""
        deadline = time.monotonic() + timeout
        while True:
            server = self.admin.compute.get_server(server_id)
            message = (server.fault or {}).get('message', '')
            if message or time.monotonic() > deadline:
                return message
            time.sleep(POLL)

    def _last_action(self, server_id):
        """What Nova recorded of the server's last action, its events'
        results and the end of a failed event's traceback: why an
        operation ended otherwise than asked."""
        compute = self.admin.compute
        actions = sorted(compute.server_actions(server_id),
                         key=lambda action: action.start_time)
        if not actions:
            return 'no action recorded'
        action = compute.get_server_action(actions[-1].request_id,
                                           server_id)
        events = ['%s %s%s' % (event.event, event.result,
                               ': ' + event.traceback.strip()[-600:]
                               if event.traceback else '')
                  for event in action.events or ()]
        return 'its last action, %s (%s): %s' % (
            action.action, action.request_id,
            '; '.join(events) or 'no event')

    def reach(self, slot):
        """The server's page through its floating IP."""
        [port] = self.admin.network.ports(device_id=slot.server_id)
        ip = self.demo.network.get_ip(slot.floating_ip)
        if ip.port_id != port.id:
            self.demo.network.update_ip(ip, port_id=port.id)
        url = 'http://%s/' % ip.floating_ip_address
        deadline = time.monotonic() + REACH_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as page:
                    if page.read().startswith(b'hello from'):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.fail('%s: server %s ACTIVE but %s does not answer' % (
                    slot, slot.server_id, url))
            time.sleep(0.5)

    def _snapshots_done(self):
        """The soak's snapshots deleted, as their owner would; those Nova
        left unfinished counted."""
        for image in self.snapshots:
            found = self.demo.image.find_image(image.id)
            if found is not None and found.status in audit.UNFINISHED_IMAGE:
                self.counts['snapshot left %s in Glance' % found.status] += 1
            self.demo.image.delete_image(image, ignore_missing=True)
        self.snapshots = []

    def _orphans(self):
        """The audit, given a little time: Neutron and OVN finish a delete
        after Nova does."""
        deadline = time.monotonic() + 30
        while True:
            found = audit.orphans(self.layout, self.admin)
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(1)

    def _delete(self, slot):
        self.operate(Fault(), slot, 'delete')

    def forget_large_image(self):
        """The engine's copy of the large image removed, so that a boot
        downloads it (no container uses it between Glance faults)."""
        with docker.APIClient(base_url=docker_service.URL) as api:
            try:
                api.remove_image(images.glance_reference(
                    self.large_image.id))
            except docker.errors.NotFound:
                pass

    def report(self, line):
        self.last = line
        self.out(line, flush=True)

    def fail(self, message):
        raise SoakFailure('cycle %d (seed %d), after "%s": %s' % (
            self.cycle, self.seed, self.last, message))


def _chunks(data, size=1 << 20):
    for offset in range(0, len(data), size):
        yield data[offset:offset + size]


def _large_web_server(client, tag):
    """The web server image with LARGE_IMAGE_BYTES of random data."""
    filler = sample_image.regular('var/filler', random.randbytes(
        LARGE_IMAGE_BYTES))
    return sample_image.build(client, tag, sample_image.WEB_COMMAND,
                              [filler])


def run(layout, cycles, seed=None, seconds=None, out=print,
        each_once=False):
    """Run the soak; returns (counts, seconds). Raises SoakFailure.
    ``each_once``: end once every kind has had its turn (the short form),
    ``cycles`` being then a bound."""
    seed = random.SystemRandom().randrange(2 ** 32) if seed is None else seed
    seconds = seconds or 60 * cycles
    soak = Soak(layout, seed, out)
    out('soak: %d cycles, seed %d (replay with --seed %d), budget %d s' % (
        cycles, seed, seed, seconds), flush=True)
    faults = [f for f in FAULTS if f.applies(soak)]
    for fault in FAULTS:
        if fault not in faults:
            out('  not injected: %s (not started by the cloud)' % fault.name)
    schedule = [None, *faults]
    began = time.monotonic()
    soak.set_up()
    turn = tries = 0
    try:
        for soak.cycle in range(1, cycles + 1):
            # Each kind in turn; one that missed its moment (the operation
            # was over before the fault could hit it) comes again, twice.
            tries += 1
            if soak.run_cycle(schedule[turn]) or tries == MAX_TRIES:
                turn, tries = (turn + 1) % len(schedule), 0
                if each_once and turn == 0:
                    break
            if time.monotonic() - began > seconds:
                soak.fail('over the time budget of %d s' % seconds)
    finally:
        soak.tear_down()
    elapsed = time.monotonic() - began
    leftovers = audit.orphans(layout, soak.admin)
    if leftovers:
        soak.fail('left after the tear-down: %s' % leftovers)
    out('soak: %d cycles in %.0f s (seed %d), nothing left' % (
        soak.cycle, elapsed, seed))
    for key in sorted(soak.counts):
        out('  %-60s %d' % (key, soak.counts[key]))
    return soak.counts, elapsed
