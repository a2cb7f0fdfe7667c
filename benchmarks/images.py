"""Throughput and client memory of the Glance image handler vs the docker CLI.

load:            ``images.ensure()`` streaming a Glance image into the
                 engine, its sha512 verified as it streams (by glanceclient's
                 own code, as nova's download does), against ``docker load
                 -i`` of the same tarball (which verifies nothing).
load-unverified: the same from an image without checksum: the difference
                 is what verification costs.
save:            ``images.snapshot()`` (commit, then ``docker save``
                 streamed to the image service), against ``docker commit``
                 + ``docker save -o``.

Both run in the same process and engine, on the same image, alternating, so
that a noisy machine skews both alike. The image service is
tests.fixtures.glance, which keeps bytes in files: like the CLI, it reads
and writes the local disk; it does not hash snapshot uploads, since real
Glance does that on its own server. Memory is the peak RSS growth of this
process during one operation (VmHWM after resetting it, minus VmRSS before).

Targets: client memory growth <= 32 MiB whatever the image size, and
>= 0.9x the CLI's throughput.
"""

import os
import shutil
import subprocess
import tempfile
import time
import uuid

from nova import context as nova_context
from nova import objects

from benchmarks import memory
from benchmarks import report
from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import images
from tests.fixtures import engine as engine_fixture
from tests.fixtures import glance as glance_fixture

DOCKER_CLI = shutil.which('docker') or '/usr/bin/docker'
BENCH_IMAGE = 'novadocker-bench/random:latest'
MIB = 1 << 20
MEMORY_TARGET_MIB = 32
THROUGHPUT_TARGET = 0.9
LOADS = ('load', 'load-unverified')


def build_image(api, size_mb, layers=3):
    """A test image plus ``layers`` layers of random data, ``size_mb`` MB in
    all (random so that nothing compresses or deduplicates)."""
    image = engine_fixture.TEST_IMAGE
    for layer in range(layers):
        container = api.create_container(image, command=[
            'sh', '-c', 'head -c %d /dev/urandom > /data%d'
            % (size_mb * 10 ** 6 // layers, layer)])['Id']
        api.start(container)
        api.wait(container)
        repository, tag = BENCH_IMAGE.rsplit(':', 1)
        image = api.commit(container, repository=repository, tag=tag)['Id']
        api.remove_container(container)
    return image


def cli(engine, *args):
    return subprocess.run([DOCKER_CLI, '-H', engine.url] + list(args),
                          check=True, capture_output=True,
                          text=True).stdout.strip()


def measured(operation):
    """(seconds, peak RSS growth in MiB) of ``operation()``.

    Each operation writes hundreds of MB (the engine's layers or export,
    the saved tarball); the kernel writes them back to disk later, slowing
    whatever runs then. Flushing them first means no operation pays for the
    one before it.
    """
    os.sync()
    memory.reset_peak()
    before = memory.status_kib('VmRSS')
    started = time.monotonic()
    operation()
    seconds = time.monotonic() - started
    return seconds, (memory.status_kib('VmHWM') - before) / 1024


def alternated(operations, run_one, iterations):
    """{operation: run_one(operation)} for each of ``iterations`` rounds.

    A first round warms up and is not kept: the engine's first export or
    load of an image is faster than any later one, which would favour
    whichever runs first. The order reverses every round for the same
    reason.
    """
    for round_number in range(iterations + 1):
        order = operations[::-1] if round_number % 2 else operations
        timings = {operation: run_one(operation) for operation in order}
        if round_number:
            yield timings


def remove_loaded(api, image_ids):
    """Remove every tag of the benchmark image: the next load is a full one.
    """
    for reference in [images.glance_reference(i) for i in image_ids] + [
            BENCH_IMAGE]:
        if api.images(name=reference):
            api.remove_image(reference)


def run(engine, workdir, size_mb, iterations):
    nd_conf.CONF.set_override('host_url', engine.url, group='docker')
    objects.register_all()
    context = nova_context.get_admin_context()
    docker_client = client.DockerClient()
    api = docker_client.api
    build_image(api, size_mb)
    tarball = os.path.join(workdir, 'image.tar')
    cli(engine, 'save', '-o', tarball, BENCH_IMAGE)
    size = os.path.getsize(tarball)
    results = {operation: ([], [], []) for operation in LOADS + ('save',)}

    with glance_fixture.GlanceFixture() as glance:
        image_metas = {}
        for operation in LOADS:
            # The unverified image has no checksum: its row shows what the
            # verification costs. Snapshots then upload unhashed too: the
            # hashing is real Glance's, on its own server.
            glance.record_hashes = operation == 'load'
            with open(tarball, 'rb') as data:
                image_metas[operation] = objects.ImageMeta.from_dict(
                    glance.create(context, {
                        'name': 'bench', 'container_format': 'docker',
                        'disk_format': 'raw'}, data=data))
        image_ids = [meta.id for meta in image_metas.values()]

        def load(operation):
            remove_loaded(api, image_ids)
            if operation == 'cli':
                return measured(lambda: cli(engine, 'load', '-i', tarball))
            return measured(lambda: images.ensure(
                docker_client, context, image_metas[operation]))
        for timings in alternated(('cli',) + LOADS, load, iterations):
            for operation in LOADS:
                driver, cli_times, growth = results[operation]
                driver.append(timings[operation][0])
                growth.append(timings[operation][1])
                cli_times.append(timings['cli'][0])

        instance = objects.Instance(uuid=str(uuid.uuid4()), project_id='p',
                                    os_type=None)
        name = client.container_name(instance.uuid)
        api.create_container(images.ensure(
            docker_client, context, image_metas['load']), name=name)
        api.start(name)

        def save(operation):
            if operation == 'cli':
                saved = os.path.join(workdir, 'saved.tar')

                def commit_and_save():
                    committed = cli(engine, 'commit', name)
                    cli(engine, 'save', '-o', saved, committed)
                    cli(engine, 'rmi', committed)
                timing = measured(commit_and_save)
                os.unlink(saved)
                return timing
            snapshot = glance.create(context, {'name': 'snap'})
            timing = measured(lambda: images.snapshot(
                docker_client, context, instance, snapshot['id'],
                lambda **kw: None))
            glance.delete(context, snapshot['id'])
            return timing
        try:
            for timings in alternated(('cli', 'driver'), save, iterations):
                driver, cli_times, growth = results['save']
                driver.append(timings['driver'][0])
                growth.append(timings['driver'][1])
                cli_times.append(timings['cli'][0])
        finally:
            api.remove_container(name, force=True)
    return size, results


def figures(size, results):
    """Throughput (MB/s, driver vs CLI) and peak client memory growth of
    each operation, as benchmark figures."""
    out = []
    for operation, (driver, cli_times, growth) in results.items():
        out.append(report.Figure(
            'image %s, %d MB' % (operation, size // 10 ** 6), 'MB/s',
            [size / 10 ** 6 / t for t in driver],
            [size / 10 ** 6 / t for t in cli_times],
            'ratio>=', THROUGHPUT_TARGET))
        out.append(report.Figure(
            'image %s, %d MB: client memory growth'
            % (operation, size // 10 ** 6), 'MiB', growth, [], 'value<=',
            MEMORY_TARGET_MIB))
    return out


def measure(size_mb, iterations):
    """Run every image operation on a private engine; the figures."""
    workdir = tempfile.mkdtemp(prefix='novadocker-bench-')
    engine = engine_fixture.DockerEngine(
        base_dir=os.path.join(workdir, 'engine'))
    os.makedirs(engine.base_dir)
    engine.start()
    try:
        with engine.client() as api:
            engine_fixture.build_test_image(api)
        return figures(*run(engine, workdir, size_mb, iterations))
    finally:
        engine.stop()
        subprocess.run(['rm', '-rf', workdir], check=False)
