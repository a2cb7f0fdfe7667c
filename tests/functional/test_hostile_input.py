"""Hostile input (issue #18) through the driver on a real engine: images,
requests and names a hostile tenant can give Nova, each failing with the
exception Nova's compute manager turns into an aborted build whose fault
names the cause (or booting, where Nova would boot a VM), and leaving no
container, image, netns link or engine temporary file behind."""

from tests.fixtures import glance as glance_fixture  # noqa: I100 first

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import threading
import time
import tracemalloc

from nova import context as nova_context
from nova import exception
from nova import objects
from oslo_utils import units
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from novadocker.virt.docker import images
from novadocker.virt.docker import netns
from tests.fixtures import engine as engine_fixture
from tests.functional import test_driver as driver_tests
from tests.unit import factories

CONF = nd_conf.CONF
objects.register_all()
# What Nova 34's API makes of the server name "ünïcödé-сервер"
# (nova.utils.sanitize_hostname keeps Latin-1 letters).
NON_ASCII_HOSTNAME = 'ünïcödé'


@pytest.fixture
def drv(engine):
    with driver_tests.driver_on(engine) as docker_driver:
        yield docker_driver


@pytest.fixture
def glance():
    with glance_fixture.GlanceFixture() as service:
        yield service


@pytest.fixture
def api(drv):
    return drv.docker.api


@pytest.fixture
def context():
    return nova_context.get_admin_context()


def engine_images(api):
    return sorted((i['Id'], tuple(sorted(i['RepoTags'] or ())))
                  for i in api.images(all=True))


def engine_temporary_files(engine, settle=10):
    """What ``docker load`` unpacked into before it registered layers and
    still holds after ``settle`` s (an aborted load removes its directory
    just after the client saw the abort)."""
    tmp = os.path.join(engine.data_root, 'tmp')
    deadline = time.monotonic() + settle
    while True:
        left = sorted(os.listdir(tmp)) if os.path.isdir(tmp) else []
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def layer_tar(members):
    """A layer: ``members`` are TarInfo fields and content (or None)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for fields, content in members:
            info = tarfile.TarInfo(fields.pop('name'))
            for key, value in fields.items():
                setattr(info, key, value)
            if content is not None:
                info.size = len(content)
                content = io.BytesIO(content)
            tar.addfile(info, content)
    return out.getvalue()


def docker_save(api, config=None, layers=(), missing_layer=False):
    """A docker-save tarball of the busybox test image with ``config``
    merged into its image configuration, ``layers`` on top of its own and,
    with ``missing_layer``, one more named by the manifest but absent."""
    base = b''.join(api.get_image(engine_fixture.TEST_IMAGE))
    files = {}
    with tarfile.open(fileobj=io.BytesIO(base)) as tar:
        for member in tar:
            if member.isfile():
                files[member.name] = tar.extractfile(member).read()
    manifest = json.loads(files.pop('manifest.json'))[0]
    image_config = json.loads(files.pop(manifest['Config']))
    image_config['config'].update(config or {})
    for layer in layers:
        digest = hashlib.sha256(layer).hexdigest()
        files[digest + '/layer.tar'] = layer
        manifest['Layers'].append(digest + '/layer.tar')
        image_config['rootfs']['diff_ids'].append('sha256:' + digest)
        image_config.setdefault('history', []).append({'created_by': 'x'})
    if missing_layer:
        manifest['Layers'].append('0' * 64 + '/layer.tar')
        image_config['rootfs']['diff_ids'].append('sha256:' + '0' * 64)
    content = json.dumps(image_config).encode()
    manifest['Config'] = hashlib.sha256(content).hexdigest() + '.json'
    files[manifest['Config']] = content
    files['manifest.json'] = json.dumps([manifest]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sparse_layer(tmp_path, size, data):
    """A layer made by GNU tar --sparse: one file ``big`` of ``size``
    bytes, ``data`` at its start and holes after (nothing is written)."""
    root = tmp_path / 'sparse-root'
    root.mkdir()
    with open(root / 'big', 'wb') as f:
        f.write(data)
        f.truncate(size)
    subprocess.run(['tar', '--sparse', '--format=gnu', '-cf',
                    str(tmp_path / 'layer.tar'), '-C', str(root), 'big'],
                   check=True)
    return (tmp_path / 'layer.tar').read_bytes()


def add_image(glance, context, data, **properties):
    image = glance.create(context, {
        'name': 'hostile', 'container_format': 'docker',
        'disk_format': 'raw', 'properties': properties},
        data=io.BytesIO(data))
    return objects.ImageMeta.from_dict(glance.show(context, image['id']))


def created_containers(api, since):
    """The ids of every container the engine created since ``since``."""
    events = api.events(since=since, until=int(time.time()) + 1,
                        filters={'type': 'container', 'event': 'create'},
                        decode=True)
    return {event['id'] for event in events}


def spawn(drv, context, instance, meta):
    drv.spawn(context, instance, meta, [], None, {},
              network_info=factories.network_info_empty())


def refused_spawn(drv, api, engine, context, instance, meta, error):
    """Spawn, which must raise ``error``; check that nothing is left and
    return the exception."""
    images_before = engine_images(api)
    since = int(time.time())
    with pytest.raises(error) as e:
        spawn(drv, context, instance, meta)
    assert not drv.instance_exists(instance)
    assert engine_images(api) == images_before
    assert engine_temporary_files(engine) == []
    created = created_containers(api, since)
    assert not created & {c['Id'] for c in api.containers(all=True)}
    assert not created & set(os.listdir(netns.NETNS_DIR)
                             if os.path.isdir(netns.NETNS_DIR) else ())
    # What Nova's compute manager makes of it: an aborted build whose
    # fault (255 characters kept) names the cause.
    fault = exception.BuildAbortException(
        instance_uuid=instance.uuid, reason=e.value.format_message())
    print('fault: %s\n  engine: %r' % (fault, e.value.format_message()))
    return e.value, str(fault)[:255]


def test_a_small_image_declaring_a_huge_sparse_file_is_refused_unwritten(
        drv, api, engine, glance, context, tmp_path):
    """2 MB of tarball declaring a 20 GiB sparse file, a 1 GB flavor: the
    engine never starts writing it, nothing of it stays cached."""
    layer = sparse_layer(tmp_path, 20 * units.Gi, os.urandom(2 * units.Mi))
    meta = add_image(glance, context, docker_save(api, layers=[layer]))
    # The busybox layer (about 2 MB), the 2 MB of data, the sparse map.
    assert glance.images[meta.id]['size'] < 5 * units.Mi
    data = os.statvfs(engine.data_root)
    free_before = data.f_bavail * data.f_frsize
    instance = factories.instance()  # root_gb=1

    error, fault = refused_spawn(drv, api, engine, context, instance, meta,
                                 exception.FlavorDiskSmallerThanImage)

    sizes = re.search(r"aborted: Flavor's disk is too small for requested "
                      r"image. Flavor disk is (\d+) bytes, image is (\d+) "
                      r"bytes.$", fault)
    # The busybox layer before it counts too.
    assert int(sizes.group(1)) == units.Gi
    assert 20 * units.Gi < int(sizes.group(2)) < 20 * units.Gi + 10 * units.Mi
    data = os.statvfs(engine.data_root)
    assert free_before - data.f_bavail * data.f_frsize < 100 * units.Mi


def test_an_image_larger_than_the_root_disk_is_refused_when_cached(
        drv, api, engine, glance, context, monkeypatch):
    """Loaded already (for a flavor it fits), the engine's own size of it
    is compared: 64 MiB of layer fit root_gb 1, not a root disk the test
    makes 32 MiB."""
    layer = layer_tar([({'name': 'big'}, bytes(64 * units.Mi))])
    meta = add_image(glance, context, docker_save(api, layers=[layer]))
    instance = factories.instance()
    spawn(drv, context, instance, meta)
    drv.destroy(context, instance, None)
    monkeypatch.setattr(images, 'root_disk_bytes',
                        lambda flavor: 32 * units.Mi)

    error, fault = refused_spawn(drv, api, engine, context,
                                 factories.instance(), meta,
                                 exception.FlavorDiskSmallerThanImage)

    assert 'Flavor disk is %d bytes, image is ' % (32 * units.Mi) in fault
    api.remove_image(images.glance_reference(meta.id))


def test_a_member_through_an_absolute_symlink_goes_nowhere(
        drv, api, engine, glance, context, tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    layer = layer_tar([
        ({'name': 'escape', 'type': tarfile.SYMTYPE,
          'linkname': str(outside)}, None),
        ({'name': 'escape/planted'}, b'written through the link\n'),
    ])
    meta = add_image(glance, context, docker_save(api, layers=[layer]))

    error, fault = refused_spawn(drv, api, engine, context,
                                 factories.instance(), meta,
                                 exception.ImageUnacceptable)

    assert list(outside.iterdir()) == []
    assert 'Image %s is unacceptable: Docker refused it: ' % (
        meta.id) in fault
    assert 'escape/planted' in fault


def test_a_manifest_naming_a_missing_layer(drv, api, engine, glance,
                                           context):
    meta = add_image(glance, context, docker_save(api, missing_layer=True))
    error, fault = refused_spawn(drv, api, engine, context,
                                 factories.instance(), meta,
                                 exception.ImageUnacceptable)
    assert '0' * 64 + '/layer.tar' in fault


@pytest.mark.parametrize('user, words', [
    ('nobody42', 'unable to find user nobody42: no matching entries in '
                 'passwd file'),
    ('root:wheel42', 'unable to find group wheel42: no matching entries in '
                     'group file'),
])
def test_an_image_whose_user_does_not_exist(drv, api, engine, glance,
                                            context, user, words):
    meta = add_image(glance, context, docker_save(api, config={'User': user}))
    error, fault = refused_spawn(drv, api, engine, context,
                                 factories.instance(), meta,
                                 exception.ImageUnacceptable)
    assert fault.endswith('Image %s is unacceptable: Docker refused it: %s'
                          % (meta.id, words))


def test_an_image_whose_working_directory_is_relative(
        drv, api, engine, glance, context):
    meta = add_image(glance, context,
                     docker_save(api, config={'WorkingDir': 'relative/dir'}))
    error, fault = refused_spawn(drv, api, engine, context,
                                 factories.instance(), meta,
                                 exception.ImageUnacceptable)
    assert fault.endswith('Image %s is unacceptable: Docker refused it: '
                          'Cwd must be an absolute path' % meta.id)


@pytest.mark.parametrize('line', [';ls', '; rm -rf /', '/no/such/binary'])
def test_a_command_line_the_engine_cannot_run(drv, api, engine, glance,
                                              context, line):
    meta = add_image(glance, context, docker_save(api),
                     os_command_line=line)
    error, fault = refused_spawn(drv, api, engine, context,
                                 factories.instance(), meta,
                                 exception.ImageUnacceptable)
    word = line.split()[0]
    assert ('Docker refused it: exec: "%s": ' % word) in fault


def test_a_command_line_that_cannot_be_split(drv, api, engine, glance,
                                             context):
    meta = add_image(glance, context, docker_save(api),
                     os_command_line='sh -c "unbalanced')
    error, fault = refused_spawn(drv, api, engine, context,
                                 factories.instance(), meta,
                                 exception.ImageUnacceptable)
    assert 'os_command_line \'sh -c "unbalanced\' cannot be split' in fault


def test_a_metadata_key_with_a_space(drv, api, engine, glance, context):
    meta = add_image(glance, context, docker_save(api))
    instance = factories.instance(metadata={'bad key': 'v'})
    error, fault = refused_spawn(drv, api, engine, context, instance, meta,
                                 exception.InvalidInput)
    assert fault.endswith(
        "aborted: Invalid input received: metadata key 'bad key' cannot be "
        "an environment variable name in the container (only letters, "
        "digits and \"_\", not starting with a digit)")


def test_a_non_ascii_name_boots_with_a_valid_hostname(drv, api):
    instance = factories.instance(hostname=NON_ASCII_HOSTNAME)
    driver_tests.spawn(drv, instance)
    hosts = driver_tests.run_in(api, instance, 'cat', '/etc/hosts')
    assert driver_tests.run_in(api, instance, 'hostname') == 'unicode\n'
    assert '\tunicode\n' in hosts
    drv.destroy(None, instance, None)


def test_a_non_tar_blob_is_unacceptable(drv, api, engine, glance, context):
    meta = add_image(glance, context, b'\x7fELF' + os.urandom(4096))
    error, fault = refused_spawn(drv, api, engine, context,
                                 factories.instance(), meta,
                                 exception.ImageUnacceptable)
    assert 'not a docker-save tarball' in fault


def test_huge_console_output_is_read_bounded(drv, api):
    """100 MB written to stdout, most of it without a newline (the engine
    splits it into 16 KiB lines): the console shows its last 100 KiB, read
    in bounded time and memory."""
    instance = factories.instance()
    driver_tests.spawn(drv, instance, driver_tests.image_meta(
        os_command_line="sh -c 'head -c 100000000 /dev/zero | tr \"\\0\" x; "
                        "echo; echo END; exec sleep 1000'"))
    deadline = time.monotonic() + 120
    output = ''
    while not output.endswith('END\n') and time.monotonic() < deadline:
        time.sleep(1)
        output = drv.get_console_output(None, instance)
    tracemalloc.start()
    began = time.monotonic()
    output = drv.get_console_output(None, instance)
    elapsed = time.monotonic() - began
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print('console: %d characters in %.2f s, peak %d bytes allocated'
          % (len(output), elapsed, peak))
    assert output.endswith('x\nEND\n')
    assert len(output) == driver.MAX_CONSOLE_BYTES
    assert peak < 2 * units.Mi
    assert elapsed < 10
    drv.destroy(None, instance, None)


def test_a_flood_of_boots_good_and_hostile(drv, api, engine, glance,
                                           context):
    """Twelve boots at once, half of them of an image whose User does not
    exist: the good ones run, the others fail as one alone does, and none
    disturbs another (the hostile image, loaded once for all of them, is
    removed only by a boot that loaded it)."""
    bad = add_image(glance, context,
                    docker_save(api, config={'User': 'nobody42'}))
    good = driver_tests.image_meta()
    instances = [(factories.instance(), bad if i % 2 else good)
                 for i in range(12)]
    errors = {}
    start = threading.Barrier(len(instances))
    images_before = engine_images(api)

    def boot(instance, meta):
        start.wait()
        try:
            spawn(drv, context, instance, meta)
        except Exception as e:
            errors[instance.uuid] = e
    threads = [threading.Thread(target=boot, args=pair)
               for pair in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for instance, meta in instances:
        if meta is good:
            assert instance.uuid not in errors
            assert drv.instance_exists(instance)
            drv.destroy(None, instance, None)
        else:
            assert isinstance(errors[instance.uuid],
                              exception.ImageUnacceptable)
            assert 'nobody42' in str(errors[instance.uuid])
            assert not drv.instance_exists(instance)
    assert engine_images(api) == images_before
    assert api.containers(all=True,
                          filters={'label': client.LABEL_UUID}) == []


def test_a_host_failure_is_still_rescheduled(drv, api, glance, context):
    """The engine unreachable is this host's: DockerUnavailable, which
    Nova reschedules to another host."""
    meta = add_image(glance, context, docker_save(api))
    real_url = CONF.docker.host_url
    CONF.set_override('host_url', 'unix:///nonexistent/docker.sock',
                      group='docker')
    CONF.set_override('engine_restart_wait', 0, group='docker')
    drv.docker._api = None
    try:
        with pytest.raises(client.DockerUnavailable):
            spawn(drv, context, factories.instance(), meta)
    finally:
        CONF.set_override('host_url', real_url, group='docker')
        CONF.clear_override('engine_restart_wait', group='docker')
        drv.docker._api = None
