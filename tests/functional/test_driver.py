"""DockerDriver against a real engine: what Nova asks, what the engine does.

Instances here have no ports; plugging is covered by the network tests and
Nova's generic suite (tests/nova_contract).
"""

import contextlib
import threading
import time
from unittest import mock

from docker import errors as docker_errors
from nova.compute import power_state
from nova.compute import vm_states
from nova import context as nova_context
from nova.compute import provider_tree
from nova import exception
from nova import objects
from nova.virt import fake
import os_resource_classes as orc
from oslo_utils import uuidutils
import pytest

from novadocker import conf as nd_conf
from novadocker.virt.docker import client
from novadocker.virt.docker import driver
from novadocker.virt.docker import images
from novadocker.virt.docker import moves
from novadocker.virt.docker import spec
from novadocker.virt.docker import states
from tests.fixtures import engine as engine_fixture
from tests.fixtures import faults
from tests.fixtures import glance as glance_fixture
from tests.fixtures import polling
from tests.unit import factories

CONF = nd_conf.CONF
IMAGE_ID = uuidutils.generate_uuid()
# Busybox's capability bits (linux/capability.h): what cap_drop removes.
CAP_MKNOD, CAP_SETPCAP, CAP_SETFCAP, CAP_CHOWN = 27, 8, 31, 0


@contextlib.contextmanager
def driver_on(engine):
    """A started DockerDriver on ``engine``, whose test image is Glance
    image IMAGE_ID; the test must leave no container behind."""
    CONF.set_override('host_url', engine.url, group='docker')
    CONF.set_override('soft_reboot_timeout', 1, group='docker')
    api = engine.client()
    api.tag(engine_fixture.TEST_IMAGE, images.GLANCE_REPOSITORY, IMAGE_ID)
    drv = driver.DockerDriver(fake.FakeVirtAPI())
    drv.init_host('testhost')
    yield drv
    drv.cleanup_host('testhost')
    leftovers = api.containers(all=True, filters={'label': client.LABEL_UUID})
    for c in leftovers:
        api.remove_container(c['Id'], force=True)
    # Gone already if a spawn found the image unusable (a bad command).
    with contextlib.suppress(docker_errors.NotFound):
        api.remove_image(images.glance_reference(IMAGE_ID))
    api.close()
    CONF.clear_override('host_url', group='docker')
    CONF.clear_override('soft_reboot_timeout', group='docker')
    CONF.clear_override('inject_key', group='docker')
    CONF.clear_override('engine_restart_wait', group='docker')
    assert not leftovers, 'the test left containers behind'


@pytest.fixture
def docker_driver(engine):
    with driver_on(engine) as drv:
        yield drv


def image_meta(container_format='docker', **props):
    return objects.ImageMeta.from_dict({
        'id': IMAGE_ID, 'name': 'glance-name-unknown-to-docker',
        'container_format': container_format, 'disk_format': 'raw',
        'properties': props})


def spawn(drv, instance, meta=None, **kwargs):
    with glance_fixture.GlanceFixture():
        drv.spawn(nova_context.get_admin_context(), instance,
                  meta or image_meta(), [], None, {},
                  network_info=factories.network_info_empty(), **kwargs)


def state(drv, instance):
    return drv.get_info(instance).state


def run_in(api, instance, *argv):
    exec_id = api.exec_create(client.container_name(instance.uuid),
                              list(argv))['Id']
    return api.exec_start(exec_id).decode()


def test_spawn_builds_the_container_nova_asked_for(docker_driver, engine):
    instance = factories.instance(hostname='web-1', memory_mb=64, vcpus=1,
                                  metadata={'ROLE': 'db'})
    spawn(docker_driver, instance)
    api = docker_driver.docker.api
    attrs = api.inspect_container('nova-' + instance.uuid)
    host = attrs['HostConfig']
    assert host['Memory'] == host['MemorySwap'] == 64 * 1024 * 1024
    assert (host['CpuShares'], host['CpuPeriod'], host['CpuQuota']) == (
        1024, 100000, 100000)
    assert host['PidsLimit'] == 4096
    assert host['NetworkMode'] == 'none'
    assert host['Privileged'] is False
    assert host['SecurityOpt'] == ['no-new-privileges']
    assert host['Binds'] is None and attrs['Mounts'] == []
    assert attrs['Config']['Labels'][client.LABEL_UUID] == instance.uuid
    assert state(docker_driver, instance) == power_state.RUNNING
    assert instance.name in docker_driver.list_instances()
    assert instance.uuid in docker_driver.list_instance_uuids()
    assert docker_driver.instance_exists(instance)

    # Seen from inside the container.
    assert run_in(api, instance, 'hostname').strip() == 'web-1'
    assert '127.0.1.1\tweb-1' in run_in(api, instance, 'cat', '/etc/hosts')
    assert run_in(api, instance, 'sh', '-c', 'echo $ROLE').strip() == 'db'
    status = run_in(api, instance, 'cat', '/proc/1/status')
    cap_eff = int([line for line in status.splitlines()
                   if line.startswith('CapEff:')][0].split()[1], 16)
    assert not cap_eff & (1 << CAP_MKNOD | 1 << CAP_SETPCAP |
                          1 << CAP_SETFCAP)
    assert cap_eff & 1 << CAP_CHOWN
    assert 'NoNewPrivs:\t1' in status
    docker_driver.destroy(None, instance, None)


def test_the_container_is_confined_seen_from_inside(docker_driver):
    instance = factories.instance(memory_mb=64)
    spawn(docker_driver, instance)
    api = docker_driver.docker.api

    def run(*argv):
        exec_id = api.exec_create('nova-' + instance.uuid, list(argv))['Id']
        output = api.exec_start(exec_id).decode()
        return api.exec_inspect(exec_id)['ExitCode'], output

    assert run('cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes') == (
        0, '%d\n' % (64 * 1024 * 1024))
    assert run('cat', '/sys/fs/cgroup/pids/pids.max') == (0, '4096\n')
    # Not privileged: no mounts, no new network devices.
    assert run('mount', '-t', 'tmpfs', 'none', '/mnt')[0] != 0
    assert run('ip', 'link', 'add', 'd0', 'type', 'dummy')[0] != 0
    # Nothing of the host is mounted but the engine's own per-container
    # resolv.conf, hostname and hosts files; no Docker socket anywhere.
    mounts = run('cat', '/proc/mounts')[1]
    host_files = {line.split()[1] for line in mounts.splitlines()
                  if line.startswith('/dev/')}
    assert host_files == {'/etc/resolv.conf', '/etc/hostname', '/etc/hosts'}
    assert 'docker.sock' not in mounts
    assert run('sh', '-c', 'ls -R / 2>/dev/null | grep -c docker.sock')[
        1].strip() == '0'
    docker_driver.destroy(None, instance, None)


def test_command_line_is_data_and_console_shows_output(docker_driver):
    instance = factories.instance()
    # The words after the script reach it as "$@": were a shell to parse
    # the command line, they would be expanded, split or run.
    spawn(docker_driver, instance, image_meta(
        os_command_line='sh -c \'echo "$@"; exec sleep 1000\' sh "a;b" '
                        '$HOME `id` && sleep'))
    for _ in range(50):
        output = docker_driver.get_console_output(None, instance)
        if output:
            break
        time.sleep(0.1)
    # echo got the words as arguments: no shell expanded or split them.
    assert output == 'a;b $HOME `id` && sleep\n'
    docker_driver.destroy(None, instance, None)


def test_console_output_is_capped(docker_driver):
    instance = factories.instance()
    line = 'x' * 99
    spawn(docker_driver, instance, image_meta(
        os_command_line="sh -c 'i=0; while [ $i -lt 3000 ]; do echo %s; "
                        "i=$((i+1)); done; echo END; sleep 1000'" % line))
    deadline = time.monotonic() + 20
    output = ''
    while not output.endswith('END\n') and time.monotonic() < deadline:
        output = docker_driver.get_console_output(None, instance)
        time.sleep(0.2)
    assert output.endswith('END\n')
    assert len(output) == driver.MAX_CONSOLE_BYTES
    docker_driver.destroy(None, instance, None)


def test_power_cycle(docker_driver):
    instance = factories.instance()
    spawn(docker_driver, instance)
    api = docker_driver.docker.api
    name = 'nova-' + instance.uuid

    def started_at():
        return api.inspect_container(name)['State']['StartedAt']

    # busybox sleep as PID 1 ignores SIGTERM: only the kill after the
    # timeout stops it.
    before = time.monotonic()
    docker_driver.power_off(instance, timeout=1)
    assert 1 <= time.monotonic() - before < 10
    assert state(docker_driver, instance) == power_state.SHUTDOWN
    docker_driver.power_on(None, instance, instance.get_network_info())
    assert state(docker_driver, instance) == power_state.RUNNING

    for reboot_type in ('SOFT', 'HARD'):
        first = started_at()
        docker_driver.reboot(None, instance, instance.get_network_info(),
                             reboot_type)
        assert started_at() != first
        assert state(docker_driver, instance) == power_state.RUNNING

    docker_driver.pause(instance)
    assert state(docker_driver, instance) == power_state.PAUSED
    docker_driver.unpause(instance)
    docker_driver.unpause(instance)  # not paused: nothing to do
    assert state(docker_driver, instance) == power_state.RUNNING
    docker_driver.suspend(None, instance)
    assert state(docker_driver, instance) == power_state.PAUSED
    docker_driver.resume(None, instance, instance.get_network_info())
    assert state(docker_driver, instance) == power_state.RUNNING
    docker_driver.soft_delete(instance)
    assert state(docker_driver, instance) == power_state.SHUTDOWN
    docker_driver.restore(instance)
    assert state(docker_driver, instance) == power_state.RUNNING

    api.stop(name, timeout=0)  # as after a host reboot
    docker_driver.resume_state_on_host_boot(
        None, instance, instance.get_network_info(), None)
    assert state(docker_driver, instance) == power_state.RUNNING
    docker_driver.destroy(None, instance, None)


def test_spawn_without_power_on_creates_a_stopped_container(docker_driver):
    instance = factories.instance()
    spawn(docker_driver, instance, power_on=False)
    assert state(docker_driver, instance) == power_state.SHUTDOWN
    docker_driver.destroy(None, instance, None)


def test_a_start_asked_while_the_engine_restarts_waits_for_it(
        docker_driver, engine):
    """dockerd is down for 2 s ([docker] engine_restart_wait is 30 s): the
    user's start is not failed for it."""
    instance = factories.instance()
    spawn(docker_driver, instance, power_on=False)
    engine.kill()
    threading.Timer(2, engine.start).start()
    began = time.monotonic()
    docker_driver.power_on(None, instance, instance.get_network_info())
    assert time.monotonic() - began >= 2
    assert state(docker_driver, instance) == power_state.RUNNING
    docker_driver.destroy(None, instance, None)


@pytest.fixture(scope='module')
def live_restore_engine():
    """An engine whose containers outlive its restarts, as the cloud's and
    production ones do."""
    engine = engine_fixture.DockerEngine(extra_args=['--live-restore'])
    engine.start()
    with engine.client() as api:
        engine_fixture.build_test_image(api)
    yield engine
    engine.stop()


def restart_on(engine, drv, action='start', delay=0.03):
    """Tell dockerd to stop ``delay`` s after the driver's next request to
    ``action`` leaves (an upgrade), and start it again once it has ended;
    returns the thread doing it."""
    restart = threading.Timer(delay,
                              lambda: (engine.terminate(), engine.start()))
    requests = faults.EngineRequests(drv.docker.api)
    requests.arm(faults.before(lambda request: restart.start()),
                 faults.request_to(action))
    return restart


def wait_running(drv, instance, timeout=60):
    deadline = time.monotonic() + timeout
    while state(drv, instance) != power_state.RUNNING:
        assert time.monotonic() < deadline, 'the instance did not run again'
        time.sleep(0.5)


@pytest.mark.parametrize('operation', ['spawn', 'power_on'])
def test_an_instance_the_engine_stops_on_its_way_down_runs_again(
        live_restore_engine, caplog, operation):
    """No other container runs: dockerd, told to stop 30 ms into the start,
    answers the start and then stops the container before it exits (live-
    restore notwithstanding). The boot or the user's start still succeeds,
    and once the engine is back the instance runs: started again by the
    operation if it saw the engine go, else by the event watcher."""
    instance = factories.instance()
    instance.host = CONF.host
    instance.vm_state = vm_states.ACTIVE
    instance.task_state = None
    # Ends on SIGTERM: the engine's stop then takes a moment, not the 10 s
    # it waits before SIGKILL.
    meta = image_meta(os_command_line='sh -c "trap \'exit 0\' TERM; '
                                      'while :; do sleep 1; done"')
    with driver_on(live_restore_engine) as drv, mock.patch.object(
            objects.Instance, 'get_by_uuid', return_value=instance):
        if operation == 'spawn':
            restart = restart_on(live_restore_engine, drv)
            spawn(drv, instance, meta)
        else:
            spawn(drv, instance, meta, power_on=False)
            restart = restart_on(live_restore_engine, drv)
            drv.power_on(None, instance, instance.get_network_info())
        restart.join()
        wait_running(drv, instance)
        assert ('went away while starting' in caplog.text
                or 'stopped this instance on its way down' in caplog.text)
        drv.destroy(None, instance, None)


def test_a_start_the_stopping_engine_drops_is_sent_again(
        live_restore_engine, caplog):
    """Another container runs: dockerd, told to stop 30 ms into the start,
    drops the start's connection without an answer and leaves the
    container created, most often with a containerd task it can no longer
    start. The user's start waits for the engine, sends the start again
    and, if it is refused so, makes the container anew with what it wrote.
    """
    api = live_restore_engine.client()
    other = api.create_container(engine_fixture.TEST_IMAGE)['Id']
    api.start(other)
    instance = factories.instance()
    instance.image_ref = IMAGE_ID  # as Nova records it: instance.image_meta
    try:
        with driver_on(live_restore_engine) as drv:
            spawn(drv, instance, power_on=False)
            drv.docker.put_archive(instance, '/',
                                   spec.authorized_keys_tar('written-key'))
            restart = restart_on(live_restore_engine, drv)
            drv.power_on(None, instance, instance.get_network_info())
            restart.join()
            assert state(drv, instance) == power_state.RUNNING
            assert 'went away while starting' in caplog.text
            assert 'written-key' in run_in(drv.docker.api, instance, 'cat',
                                           '/root/.ssh/authorized_keys')
            assert not drv.docker.image_exists(
                moves.moved_reference(instance))
            drv.destroy(None, instance, None)
    finally:
        api.remove_container(other, force=True)
        api.close()


def test_a_reboot_the_stopping_engine_cuts_short_completes(
        live_restore_engine, caplog):
    """dockerd, told to stop 30 ms into the reboot's stop, drops its
    connection without an answer; the stop is sent again to the engine
    once it is back (the container kept running: live-restore), and the
    reboot goes on (if the engine then refuses the start, the container is
    made anew from a commit of itself, as the start's test shows). A soft
    reboot: the image's PID 1 ignores SIGTERM, so the stop is still in
    flight for soft_reboot_timeout (1 s) when the engine goes; a hard
    one's SIGKILL sometimes ended it within the 30 ms."""
    instance = factories.instance()
    instance.image_ref = IMAGE_ID  # as Nova records it: instance.image_meta
    with driver_on(live_restore_engine) as drv:
        spawn(drv, instance)
        restart = restart_on(live_restore_engine, drv, 'stop')
        drv.reboot(None, instance, instance.get_network_info(), 'SOFT')
        restart.join()
        assert 'went away while stopping' in caplog.text
        assert state(drv, instance) == power_state.RUNNING
        drv.destroy(None, instance, None)


def test_destroy_is_idempotent(docker_driver):
    instance = factories.instance()
    spawn(docker_driver, instance)
    docker_driver.destroy(None, instance, None)
    docker_driver.destroy(None, instance, None)
    docker_driver.cleanup(None, instance, None)
    assert not docker_driver.instance_exists(instance)
    with pytest.raises(exception.InstanceNotFound):
        docker_driver.get_info(instance)
    assert instance.uuid not in docker_driver.list_instance_uuids()


@pytest.mark.parametrize('meta, metadata, error, words', [
    (image_meta(container_format='ami'), {}, exception.ImageUnacceptable,
     'container_format ami'),
    (image_meta(), {'bad-key': 'v'}, exception.InvalidInput,
     "'bad-key'"),
    (objects.ImageMeta.from_dict({'id': uuidutils.generate_uuid(),
                                  'container_format': 'docker'}), {},
     exception.ImageNotFound, 'could not be found'),
    (image_meta(os_command_line='/no/such/binary'), {},
     exception.ImageUnacceptable, 'exec: "/no/such/binary": '),
    (image_meta(os_command_line="sh -c 'echo cannot boot >&2; exit 3'"), {},
     exception.InstanceDeployFailure,
     'exited during boot with code 3; its last output: cannot boot'),
])
def test_failed_spawn_leaves_nothing(docker_driver, meta, metadata, error,
                                     words):
    instance = factories.instance(metadata=metadata)
    with pytest.raises(error) as e:
        spawn(docker_driver, instance, meta)
    assert words in str(e.value)
    assert not docker_driver.instance_exists(instance)


def test_inject_key(docker_driver):
    CONF.set_override('inject_key', True, group='docker')
    instance = factories.instance(key_data='ssh-ed25519 AAAAC3Nz test@key')
    spawn(docker_driver, instance)
    keys = run_in(docker_driver.docker.api, instance,
                  'cat', '/root/.ssh/authorized_keys')
    assert keys == 'ssh-ed25519 AAAAC3Nz test@key\n'
    docker_driver.destroy(None, instance, None)


def test_diagnostics_come_from_the_cgroups(docker_driver):
    instance = factories.instance(memory_mb=64)
    spawn(docker_driver, instance, image_meta(
        os_command_line="sh -c 'i=0; while [ $i -lt 20000 ]; do "
                        "i=$((i+1)); done; sleep 1000'"))
    time.sleep(0.5)
    legacy = docker_driver.get_diagnostics(instance)
    assert legacy['memory'] == 64 * 1024  # KiB, not bytes
    assert 0 < legacy['memory-rss'] < 64 * 1024
    assert legacy['cpu0_time'] > 1000000  # ns: the loop above ran
    diags = docker_driver.get_instance_diagnostics(instance)
    assert diags.memory_details.maximum == 64  # MiB
    assert diags.cpu_details[0].time == pytest.approx(
        legacy['cpu0_time'], rel=0.5)
    assert diags.state == 'running'
    docker_driver.destroy(None, instance, None)


def test_host_resources(docker_driver):
    resources = docker_driver.get_available_resource('testhost')
    info = docker_driver.docker.info()
    assert resources['vcpus'] == info['NCPU']
    assert resources['hypervisor_type'] == 'docker'
    assert resources['hypervisor_hostname'] == 'testhost'
    assert resources['supported_instances'] == [('x86_64', 'docker', 'exe')]
    assert resources['hypervisor_version'] > 1000000
    assert 0 < resources['memory_mb_used'] < resources['memory_mb']
    assert 0 < resources['local_gb']
    tree = provider_tree.ProviderTree()
    tree.new_root('testhost', uuidutils.generate_uuid())
    docker_driver.update_provider_tree(tree, 'testhost')
    inventory = tree.data('testhost').inventory
    assert inventory[orc.VCPU]['total'] == info['NCPU']
    assert inventory[orc.MEMORY_MB]['total'] == resources['memory_mb']
    assert inventory[orc.DISK_GB]['total'] == resources['local_gb']


def spawn_many(drv, count):
    instances = [factories.instance() for _ in range(count)]
    for instance in instances:
        spawn(drv, instance)
    return instances


def looks_cost_nothing(drv):
    """Whether the count and the looks at every state made no engine
    call."""
    with mock.patch.object(drv.docker.api, 'send',
                           wraps=drv.docker.api.send) as send:
        drv.get_num_instances()
        drv.list_instance_uuids()
    return send.call_count == 0


def caught_up(drv, api):
    """Once the driver has taken every event the engine sent so far: the
    stream is ordered, so those of a container made and removed now come
    after them. A look that costs nothing before then proves nothing: an
    event may still be on its way."""
    # A look first: the marker is then seen by its two events only, never
    # by a whole list taken before its creation's event arrives.
    drv.list_instance_uuids()
    marker = uuidutils.generate_uuid()
    name = client.container_name(marker)
    api.create_container(engine_fixture.TEST_IMAGE, name=name,
                         labels={client.LABEL_UUID: marker})
    assert polling.eventually(lambda: marker in drv.list_instance_uuids())
    api.remove_container(name)
    assert polling.eventually(
        lambda: marker not in drv.list_instance_uuids())


def test_periodic_queries_cost_no_engine_call_while_events_are_followed(
        docker_driver):
    """Once listed, the states are kept by the engine's events (init_host
    follows them): a change made by hand costs one read of its instance."""
    instances = spawn_many(docker_driver, 3)
    api = docker_driver.docker.api
    assert polling.eventually(
        lambda: docker_driver.container_states.kept_by_events)
    # The spawns' events arrive a little after the spawns: each costs a
    # read.
    caught_up(docker_driver, api)
    assert looks_cost_nothing(docker_driver)
    with mock.patch.object(api, 'send', wraps=api.send) as send:
        assert sorted(docker_driver.list_instance_uuids()) == sorted(
            i.uuid for i in instances)
        assert len(docker_driver.list_instances()) == 3
        assert docker_driver.get_info(instances[1]).state == \
            power_state.RUNNING
        assert send.call_count == 0
        # Only the engine's info.
        resources = docker_driver.get_available_resource('testhost')
        assert send.call_count == 1
    assert resources['vcpus_used'] == 3 * instances[0].flavor.vcpus
    api.kill(client.container_name(instances[1].uuid))
    api.remove_container(client.container_name(instances[2].uuid),
                         force=True)
    assert polling.eventually(lambda: docker_driver.get_info(
        instances[1]).state == power_state.SHUTDOWN)
    assert polling.eventually(lambda: instances[2].uuid not in
                              docker_driver.list_instance_uuids())
    caught_up(docker_driver, api)
    assert looks_cost_nothing(docker_driver)
    with mock.patch.object(api, 'send', wraps=api.send) as send:
        assert docker_driver.get_num_instances() == 2
        assert [docker_driver.get_info(i).state for i in instances[:2]] == [
            power_state.RUNNING, power_state.SHUTDOWN]
        docker_driver.instance_exists(instances[2])
        assert send.call_count == 1
    for instance in instances:
        docker_driver.destroy(None, instance, None)


def test_unreachable_engine_is_reported_clearly(docker_driver):
    """After [docker] engine_restart_wait s, in case it was restarting."""
    CONF.set_override('host_url', 'unix:///tmp/no-such-dir/docker.sock',
                      group='docker')
    CONF.set_override('engine_restart_wait', 1, group='docker')
    began = time.monotonic()
    with pytest.raises(client.DockerUnavailable) as e:
        driver.DockerDriver(fake.FakeVirtAPI()).init_host('testhost')
    assert time.monotonic() - began >= 1
    message = str(e.value)
    assert 'unix:///tmp/no-such-dir/docker.sock' in message
    assert 'docker" group' in message


def test_containers_outside_nova_with_copied_labels_are_not_instances(
        docker_driver):
    instance = factories.instance()
    spawn(docker_driver, instance)
    api = docker_driver.docker.api
    # As if someone ran a snapshot of the instance by hand: docker commit
    # copies the instance's labels into the image.
    stray = api.create_container(engine_fixture.TEST_IMAGE, name='by-hand',
                                 labels={client.LABEL_UUID: instance.uuid,
                                         client.LABEL_NAME: 'x'})['Id']
    try:
        assert docker_driver.list_instance_uuids() == [instance.uuid]
    finally:
        api.remove_container(stray, force=True)
    docker_driver.destroy(None, instance, None)


def test_power_state_sync_of_many_instances_costs_one_call(docker_driver):
    instances = spawn_many(docker_driver, 5)
    api = docker_driver.docker.api
    docker_driver.container_states.invalidate()
    with mock.patch.object(api, 'send', wraps=api.send) as send:
        # As nova-compute's sync asks: the count, then every instance.
        count = docker_driver.get_num_instances()
        seen = [docker_driver.get_info(i).state for i in instances]
        assert send.call_count == 1
    assert seen == [power_state.RUNNING] * 5
    assert count == len(docker_driver.list_instance_uuids())
    # The driver's own changes are seen at once...
    docker_driver.pause(instances[0])
    assert docker_driver.get_info(instances[0]).state == power_state.PAUSED
    # ...and so are the engine's, once its event arrives (init_host follows
    # them); Nova asks with use_cache=False before acting in any case.
    api.kill('nova-' + instances[1].uuid)
    assert docker_driver.get_info(
        instances[1], use_cache=False).state == power_state.SHUTDOWN
    # Sooner than the snapshot would expire by age.
    deadline = time.monotonic() + states.SNAPSHOT_MAX_AGE / 2
    while (docker_driver.get_info(instances[1]).state != power_state.SHUTDOWN
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert docker_driver.get_info(instances[1]).state == power_state.SHUTDOWN
    for instance in instances:
        docker_driver.destroy(None, instance, None)
