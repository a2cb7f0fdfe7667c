"""Cold migration between the two nodes of the real cloud (issue #15),
beside an operator moving the same data by hand with the same engines and
the same Glance.

driver:  a server booted on node 1 writes N MB of /dev/urandom to its root
         filesystem (dd); ``migrate_server`` to node 2 is timed from the
         request to VERIFY_RESIZE, the confirm to ACTIVE. Meanwhile each
         node's nova-compute's resident memory is sampled (memory.Peaks):
         the move streams, so it may hold a few chunks more, never the
         layer. Its phases come from the two nova-compute logs and the two
         engines' events.
manual:  a container on node 1's engine from the same image, with the
         server's limits (its memory limit bounds how much of what dd
         wrote stays cached), the same N MB written; ``docker commit``,
         ``docker save`` streamed into a new Glance image, the image's data
         streamed into ``docker load`` on node 2's engine (docker SDK on
         each engine's socket, glanceclient as ``glance image-create`` and
         ``image-download`` use it, checksum verified). What an operator
         does by hand with the same services.
direct:  the same commit, then ``docker save | docker load`` between the
         two engines, no Glance; for information: what the image service
         costs.

The three alternate, their order reversed every round, after a first
round that is not kept (images.alternated). Targets: the driver no slower
than the manual move through Glance, and nova-compute's peak no more than
64 MiB above what it held before, whatever the size (no whole-layer copy
in memory).
"""

import os
import re
import statistics
import time
import types

import docker
import glanceclient
import psutil

from benchmarks import images as image_benchmark
from benchmarks import memory
from benchmarks import report
from benchmarks import timeline
from novadocker.virt.docker import images
from novadocker.virt.docker import imagestream
from novadocker.virt.docker import spec
from novadocker_cloud import audit
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud.services import node as second_node
from tests.cloud import conftest
from tests.cloud import helpers

CLOUD_LOG = '/tmp/novadocker-bench-moves-cloud.log'
SERVER = 'bench-move'
OPERATIONS = ('driver', 'glance', 'direct')
RATIO_TARGET = 1.0
MEMORY_TARGET_MIB = 64
# Seconds between two looks at the server's status.
POLL = 0.25
ENGINE_TIMEOUT = 600
COMPUTES = ('nova-compute', second_node.PREFIX + 'nova-compute')

# The seconds the driver logs its transfers took, reading from the engine
# (upload) or from Glance (load).
UPLOADED = re.compile(r'^Uploaded snapshot \S+: [0-9.]+ MB in ([0-9.]+) s')
LOADED = re.compile(r'^Loaded image .*: [0-9.]+ MB in ([0-9.]+) s')
# What marks each step of a move (timeline.Plan).
PLAN = timeline.Plan(
    log_marks=(('claimed', 2, re.compile('^Claim successful')),
               ('source begins', 1, re.compile(r'^Serial console on \S+ '
                                               'closed')),
               ('uploaded', 1, UPLOADED),
               ('port bound', 2, re.compile(r'^Updating port \S+ with '
                                            'attributes .*binding:host_id')),
               ('loaded', 2, LOADED),
               ('spawned', 2, re.compile('^Spawned container'))),
    event_marks=(('stopped', 1, 'container', 'stop'),
                 ('committed', 1, 'container', 'commit'),
                 ('saving', 1, 'image', 'save')),
    phases=(('API, conductor, scheduler, claim on node 2', 'claimed'),
            ('to node 1', 'source begins'),
            ('stop', 'stopped'),
            ('unplug, commit', 'committed'),
            ('docker save, to its first byte', 'saving'),
            ('docker save -> Glance', 'uploaded'),
            ('remove, to node 2, port binding', 'port bound'),
            ('network info, Glance -> docker load', 'loaded'),
            ('create, start, plug, vif-plugged', 'spawned')),
    last_phase='until VERIFY_RESIZE seen')
# Compared with the steps of the move by hand.
BY_HAND = (('commit', ('unplug, commit',)),
           ('save -> Glance', ('docker save, to its first byte',
                               'docker save -> Glance')),
           ('Glance -> load', ('network info, Glance -> docker load',)))


def run(sizes, rounds):
    """Bring up the two-node cloud (or use the one kept up), measure each
    size, stop it; the figures."""
    figures = []
    with conftest.two_nodes(CLOUD_LOG) as layout:
        cloud = conftest.connected(layout)
        found_before = audit.orphans(layout, cloud.admin)
        bench = Bench(cloud)
        image = cloud.upload_docker_image('bench-moves', cloud.demo)
        try:
            for size_mb in sizes:
                figures += bench.measure(image, size_mb, rounds)
        finally:
            cloud.demo.image.delete_image(image)
            bench.close()
        left = {kind: sorted(set(names) - set(found_before.get(kind, ())))
                for kind, names in audit.orphans(layout, cloud.admin).items()}
        print('moves: left behind: %s' % ({k: v for k, v in left.items()
                                           if v} or 'nothing'))
    return figures


class Bench:
    """The cloud, its two nodes' engines and nova-compute processes, and
    Glance as a client of its own sees it."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.operator = cloud.operator()
        self.nodes = [cloud_layout.Node(cloud.layout, n) for n in (1, 2)]
        self.engines = [docker.APIClient(base_url=view.engine_url,
                                         timeout=ENGINE_TIMEOUT)
                        for view in audit.nodes(cloud.layout)]
        assert len(self.engines) == 2, 'the cloud has one node'
        self.pids = [_compute_pid(cloud.layout, name) for name in COMPUTES]
        # The server's container's limits, as the driver sets them: the
        # memory limit bounds how much of what dd wrote stays cached.
        flavor = cloud.admin.compute.find_flavor(helpers.BOOT_FLAVOR)
        self.limits = spec.resource_limits(types.SimpleNamespace(
            memory_mb=flavor.ram, vcpus=flavor.vcpus), None)
        self.glance = glanceclient.Client(
            '2', session=cloud.admin.session,
            region_name=cloud_layout.REGION, interface='public')

    def close(self):
        for engine in self.engines:
            engine.close()

    def measure(self, image, size_mb, rounds):
        """Every operation on ``size_mb`` MB, ``rounds`` times; figures."""
        results = {operation: [] for operation in OPERATIONS}

        def run_one(operation):
            if operation == 'driver':
                return self.driver(image, size_mb)
            return self.by_hand(image, size_mb, operation == 'glance')
        for timings in image_benchmark.alternated(OPERATIONS, run_one,
                                                  rounds):
            for operation, result in timings.items():
                results[operation].append(result)
        return figures(size_mb, results, self.pids)

    def driver(self, image, size_mb):
        """One move through the API: its seconds, the confirm's, each
        nova-compute's RSS before and peak growth, and its phases."""
        first, second = self.nodes
        admin = self.cloud.admin.compute
        server = self.cloud.boot_on(self.operator, first, SERVER, image)
        try:
            code, output = self.cloud.execute('nova-' + server.id,
                                              *_dd(size_mb))
            assert code == 0, output
            os.sync()
            with memory.Peaks(self.pids) as peaks:
                since, began = time.time(), time.monotonic()
                admin.migrate_server(server, host=second.name)
                server = self._until(server, 'VERIFY_RESIZE')
                moved, began = time.monotonic() - began, time.monotonic()
                until = time.time()
                admin.confirm_server_resize(server)
                server = self._until(server, 'ACTIVE')
                confirmed = time.monotonic() - began
            assert server.hypervisor_hostname == second.name, server
        finally:
            self.cloud.delete(self.operator, server)
        found = marks(self.cloud.layout, self.engines, server.id, since,
                      until)
        steps = phases(found, since, until)
        print('moves: %d MB moved in %.1f s = %s (reading Glance: %s s); '
              'confirmed in %.1f s' % (
                  size_mb, moved, ' + '.join('%s %.1f' % s for s in steps),
                  found.get('loaded for', '?'), confirmed))
        return {'moved': moved, 'confirmed': confirmed,
                'before': dict(peaks.before), 'growth': {
                    pid: peaks.growth_mib(pid) for pid in self.pids},
                'phases': dict(steps)}

    def _until(self, server, status):
        return self.operator.compute.wait_for_server(
            server, status=status, wait=900, interval=POLL)

    def by_hand(self, image, size_mb, through_glance):
        """``docker commit`` of a stopped container holding ``size_mb`` MB
        on node 1, then its ``docker save`` through Glance (or straight,
        ``through_glance`` False) into ``docker load`` on node 2; the
        seconds of each step."""
        source, destination = self.engines
        base = images.glance_reference(image.id)
        assert source.images(name=base), (
            '%s is not in node 1\'s engine: a boot there loads it' % base)
        container = source.create_container(
            base, command=_dd(size_mb), host_config=source.create_host_config(
                network_mode='none', **self.limits))['Id']
        try:
            source.start(container)
            assert source.wait(container, timeout=ENGINE_TIMEOUT)[
                'StatusCode'] == 0, source.logs(container)
            steps = {}
            committed = _timed(steps, 'commit',
                               lambda: source.commit(container)['Id'])
            try:
                loaded = self._carry(steps, committed, through_glance)
                destination.remove_image(loaded)
            finally:
                source.remove_image(committed)
        finally:
            source.remove_container(container, force=True)
        print('moves: %d MB by hand%s in %.1f s = %s' % (
            size_mb, ' through Glance' if through_glance else '',
            sum(steps.values()), ' + '.join(
                '%s %.1f' % step for step in steps.items())))
        return steps

    def _carry(self, steps, committed, through_glance):
        """Each step's seconds into ``steps`` (from the first request to
        its engine or Glance); the id of the image loaded on node 2."""
        source, destination = self.engines

        def saved():
            return source.get_image(committed, chunk_size=images.CHUNK_SIZE)
        if not through_glance:
            return _timed(steps, 'save | load',
                          lambda: _load(destination, saved()))
        created = []

        def upload():
            created.append(self.glance.images.create(
                name='bench-moves-by-hand', container_format='docker',
                disk_format='raw')['id'])
            self.glance.images.upload(created[0],
                                      imagestream.ChunkReader(saved()))
        try:
            _timed(steps, 'save -> Glance', upload)
            # glanceclient verifies the checksum as the data passes.
            return _timed(steps, 'Glance -> load', lambda: _load(
                destination, iter(self.glance.images.data(created[0]))))
        finally:
            if created:
                self.glance.images.delete(created[0])


def _dd(size_mb):
    return ['dd', 'if=/dev/urandom', 'of=/payload', 'bs=1000000',
            'count=%d' % size_mb]


def _timed(steps, name, operation):
    """``operation()``, its seconds in ``steps[name]``; what it returned.
    Written pages are flushed first: no step pays for the one before."""
    os.sync()
    began = time.monotonic()
    result = operation()
    steps[name] = time.monotonic() - began
    return result


def _load(engine, chunks):
    """``docker load`` of ``chunks``; the id of the image it made."""
    loaded = None
    for message in engine.load_image(chunks, quiet=False):
        if message.get('error'):
            raise RuntimeError('docker load: %s' % message['error'])
        stream = message.get('stream', '')
        if stream.startswith(images.LOADED_ID):
            loaded = stream[len(images.LOADED_ID):].strip()
    assert loaded, 'docker load named no image'
    return loaded


def _compute_pid(layout, name):
    """The nova-compute process started under ``name`` (node 2's is run
    through nsenter and setpriv, which exec it)."""
    with open(layout.pidfile(name)) as f:
        root = psutil.Process(int(f.read()))
    for proc in [root] + root.children(recursive=True):
        if any(os.path.basename(arg) == 'nova-compute'
               for arg in proc.cmdline()[:2]):
            return proc.pid
    raise RuntimeError('no nova-compute under %s (pid %d)' % (name,
                                                              root.pid))


def marks(layout, engines, server_id, since, until):
    """{mark: time.time()} of the steps of the move of ``server_id``
    between ``since`` and ``until``, from its lines in both nova-compute
    logs and both engines' events; and the seconds the driver's transfers
    logged, as 'uploaded for' and 'loaded for'."""
    return PLAN.marks({number: layout.log(name) for number, name in
                       enumerate(COMPUTES, 1)}, dict(enumerate(engines, 1)),
                      server_id, since, until)


phases = PLAN.split


def figures(size_mb, results, pids):
    """The moves of one size as benchmark figures: the judged ratio and
    memory growth, the rest for information."""
    name = 'move %d MB' % size_mb
    driver, glance, direct = (results[o] for o in OPERATIONS)
    moved = [r['moved'] for r in driver]
    manual = [sum(steps.values()) for steps in glance]
    out = [
        report.Figure(name + ': driver vs manual through Glance', 's',
                      moved, manual, 'ratio<=', RATIO_TARGET),
        report.Figure(name + ': driver vs direct save | load', 's', moved,
                      [sum(steps.values()) for steps in direct], 'ratio<=',
                      None),
        report.Figure(name + ': confirm', 's',
                      [r['confirmed'] for r in driver], [], 'value<=', None),
    ]
    for number, pid in enumerate(pids, 1):
        out.append(report.Figure(
            '%s: nova-compute %d RSS growth (vs before)' % (name, number),
            'MiB', [r['growth'][pid] for r in driver],
            [r['before'][pid] / 1024 for r in driver], 'value<=',
            MEMORY_TARGET_MIB))
    for step, ours in BY_HAND:
        samples = [sum(r['phases'][p] for p in ours) for r in driver
                   if all(p in r['phases'] for p in ours)]
        if samples:
            out.append(report.Figure(
                '%s: %s, driver vs by hand' % (name, step), 's', samples,
                [steps[step] for steps in glance], 'ratio<=', None))
    phase_names = {p for r in driver for p in r['phases']}
    for phase in sorted(phase_names, key=PLAN.order):
        print('moves: %d MB, %-45s median %.1f s' % (
            size_mb, phase, statistics.median(
                r['phases'][phase] for r in driver
                if phase in r['phases'])))
    return out
