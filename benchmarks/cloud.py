"""The real cloud (python -m novadocker_cloud): how long it takes to come
up with its state kept, how much memory all its processes hold, and how
long a server takes from POST /servers to ACTIVE through every real
service, beside the part of it that is the driver's spawn (nova-compute's
own "Took N seconds to spawn" lines, which include the wait for Neutron's
network-vif-plugged)."""

import io
import re
import signal
import statistics
import subprocess
import sys
import time

from benchmarks import report
from novadocker_cloud import clouds
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import orchestrator
from novadocker_cloud import sample_image
from novadocker_cloud import status

SPAWN_TOOK = re.compile(r'\[instance: ([0-9a-f-]+)\] Took ([0-9.]+) seconds '
                        r'to spawn the instance on the hypervisor')


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


def _image(conn):
    data = sample_image.saved('novadocker-bench/web:latest',
                              sample_image.web_server)
    return conn.image.create_image(
        name='bench-web', container_format='docker', disk_format='raw',
        data=io.BytesIO(data), allow_duplicates=True, wait=True)


def _boot(conn, image, flavor, network):
    """Seconds from POST /servers to ACTIVE (polled every 50 ms)."""
    began = time.monotonic()
    server = conn.compute.create_server(
        name='bench', image_id=image.id, flavor_id=flavor.id,
        networks=[{'uuid': network.id}])
    while True:
        server = conn.compute.get_server(server)
        if server.status == 'ACTIVE':
            return server, time.monotonic() - began
        if server.status == 'ERROR':
            raise RuntimeError('boot failed: %s' % server.fault)
        time.sleep(0.05)


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
        flavor = conn.compute.find_flavor('docker.small')
        network = conn.network.find_network('private')
        post_to_active, spawned = [], {}
        try:
            for _ in range(boots):
                server, seconds = _boot(conn, image, flavor, network)
                post_to_active.append(seconds)
                spawned[server.id] = None
                conn.compute.delete_server(server)
                conn.compute.wait_for_delete(server, interval=0.2)
        finally:
            conn.image.delete_image(image)
        busy_mib = status.memory_of(layout) / status.MIB
        with open(layout.log('nova-compute')) as f:
            for uuid, took in SPAWN_TOOK.findall(f.read()):
                if uuid in spawned:
                    spawned[uuid] = float(took)
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=120)
    spawn = [s for s in spawned.values() if s is not None]
    print('cloud: up in %.1fs, POST->ACTIVE median %.2fs p95 %.2fs, driver '
          'spawn median %.2fs, PSS idle %.0f MiB, after boots %.0f MiB' % (
              up_seconds, statistics.median(post_to_active),
              _p95(post_to_active), statistics.median(spawn), idle_mib,
              busy_mib))
    return [
        report.Figure('cloud bring-up, state kept', 's', [up_seconds], [],
                      'value<=', 60),
        report.Figure('cloud memory (PSS of every process), after boots',
                      'MiB', [busy_mib], [], 'value<=', 4096),
        report.Figure('POST /servers -> ACTIVE, real cloud (vs driver spawn)',
                      's', post_to_active, spawn, 'value<=', 5),
    ]


def _p95(samples):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
