"""The real cloud (python -m novadocker_cloud): how long it takes to come
up with its state kept, how much memory all its processes hold, and how
long a server takes from POST /servers to ACTIVE through every real
service, one at a time and ten at once, beside the part of it that is the
driver's spawn (nova-compute's own "Took N seconds to spawn" lines, which
include the wait for Neutron's network-vif-plugged).

Each boot is divided into phases (BOOT): the client's POST, Nova's
conductor, scheduler and Placement up to the claim on the compute node,
the port's binding in Neutron with the image check and the engine's
create, the engine's start, the driver's plugging, the wait for Neutron's
network-vif-plugged, Nova recording ACTIVE, and the client seeing it. The
marks are nova-compute's log lines of the instance and the engine's
events, on one clock (one machine); Neutron's own time for the port's
update is read from its API's request log. Beside the phases, the CPU
time each of the cloud's processes spent while the servers booted, per
boot, says which service is the floor on two cores (the client's looks
are in nova-api's). A third way boots, one at a time, images the host
lacks (FIRST_BOOT_PAYLOAD_MIB of their own bytes each): the driver loads
them while Nova creates the ports.
"""

import collections
import concurrent.futures
import contextlib
import functools
import io
import os
import re
import signal
import statistics
import subprocess
import sys
import time

from benchmarks import report
from benchmarks import timeline
from novadocker.virt.docker import images
from novadocker_cloud import audit
from novadocker_cloud import clouds
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import orchestrator
from novadocker_cloud import sample_image
from novadocker_cloud import status
from novadocker_cloud.services import neutron
from tests.fixtures import polling

SPAWN_TOOK = re.compile(r'\[instance: ([0-9a-f-]+)\] Took ([0-9.]+) seconds '
                        r'to spawn the instance on the hypervisor')
BOOT = timeline.Plan(
    log_marks=(('claimed', 1, re.compile('^Claim successful')),
               ('plugged', 1, re.compile(r'^Attached \d+ port')),
               ('spawned', 1, re.compile('^Spawned container')),
               ('built', 1, re.compile(r'^Took [0-9.]+ seconds to build'))),
    event_marks=(('created', 1, 'container', 'create'),
                 ('started', 1, 'container', 'start')),
    phases=(('POST /servers', 'accepted'),
            ('conductor, scheduler, Placement, claim', 'claimed'),
            ('port binding, image, engine create', 'created'),
            ('engine start', 'started'),
            ('port plugging', 'plugged'),
            ('waiting for network-vif-plugged', 'spawned'),
            ('Nova records ACTIVE', 'built')),
    last_phase='until the client sees ACTIVE')
# Neutron's API (uWSGI's request log): the port update that binds it.
PORT_UPDATE = re.compile(r'\] PUT /v2\.0/ports/([0-9a-f-]{36}) => .* in '
                         r'(\d+) msecs')
# Shown beside the phases, not one of them: it overlaps the next.
PORT_UPDATE_SHARE = "of which Neutron's port update"
CONCURRENT = 10
# Images the host lacks, booted once each: their unique payload makes the
# engine load every byte (a layer it has is not written again).
FIRST_BOOTS = 5
FIRST_BOOT_PAYLOAD_MIB = 128
LOADED = re.compile(r'\[instance: [0-9a-f-]+\] Loaded image ([0-9a-f-]+) '
                    r'.* in ([0-9.]+) s, ')
ONE_AT_A_TIME = 'one at a time'
FIRST = 'first boot of an image'
AT_ONCE = '%d at once'
CPU_SHOWN = 0.02
POLL = 0.05
FAILURE_LOOK = 2
BOOT_TIMEOUT = 180
PLOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                    'cloud-boot-phases.png')


def _bring_up(log_path):
    began = time.monotonic()
    log = open(log_path, 'w')
    launcher = subprocess.Popen([sys.executable, '-m', 'novadocker_cloud',
                                 'up'], cwd=cloud_layout.REPO, stdout=log,
                                stderr=subprocess.STDOUT)
    while True:
        with open(log_path) as f:
            text = f.read()
        if '] serving.' in text:
            return launcher, time.monotonic() - began
        if launcher.poll() is not None:
            raise RuntimeError('the cloud did not come up:\n' + text)
        time.sleep(0.2)


def _image(conn, payload_mib=0):
    """The demo's web server image in Glance, with a file of
    ``payload_mib`` MiB of random bytes if asked."""
    extra = [sample_image.regular('payload', os.urandom(
        payload_mib * 2 ** 20))] if payload_mib else []
    data = sample_image.saved('novadocker-bench/web:latest', functools.partial(
        sample_image.web_server, extra_entries=extra))
    return conn.image.create_image(
        name='bench-web', container_format='docker', disk_format='raw',
        data=io.BytesIO(data), allow_duplicates=True, wait=True)


def _boot(conn, image, flavor, network, name):
    """One boot: the server, and time.time() of its POST, of the answer
    and of the first look that found it ACTIVE.

    The look, every POLL s, is the list of servers of that name and status
    ACTIVE, which nova-api answers from its databases alone. A GET of the
    server also asks Neutron for the port's security groups (two calls):
    looked at that often, those calls took the CPU of the two cores from
    the boot they measured. A GET every FAILURE_LOOK s catches a failure.
    """
    posted = time.time()
    server = conn.compute.create_server(
        name=name, image_id=image.id, flavor_id=flavor.id,
        networks=[{'uuid': network.id}])
    accepted = time.time()
    failure_look = accepted + FAILURE_LOOK
    while True:
        if any(conn.compute.servers(details=False, status='ACTIVE',
                                    name='^%s$' % name)):
            return server, {'posted': posted, 'accepted': accepted,
                            'active': time.time()}
        if time.time() > failure_look:
            server = conn.compute.get_server(server)
            if server.status == 'ERROR':
                raise RuntimeError('boot failed: %s' % server.fault)
            if time.time() > accepted + BOOT_TIMEOUT:
                raise RuntimeError('boot not ACTIVE after %d s: %s' % (
                    BOOT_TIMEOUT, server.status))
            failure_look = time.time() + FAILURE_LOOK
        time.sleep(POLL)


class Boots:
    """Servers booted through the API, their times, then deleted."""

    def __init__(self, layout, conn, image):
        self.layout, self.conn, self.image = layout, conn, image
        self.flavor = conn.compute.find_flavor('docker.small')
        self.network = conn.network.find_network('private')
        self.times = {}  # server id -> its marks
        self.count = 0
        # way of booting -> {process: CPU seconds spent while booting}
        self.cpu = collections.defaultdict(collections.Counter)

    def one_at_a_time(self, count):
        """``count`` boots, each on a quiet cloud: the previous server's
        delete finished (its port gone) and Neutron's event interval passed
        since its last event for Nova, which would hold this boot's
        network-vif-plugged back."""
        return [self._boot_and_delete() for _ in range(count)]

    def at_once(self, count):
        """``count`` boots at once: their ids and the boots per second
        from the first POST to the last ACTIVE."""
        with concurrent.futures.ThreadPoolExecutor(count) as pool, \
                self._cpu_of(AT_ONCE % count):
            servers = list(pool.map(lambda _: self._boot(), range(count)))
        marks = [self.times[s.id] for s in servers]
        rate = count / (max(m['active'] for m in marks) -
                        min(m['posted'] for m in marks))
        for server in servers:
            self._delete(server)
        return [s.id for s in servers], rate

    def first_boots(self, count, payload_mib):
        """``count`` boots one at a time, each of a new image of
        ``payload_mib`` MiB the engine lacks (removed from Glance and the
        engine afterwards): their ids and the driver's load of each image,
        in s."""
        ids, image_ids = [], set()
        for _ in range(count):
            image = _image(self.conn, payload_mib)
            image_ids.add(image.id)
            try:
                ids.append(self._boot_and_delete(image))
            finally:
                self.conn.image.delete_image(image)
                with audit.nodes(self.layout)[0].engine() as engine:
                    engine.remove_image(images.glance_reference(image.id))
        with open(self.layout.log('nova-compute')) as f:
            loads = [float(s) for loaded, s in LOADED.findall(f.read())
                     if loaded in image_ids]
        return ids, loads

    def _boot(self, image=None):
        self.count += 1
        server, marks = _boot(self.conn, image or self.image, self.flavor,
                              self.network, 'bench-%d' % self.count)
        self.times[server.id] = marks
        [port] = self.conn.network.ports(device_id=server.id)
        marks['port'] = port.id
        return server

    def _boot_and_delete(self, image=None):
        with self._cpu_of(ONE_AT_A_TIME if image is None else FIRST):
            server = self._boot(image)
        self._delete(server)
        self._wait_for_port_delete(self.times[server.id]['port'])
        time.sleep(neutron.SEND_EVENTS_INTERVAL)
        return server.id

    @contextlib.contextmanager
    def _cpu_of(self, way):
        """Adds the CPU time each of the cloud's processes spends inside
        the block to ``way``'s account."""
        before = status.cpu_seconds(self.layout)
        yield
        for name, seconds in status.cpu_seconds(self.layout).items():
            self.cpu[way][name] += max(0.0, seconds - before.get(name, 0))

    def cpu_per_boot(self, way, boots):
        """{process: CPU seconds per boot} for ``way``, most first, of
        the processes that spent at least CPU_SHOWN s per boot."""
        return {name: seconds / boots
                for name, seconds in self.cpu[way].most_common()
                if seconds / boots >= CPU_SHOWN}

    def _wait_for_port_delete(self, port_id):
        if not polling.eventually(
                lambda: self.conn.network.find_port(port_id) is None,
                timeout=BOOT_TIMEOUT, interval=0.2):
            raise RuntimeError('port %s outlived its server' % port_id)

    def _delete(self, server):
        self.conn.compute.delete_server(server)
        self.conn.compute.wait_for_delete(server, interval=0.2)

    def clean(self):
        """Delete what a failed boot left."""
        for server in self.conn.compute.servers(name='^bench-'):
            self._delete(server)

    def seconds(self, server_id):
        marks = self.times[server_id]
        return marks['active'] - marks['posted']

    def phases(self, server_id):
        """{phase: seconds} of one boot, and Neutron's port update as
        PORT_UPDATE_SHARE."""
        marks = self.times[server_id]
        with audit.nodes(self.layout)[0].engine() as engine:
            found = BOOT.marks({1: self.layout.log('nova-compute')},
                               {1: engine}, server_id, marks['posted'],
                               marks['active'])
        found['accepted'] = marks['accepted']
        steps = dict(BOOT.split(found, marks['posted'], marks['active']))
        with open(self.layout.log('neutron-api'), errors='replace') as f:
            updates = [int(ms) for port, ms in PORT_UPDATE.findall(f.read())
                       if port == marks['port']]
        if updates:
            # The first: the binding (later ones are the delete's).
            steps[PORT_UPDATE_SHARE] = updates[0] / 1000
        return steps


def _phase_medians(boots, server_ids):
    """{phase: median seconds} over ``server_ids``, in BOOT's order. A boot
    missing a mark (its phases merged, timeline.Plan.split) is left out,
    unless every boot misses one: a median mixing its merged phase with the
    others' would count it as nothing in the phases it holds."""
    per_boot = [boots.phases(i) for i in server_ids]
    whole = [s for s in per_boot
             if not any(timeline.MERGED in p for p in s)]
    per_boot = whole or per_boot
    names = sorted({p for steps in per_boot for p in steps
                    if p != PORT_UPDATE_SHARE}, key=BOOT.order)
    medians = {p: statistics.median(s.get(p, 0) for s in per_boot)
               for p in names}
    updates = [s[PORT_UPDATE_SHARE] for s in per_boot
               if PORT_UPDATE_SHARE in s]
    if updates:
        medians[PORT_UPDATE_SHARE] = statistics.median(updates)
    return medians


def plot_phases(breakdowns, path):
    """One stacked bar per way of booting: its phases' medians."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    fig, ax = pyplot.subplots(figsize=(9, 4))
    names = sorted({p for b in breakdowns.values() for p in b
                    if p != PORT_UPDATE_SHARE}, key=BOOT.order)
    for row, (label, medians) in enumerate(breakdowns.items()):
        left = 0
        for number, name in enumerate(names):
            width = medians.get(name, 0)
            ax.barh(row, width, left=left, color='C%d' % number,
                    label=name if row == 0 else None)
            left += width
    ax.set_yticks(range(len(breakdowns)), list(breakdowns))
    ax.set_xlabel('seconds (median of each phase)')
    ax.set_title('POST /servers -> ACTIVE through the real cloud')
    ax.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.2),
              ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)


def run(boots):
    layout = cloud_layout.Layout()
    if orchestrator.running(layout):
        raise RuntimeError('stop the running cloud first (python -m '
                           'novadocker_cloud stop): the benchmark times '
                           'its bring-up')
    launcher, up_seconds = _bring_up('/tmp/novadocker-bench-cloud.log')
    try:
        idle_mib = status.memory_of(layout) / status.MIB
        conn = clouds.connect(layout, 'demo')
        image = _image(conn)
        bench = Boots(layout, conn, image)
        try:
            # The first boot loads the image into the engine: not counted.
            bench.one_at_a_time(1)
            sequential = bench.one_at_a_time(boots)
            first_ids, loads = bench.first_boots(min(FIRST_BOOTS, boots),
                                                 FIRST_BOOT_PAYLOAD_MIB)
            concurrent_ids, rate = bench.at_once(min(CONCURRENT, boots))
        finally:
            bench.clean()
            conn.image.delete_image(image)
        busy_mib = status.memory_of(layout) / status.MIB
        with open(layout.log('nova-compute')) as f:
            spawn = [float(took) for uuid, took in
                     SPAWN_TOOK.findall(f.read()) if uuid in sequential]
        post_to_active = [bench.seconds(i) for i in sequential]
        first_boot = [bench.seconds(i) for i in first_ids]
        ways = {ONE_AT_A_TIME: sequential,
                AT_ONCE % len(concurrent_ids): concurrent_ids,
                FIRST: first_ids}
        breakdowns = {way: _phase_medians(bench, ids)
                      for way, ids in ways.items()}
        cpu = {way: bench.cpu_per_boot(way, len(ids))
               for way, ids in ways.items()}
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=120)
    print('cloud: up in %.1fs, POST->ACTIVE median %.2fs p95 %.2fs, driver '
          'spawn median %.2fs, %d at once %.2f boots/s, PSS idle %.0f MiB, '
          'after boots %.0f MiB' % (
              up_seconds, statistics.median(post_to_active),
              _p95(post_to_active), statistics.median(spawn),
              len(concurrent_ids), rate, idle_mib, busy_mib))
    print('cloud: first boot of a %d MiB image the host lacks, POST->ACTIVE '
          'median %.2fs (the image loaded: %.2fs); its load by the driver '
          'median %.2fs' % (FIRST_BOOT_PAYLOAD_MIB, statistics.median(
              first_boot), statistics.median(post_to_active),
              statistics.median(loads)))
    for label, medians in breakdowns.items():
        print('cloud: boot phases, %s: %s' % (label, ', '.join(
            '%s %.2f s' % item for item in medians.items())))
    for way, seconds in cpu.items():
        print('cloud: CPU per boot, %s: %s (all %.2f s)' % (way, ', '.join(
            '%s %.2f s' % item for item in seconds.items()),
            sum(seconds.values())))
    os.makedirs(os.path.dirname(PLOT), exist_ok=True)
    plot_phases(breakdowns, PLOT)
    print('plot: %s' % PLOT)
    figures = [
        report.Figure('cloud bring-up, state kept', 's', [up_seconds], [],
                      'value<=', 60),
        report.Figure('cloud memory (PSS of every process), after boots',
                      'MiB', [busy_mib], [], 'value<=', 4096),
        report.Figure('POST /servers -> ACTIVE, real cloud (vs driver spawn)',
                      's', post_to_active, spawn, 'value<=', 2.5),
        report.Figure('POST /servers -> ACTIVE, first boot of a %d MiB image '
                      '(vs the image loaded)' % FIRST_BOOT_PAYLOAD_MIB, 's',
                      first_boot, post_to_active, 'value<=', None),
        report.Figure("the driver's load of that image", 's', loads, [],
                      'value<=', None),
        report.Figure('%d boots at once through the real cloud'
                      % len(concurrent_ids), 'boots/s', [rate], [],
                      'value<=', None),
    ]
    for label, medians in breakdowns.items():
        figures += [report.Figure('boot %s: %s' % (label, phase), 's',
                                  [seconds], [], 'value<=', None)
                    for phase, seconds in medians.items()]
    for way, per_process in cpu.items():
        figures += [report.Figure('CPU per boot %s: %s' % (way, name), 's',
                                  [seconds], [], 'value<=', None)
                    for name, seconds in per_process.items()]
    return figures


def _p95(samples):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
