"""DockerDriver: Nova's compute driver interface over a Docker engine.

Each instance is one container named ``nova-<instance uuid>``, labelled with
the instance's uuid, name and project, so that the periodic tasks find every
instance in one list call and any single instance in one inspect call.

Its ports live in a network namespace held either by that container itself
(plugged just after each start, unplugged at each stop) or, with ``[docker]
network_sandbox``, by a sandbox container ``nova-sandbox-<uuid>`` that the
instance's container joins: plugged once before the instance's first start,
kept across its reboots and power cycles, unplugged when it is destroyed.
While rescued, an instance's container is stopped and a rescue container
``nova-rescue-<uuid>`` runs on its ports (in its own namespace, or joining
the sandbox's) with the instance's root filesystem at /mnt/rescue; it holds
the instance's power state until unrescue removes it (see ``rescue``).

This module only maps Nova's operations onto the modules that do the work:
``client`` (the engine), ``spec`` (container configuration), ``images``
(Glance), ``network`` (VIF plugging), ``hostinfo`` (host and cgroups),
``console`` (serial consoles), ``config_drive``, ``file_injection``,
``passwords``, ``rescue``, ``moves`` (resize and migration), ``events``
(lifecycle events) and ``recovery`` (instances an engine restart stopped).
"""

import contextlib
import functools

from nova.compute import power_state
from nova import exception
from nova.i18n import _
from nova.objects import diagnostics as diagnostics_obj
from nova.objects import fields
from nova.virt import driver
from nova.virt import hardware
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import timeutils
from oslo_utils import units
from oslo_utils import versionutils
import os_resource_classes as orc

from novadocker import conf as nd_conf
from novadocker.virt.docker import background
from novadocker.virt.docker import client
from novadocker.virt.docker import config_drive
from novadocker.virt.docker import console
from novadocker.virt.docker import events
from novadocker.virt.docker import failures
from novadocker.virt.docker import hostinfo
from novadocker.virt.docker import images
from novadocker.virt.docker import file_injection
from novadocker.virt.docker import moves
from novadocker.virt.docker import network
from novadocker.virt.docker import passwords
from novadocker.virt.docker import recovery
from novadocker.virt.docker import rescue
from novadocker.virt.docker import spec
from novadocker.virt.docker import states

CONF = nd_conf.CONF
LOG = logging.getLogger(__name__)

# What get_console_output returns at most, as libvirt caps its console log.
MAX_CONSOLE_BYTES = 100 * units.Ki
CONSOLE_TAIL_LINES = 5000
BOOT_FAILURE_TAIL_LINES = 10
# Of which a fault keeps the end of what fits in Nova's 255 characters.
BOOT_FAILURE_TAIL_BYTES = 1024

# Docker's StartedAt for a container that never ran.
NEVER_STARTED = '0001-01-01T00:00:00Z'
# States in which the container's processes exist (paused: frozen).
LIVE_STATES = ('running', 'paused')
_POWER_STATES = {
    'running': power_state.RUNNING,
    'paused': power_state.PAUSED,
    'created': power_state.SHUTDOWN,
    'exited': power_state.SHUTDOWN,
    'removing': power_state.SHUTDOWN,
    'dead': power_state.CRASHED,
}


class RootDiskQuotaUnavailable(exception.InvalidConfiguration):
    msg_fmt = _('[docker] require_root_disk_quota is set, but the Docker '
                'engine at %(url)s cannot limit a container\'s root disk: '
                '%(reason)s. Put its data root on XFS mounted with pquota '
                '(the overlay2 storage driver\'s "size" option needs it), '
                'or unset the option to run instances without a limit.')


def just_created(container_id):
    """What an inspect of the container just created would say of it, for
    the start that follows; the call is spared."""
    return {'Id': container_id,
            'State': {'Status': 'created', 'StartedAt': NEVER_STARTED}}


def container_power_state(state):
    """Nova's power state for Docker's ``State`` of a container.

    A container killed for exceeding its memory limit has crashed; one whose
    process ended has shut down; ``restarting`` (never used by this driver)
    is left to the next sync as NOSTATE.
    """
    if state.get('OOMKilled') and state.get('Status') == 'exited':
        return power_state.CRASHED
    return _POWER_STATES.get(state.get('Status'), power_state.NOSTATE)


class DockerDriver(driver.ComputeDriver):
    """Runs Nova instances as containers on the local Docker engine."""

    # Nova 34 has no capability or trait for config drives: it wants one
    # per instance (configdrive.required_by) whatever the driver, and spawn
    # makes it (config_drive.py). set_admin_password has none either.
    capabilities = dict(
        driver.ComputeDriver.capabilities,
        supports_attach_interface=True,
        has_imagecache=True,
        # Docker images are uploaded to Glance as disk_format=raw.
        supports_image_type_raw=True,
        # Nova's only rescue capability is for volume-backed instances
        # (stable device rescue, trait COMPUTE_RESCUE_BFV): this driver has
        # no volumes. Rescue of an instance booted from an image needs no
        # capability: Nova calls rescue() on any driver.
        supports_bfv_rescue=False,
        # A move commits the container into an image and removes it before
        # the destination creates it again (moves.py): the same host will
        # do, for a resize (allow_resize_to_same_host) or a migration.
        supports_migrate_to_same_host=True,
        # Nova rebuilds an evacuated instance from its image on the new
        # host (spawn), as for any driver without shared storage; the
        # failed host destroys its copy when it comes back (doc/moves.md).
        supports_evacuate=True,
    )

    def __init__(self, virtapi):
        super().__init__(virtapi)
        self.docker = client.DockerClient()
        self.container_states = states.ContainerStates(self.docker)
        self.network = network.Network()
        self.consoles = console.SerialConsoles(self.docker)
        self.lifecycle_events = None
        # What init_host found of [docker] lxcfs_path.
        self.lxcfs_files = []
        # Whether init_host found that the engine limits writable layers.
        self.root_disk_quota = False
        # Whether init_host found that the engine remaps containers' root.
        self.userns_remapped = False
        # Nova's live-migration bookkeeping; containers never migrate live.
        self.active_migrations = {}

    @contextlib.contextmanager
    def _lock(self, instance):
        """Serialise the state changes of one instance; its entry in the
        container states is re-read after each."""
        # Nova's compute manager already holds a lock named after the uuid;
        # a prefix keeps this one distinct so they cannot deadlock.
        with lockutils.lock('novadocker-' + instance.uuid):
            try:
                yield
            finally:
                self.container_states.changed(instance.uuid)

    # -- host ---------------------------------------------------------------

    def init_host(self, host):
        """Fail early and clearly if the engine is unreachable (or cannot
        limit root disks when it must: _root_disk_quota), drop the
        namespaces of containers that stopped or went while nova-compute
        was away (nova then restarts or stops each instance as it should
        be), the volumes of rescues and the images of snapshots it was
        making when it stopped, serve the serial consoles of those that run
        again, and start following the engine's container events."""
        self.docker.ping()
        self.root_disk_quota = self._root_disk_quota()
        self.userns_remapped = self._userns_remapped()
        containers = self.docker.list_containers()
        rescues = self.docker.list_rescues()
        stopped = [c['Id'] for c in containers + self.docker.list_sandboxes()
                   + rescues if c['State'] not in LIVE_STATES]
        self.network.release_namespaces(stopped)
        self.network.release_orphan_namespaces(self.docker.container_ids())
        rescue.remove_orphan_volumes(self.docker, rescues)
        images.remove_interrupted_snapshots(self.docker)
        if (CONF.docker.network_sandbox and
                not self.docker.image_exists(CONF.docker.sandbox_image)):
            LOG.error('[docker] network_sandbox is on but the engine has no '
                      'image %s ([docker] sandbox_image): spawns will fail '
                      'until it is pulled or loaded.',
                      CONF.docker.sandbox_image)
        self.lxcfs_files = self._lxcfs_files()
        LOG.info('Docker engine at %(url)s: %(total)d instance containers, '
                 '%(stopped)d not running',
                 {'url': CONF.docker.host_url, 'total': len(containers),
                  'stopped': len(stopped)})
        self.cleanup_host(host)
        self.consoles.reopen(containers)
        self.lifecycle_events = events.LifecycleWatcher(
            self.emit_event, on_arrival=self.container_states.changed,
            on_following=self.container_states.following,
            on_engine_back=functools.partial(
                recovery.restart_stopped_by_engine, self))
        self.lifecycle_events.start()

    def _lxcfs_files(self):
        """What new instances get of [docker] lxcfs_path; none, with a
        warning, when LXCFS does not serve it. Not a refusal: without it
        instances are still confined, and nova-compute must keep managing
        those that run."""
        path = CONF.docker.lxcfs_path
        if not path:
            return []
        files = hostinfo.lxcfs_files(path, hostinfo.LXCFS_FILES)
        if files:
            LOG.info('LXCFS at %(path)s: new instances get its %(files)s',
                     {'path': path, 'files': ', '.join(files)})
        else:
            LOG.warning('[docker] lxcfs_path is %(path)s but no LXCFS is '
                        'mounted there: new instances will see the host\'s '
                        '/proc/cpuinfo, /proc/meminfo and /proc/uptime, not '
                        'their own, and instances spawned with it cannot '
                        'start until it is. Start it (lxcfs --enable-cfs '
                        '%(path)s), then restart nova-compute.',
                        {'path': path})
        return files

    def _root_disk_quota(self):
        """Whether new instances' root disks get their flavor's root_gb as
        a limit: if the engine can enforce it. Else a refusal to start with
        [docker] require_root_disk_quota, or a warning: instances already
        running must still be managed."""
        refusal = self.docker.root_disk_quota_refusal()
        if refusal is None:
            LOG.info('Root disks are limited to their flavor\'s root_gb')
            return True
        if CONF.docker.require_root_disk_quota:
            raise RootDiskQuotaUnavailable(url=CONF.docker.host_url,
                                           reason=refusal)
        LOG.warning('The Docker engine cannot limit a container\'s root '
                    'disk (%(reason)s): instances run without one, and any '
                    'of them can fill the engine\'s data root. Put the data '
                    'root on XFS mounted with pquota (see doc/install.md), '
                    'or set [docker] require_root_disk_quota to refuse to '
                    'start without it.', {'reason': refusal})
        return False

    def _userns_remapped(self):
        """Whether the engine runs containers with their root remapped to
        an unprivileged host uid (dockerd --userns-remap): privileged
        instances must then run in the host's user namespace, and are not
        remapped."""
        remapped = self.docker.userns_remapped()
        if remapped:
            LOG.info('The Docker engine remaps user namespaces: root in an '
                     'instance is an unprivileged user on this host')
            if CONF.docker.privileged:
                LOG.warning('[docker] privileged is on: instances run in '
                            'the host\'s user namespace, their root is '
                            'this host\'s root, whatever --userns-remap '
                            'says.')
        return remapped

    def cleanup_host(self, host):
        if self.lifecycle_events is not None:
            self.lifecycle_events.stop()
            self.lifecycle_events = None
        self.consoles.close_all()

    def get_available_nodes(self, refresh=False):
        return [CONF.host]

    def get_host_ip_addr(self):
        return CONF.my_ip

    def get_host_uptime(self):
        return hostinfo.uptime()

    def get_host_cpu_stats(self):
        return hostinfo.cpu_stats()

    def _disk_gb(self, info):
        # The engine's data root holds every container's writable layer.
        try:
            return hostinfo.disk_gb(info['DockerRootDir'])
        except OSError:
            return hostinfo.disk_gb(CONF.instances_path)

    def get_available_resource(self, nodename):
        """The engine's info, and the instances' states kept by
        states.ContainerStates."""
        info = self.docker.info()
        memory_total, memory_used = hostinfo.memory_mb()
        disk_total, disk_used, disk_free = self._disk_gb(info)
        running = [s.holder for s in self.container_states.all().values()
                   if s.holder['State'] in LIVE_STATES]
        vcpus_used = sum(int(c['Labels'].get(client.LABEL_VCPUS, 0))
                         for c in running)
        version = info['ServerVersion'].split('+')[0].split('-')[0]
        return {
            'vcpus': info['NCPU'],
            'memory_mb': memory_total,
            'local_gb': disk_total,
            'vcpus_used': vcpus_used,
            'memory_mb_used': memory_used,
            'local_gb_used': disk_used,
            'hypervisor_type': 'docker',
            'hypervisor_version': versionutils.convert_version_to_int(
                version),
            'hypervisor_hostname': nodename,
            'cpu_info': hostinfo.cpu_info(info['Architecture'],
                                          info['NCPU']),
            'disk_available_least': disk_free,
            'numa_topology': None,
            'supported_instances': [(fields.Architecture.canonicalize(
                info['Architecture']), fields.HVType.DOCKER,
                fields.VMMode.EXE)],
        }

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        info = self.docker.info()
        memory_total, _used = hostinfo.memory_mb()
        disk_total = self._disk_gb(info)[0]
        ratios = self._get_allocation_ratios(
            provider_tree.data(nodename).inventory)

        def inventory(total, resource_class, reserved):
            return {'total': total, 'min_unit': 1, 'max_unit': total,
                    'step_size': 1, 'reserved': reserved,
                    'allocation_ratio': ratios[resource_class]}

        provider_tree.update_inventory(nodename, {
            orc.VCPU: inventory(info['NCPU'], orc.VCPU,
                                CONF.reserved_host_cpus),
            orc.MEMORY_MB: inventory(memory_total, orc.MEMORY_MB,
                                     CONF.reserved_host_memory_mb),
            orc.DISK_GB: inventory(
                disk_total, orc.DISK_GB,
                self._get_reserved_host_disk_gb_from_config()),
        })

    # -- instances ----------------------------------------------------------

    def _own_containers(self):
        """The listing of every instance's own container, from the states
        (states.ContainerStates)."""
        return [s.own for s in self.container_states.all().values() if s.own]

    def list_instances(self):
        return [c['Labels'][client.LABEL_NAME]
                for c in self._own_containers()]

    def list_instance_uuids(self):
        return [c['Labels'][client.LABEL_UUID]
                for c in self._own_containers()]

    def get_num_instances(self):
        """From the states (states.ContainerStates), as the power-state
        sync's burst of get_info that follows."""
        return self.container_states.count()

    def instance_exists(self, instance):
        return self.docker.find(instance) is not None

    def get_info(self, instance, use_cache=True):
        """With use_cache, from the states (states.ContainerStates);
        without, or if they have none of the instance, one inspect call
        (two for a stopped container: it may be rescued). A rescued
        instance is as its rescue container is: RUNNING, as Nova expects in
        RESCUED."""
        kept = use_cache and self.container_states.get(instance.uuid)
        if kept:
            return hardware.InstanceInfo(
                state=container_power_state({'Status': kept.holder['State']}),
                internal_id=kept.holder['Id'])
        attrs = self.docker.inspect(instance)
        if attrs['State']['Status'] not in LIVE_STATES:
            attrs = self._rescue_container(instance) or attrs
        return hardware.InstanceInfo(
            state=container_power_state(attrs['State']),
            internal_id=attrs['Id'])

    def _host_build_options(self):
        """spec.request's options that are this host's, not an instance's:
        what init_host found of the engine and LXCFS, and the serial
        console."""
        return {'serial_console_enabled': CONF.serial_console.enabled,
                'lxcfs_files': self.lxcfs_files,
                'root_disk_quota': self.root_disk_quota,
                'userns_remapped': self.userns_remapped}

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        """Load the image if the engine lacks it, then create and start the
        container with its ports. A failure leaves nothing: no container,
        no port, no config drive, and no copy of an image that failed the
        boot itself (unless a container uses it). What another host would
        fail the same way (the request, the image: see failures.py) raises
        what makes Nova abort the build with the cause as the server's
        fault; a failure of this host, what makes Nova try another."""
        # Before the image is loaded: a request no host can serve costs
        # no download. Before the ports are there: Nova creates them while
        # the driver spawns (network_info waits for them on first use), so
        # an image the engine lacks loads meanwhile.
        request = self._container_request(instance, image_meta)
        for attempt in range(2):
            image = images.ensure_for_boot(self.docker, context, image_meta,
                                           instance)
            try:
                self._spawn(instance, image, image_meta, injected_files,
                            admin_password, network_info, power_on,
                            config=self._container_config(
                                instance, image_meta, network_info,
                                request))
                return
            except exception.ImageUnacceptable:
                with excutils.save_and_reraise_exception():
                    images.remove_unusable(self.docker, image_meta.id)
            except client.ImageMissing as e:
                # Removed between the two by a concurrent boot that found
                # it unusable: loaded again, it fails here as it did there.
                if attempt or e.kwargs['image'] != image:
                    raise
                LOG.info('Image %s went before its container was made; '
                         'loading it again', image, instance=instance)

    def _container_request(self, instance, image_meta):
        """(sandbox name or None, config drive path or None, and the
        create_container and create_host_config arguments but the
        network identity) of the instance's container: spec.request's
        refusals of the request."""
        sandbox = (client.sandbox_name(instance.uuid)
                   if CONF.docker.network_sandbox else None)
        drive = config_drive.config_drive_path(instance)
        create_kwargs, host_config = spec.request(
            instance, image_meta, CONF.docker, network_holder=sandbox,
            config_drive_dir=drive, **self._host_build_options())
        return sandbox, drive, create_kwargs, host_config

    def _container_config(self, instance, image_meta, network_info,
                          request=None):
        """_container_request's tuple (made now unless given) with the
        network identity the ports give."""
        sandbox, drive, create_kwargs, host_config = (
            request or self._container_request(instance, image_meta))
        return (sandbox, drive,
                *spec.with_network(instance, network_info, create_kwargs,
                                   host_config))

    def _spawn(self, instance, image, image_meta, injected_files,
               admin_password, network_info, power_on, config=None):
        """Create the instance's container from the engine's ``image``
        (``image_meta`` says how to run it; ``config``, its
        _container_config if made already) and start it unless not
        ``power_on``; on failure nothing is left, and a refusal that is
        the image's is ImageUnacceptable (failures.py)."""
        config = config or self._container_config(instance, image_meta,
                                                  network_info)
        with self._lock(instance):
            self._build(instance, image, image_meta, injected_files,
                        admin_password, network_info, power_on, config)

    def _build(self, instance, image, image_meta, injected_files,
               admin_password, network_info, power_on, config):
        """_spawn's work, under the instance's lock."""
        sandbox, drive, create_kwargs, host_config = config
        try:
            with failures.image_refusals(image_meta.id):
                self._create_and_start(instance, image, create_kwargs,
                                       host_config, sandbox, drive,
                                       injected_files, admin_password,
                                       network_info, power_on)
        except Exception:
            with excutils.save_and_reraise_exception():
                LOG.error('Spawn failed; removing the container',
                          instance=instance)
                self.consoles.close(instance)
                self._remove(instance, network_info)
                config_drive.remove_config_drive(instance)
        LOG.info('Spawned container %s', client.container_name(
            instance.uuid), instance=instance)

    def _create_and_start(self, instance, image, create_kwargs, host_config,
                          sandbox, drive, injected_files, admin_password,
                          network_info, power_on):
        if drive:
            config_drive.write_config_drive(
                drive, instance, injected_files, admin_password,
                network_info)
        if sandbox:
            sandbox = just_created(self.docker.create(
                instance, CONF.docker.sandbox_image,
                *spec.build_sandbox(instance, network_info, CONF.docker),
                name=sandbox))
        create = functools.partial(self._create_container, instance, image,
                                   create_kwargs, host_config, injected_files)
        if not power_on:
            create()
            return
        pid = self._start_with_network(instance, network_info, sandbox,
                                       create=create)
        self._check_still_running(instance, pid)
        self.consoles.open_started(instance)

    def _create_container(self, instance, image, create_kwargs, host_config,
                          injected_files):
        """The instance's container, with its injected files and key."""
        self.docker.create(instance, image, create_kwargs, host_config)
        file_injection.inject_files(self.docker, instance, injected_files)
        if CONF.docker.inject_key and instance.key_data:
            self.docker.put_archive(
                instance, '/', spec.authorized_keys_tar(instance.key_data))

    def _check_still_running(self, instance, pid=None, name=None):
        """A process that ended during the boot failed it: say how (exit
        code, last output) rather than report an instance that is down.
        The engine still says "running" for a moment after the process
        ended: the process itself is asked too (first, if its ``pid`` is
        known: while it runs, the engine need not be asked). ``name``: the
        container, if not the instance's own."""
        if pid and not hostinfo.process_ended(pid):
            return
        state = self.docker.inspect(instance, name=name)['State']
        if state['Status'] == 'running':
            if not hostinfo.process_ended(state['Pid']):
                return
            state = self.docker.wait_for_exit(instance, name=name)
        output = self.docker.logs(instance, BOOT_FAILURE_TAIL_LINES,
                                  BOOT_FAILURE_TAIL_BYTES, name=name)
        raise exception.InstanceDeployFailure(
            reason=_('the container exited during boot with code '
                     '%(code)s%(oom)s; its last output: %(output)s')
            % {'code': state.get('ExitCode'),
               'oom': ' (out of memory)' if state.get('OOMKilled') else '',
               'output': output.decode('utf-8', 'replace').strip()
               or '(none)'})

    def _neutron_events(self, network_info):
        if not CONF.vif_plugging_timeout:
            return []
        return [('network-vif-plugged', vif['id'])
                for vif in network_info or []
                if vif.get('active', True) is False]

    def _neutron_failed(self, event_name, instance):
        LOG.error('Neutron reported failure on event %s', event_name,
                  instance=instance)
        if CONF.vif_plugging_is_fatal:
            raise exception.VirtualInterfaceCreateException()

    def _start_with_network(self, instance, network_info, sandbox=None,
                            name=None, wait_for_neutron=True, create=None):
        """Start the container (the instance's own, or the one called
        ``name``; ``create``, if given, makes it first) with its ports
        plugged, waiting for Neutron's network-vif-plugged events if it
        sends them (unless ``wait_for_neutron`` is False): into the
        namespace of its ``sandbox`` (inspected) before the start, unless
        they are there from an earlier start, else into the container's new
        namespace just after. Returns the container's process id."""
        events = self._neutron_events(network_info) if wait_for_neutron \
            else []
        try:
            with self.virtapi.wait_for_instance_event(
                    instance, events,
                    timeout=CONF.vif_plugging_timeout,
                    error_callback=self._neutron_failed):
                self._ready_to_start(instance, network_info, sandbox, create)
                attrs = self.docker.start(instance, name=name)
                if not sandbox:
                    try:
                        self._attach_all(instance, attrs, network_info)
                    except exception.VirtualInterfacePlugException:
                        # A process that ended takes its namespace with
                        # it: name its exit, not the namespace that
                        # vanished.
                        self._check_still_running(instance, name=name)
                        raise
        except exception.InstanceEventTimeout:
            if CONF.vif_plugging_is_fatal:
                self._stop(instance, network_info, timeout=0, name=name)
                raise exception.VirtualInterfaceCreateException()
        except Exception:
            with excutils.save_and_reraise_exception():
                self._stop(instance, network_info, timeout=0, name=name)
        return attrs['State']['Pid']

    def _ready_to_start(self, instance, network_info, sandbox, create):
        """Start the ``sandbox`` with the ports unless it runs, and
        ``create`` the container meanwhile: neither needs the other (the
        container needs its sandbox running only for its own start), and
        each is a wait on the engine."""
        readying = None
        if sandbox and sandbox['State']['Status'] != 'running':
            readying = background.Background(self._start_sandbox, instance,
                                             sandbox, network_info)
        try:
            if create:
                create()
        finally:
            if readying:
                readying.join()

    def _start_sandbox(self, instance, sandbox, network_info):
        """Start the sandbox and plug the ports into its new namespace.

        A sandbox that ran before and stopped without the driver (killed,
        or the engine restarted) may have left the ports plugged into its
        old namespace, which its netns link keeps: they are unplugged first.
        """
        if sandbox['State']['StartedAt'] != NEVER_STARTED:
            self.network.detach_all(instance, sandbox['Id'], network_info)
        attrs = self.docker.start(instance,
                                  name=client.sandbox_name(instance.uuid))
        self._attach_all(instance, attrs, network_info)

    def _attach_all(self, instance, attrs, network_info):
        """Plug every port into the namespace of the container just
        started (``attrs``, inspected)."""
        self.network.attach_all(instance, attrs['Id'],
                                attrs['State']['Pid'], network_info)

    def _containers(self, instance, name=None):
        """(the instance's container, or the one called ``name``; its
        sandbox), each inspected or None.

        A sandbox is looked for only where there can be one: the container
        joins another's namespace, or is missing (a spawn that failed
        between the two creates).
        """
        attrs = self.docker.find(instance, name=name)
        if attrs and not attrs['HostConfig']['NetworkMode'].startswith(
                'container:'):
            return attrs, None
        return attrs, self.docker.find(
            instance, name=client.sandbox_name(instance.uuid))

    def _network_holder(self, instance):
        """The inspected container whose namespace holds the instance's
        ports (its sandbox, else its own), or None."""
        attrs, sandbox = self._containers(instance)
        return sandbox or attrs

    def _stop(self, instance, network_info, timeout, keep_network=False,
              name=None):
        """Stop the container (the instance's own, or the one called
        ``name``; SIGKILL after ``timeout`` s) and unplug its ports: the
        namespace they lived in dies with the process. With
        ``keep_network``, a running sandbox keeps running with the ports.
        """
        attrs, sandbox = self._containers(instance, name=name)
        if attrs and attrs['State']['Status'] in LIVE_STATES + (
                'restarting',):
            self.docker.stop(instance, timeout, name=name)
        if keep_network and sandbox and sandbox['State']['Status'] == \
                'running':
            return
        if sandbox and sandbox['State']['Status'] in LIVE_STATES:
            self.docker.stop(instance, 0,
                             name=client.sandbox_name(instance.uuid))
        holder = sandbox or attrs
        self.network.detach_all(instance, holder and holder['Id'],
                                network_info)

    def _remove(self, instance, network_info):
        """Kill and remove the containers (one engine call each) while the
        ports are unplugged: the engine's work and the kernel's and OVSDB's
        need nothing of each other (the netns link keeps the namespace
        until it is removed). Whether the instance had a container."""
        attrs, sandbox = self._containers(instance)
        holder = sandbox or attrs
        # Even when the engine's answer is lost (it may have removed them
        # all the same): the container id that names the netns link is
        # known now; a retry would not find it.
        unplugging = background.Background(
            self.network.detach_all, instance, holder and holder['Id'],
            network_info)
        try:
            self._remove_containers(instance, attrs, sandbox)
        finally:
            unplugging.join()
        return attrs is not None

    def _remove_containers(self, instance, attrs, sandbox):
        """Remove the instance's container (``attrs``, inspected), with the
        layers a move brought it, and its ``sandbox`` if it has one."""
        self.docker.remove(instance)
        if attrs:
            moves.remove_carried_layers(self.docker, attrs['Image'], instance)
        if sandbox:
            self.docker.remove(instance,
                               name=client.sandbox_name(instance.uuid))

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        with self._lock(instance):
            self.consoles.close(instance)
            self._remove_rescue(instance, network_info)
            if destroy_disks:
                if not self._remove(instance, network_info) and context:
                    # No container: perhaps a move here that failed, whose
                    # copy in Glance waited for a hard reboot.
                    moves.delete_transfers(context, instance)
                config_drive.remove_config_drive(instance)
            else:
                self._stop(instance, network_info, timeout=0)
        LOG.info('Destroyed container %s', client.container_name(
            instance.uuid), instance=instance)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        with self._lock(instance):
            self.consoles.close(instance)
            self._remove_rescue(instance, network_info)
            attrs, sandbox = self._containers(instance)
            if destroy_vifs:
                holder = sandbox or attrs
                self.network.detach_all(instance, holder and holder['Id'],
                                        network_info)
            if destroy_disks:
                self._remove_containers(instance, attrs, sandbox)
                config_drive.remove_config_drive(instance)

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        """Soft: SIGTERM and up to soft_reboot_timeout s to stop; hard:
        SIGKILL. Then a fresh start with the ports plugged again (a sandbox
        keeps them plugged meanwhile). An instance still rescued (in ERROR
        after a failed unrescue) leaves its rescue first, as a hard reboot
        does with libvirt."""
        timeout = 0 if reboot_type == 'HARD' else \
            CONF.docker.soft_reboot_timeout
        with self._lock(instance):
            self._remove_rescue(instance, network_info)
            if reboot_type == 'HARD' and self.docker.find(instance) is None:
                self._rebuild_from_failed_move(context, instance,
                                               network_info)
                return
            self._stop(instance, network_info, timeout, keep_network=True)
            self._start_or_recreate(instance, network_info,
                                    self._containers(instance)[1])

    def _rebuild_from_failed_move(self, context, instance, network_info):
        """A hard reboot of an instance that has no container here: a move
        to this host failed before making it. The container is made from
        the move's copy in Glance (moves.left_in_glance), with what the
        workload had written."""
        with moves.left_in_glance(self.docker, context, instance) as image:
            self._build(instance, image, instance.image_meta, [], None,
                        network_info, True, self._container_config(
                            instance, instance.image_meta, network_info))

    def power_off(self, instance, timeout=0, retry_interval=0):
        """Stop gracefully for ``timeout`` s, then kill: an image whose PID 1
        ignores SIGTERM still stops."""
        with self._lock(instance):
            self.consoles.close(instance)
            self._stop(instance, instance.get_network_info(), timeout,
                       keep_network=True)

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        with self._lock(instance):
            self._power_on(instance, network_info)

    def _power_on(self, instance, network_info, wait_for_neutron=True):
        """Start the instance's container, paused or stopped; a rescue left
        behind goes first (the two must never mount its root at once)."""
        self._remove_rescue(instance, network_info)
        attrs, sandbox = self._containers(instance)
        if attrs is None:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        state = attrs['State']['Status']
        if state == 'paused':
            self._unpause(instance, network_info)
        elif state != 'running':
            self._start_or_recreate(instance, network_info, sandbox,
                                    wait_for_neutron)
        self.consoles.open_started(instance)

    def _start_or_recreate(self, instance, network_info, sandbox,
                           wait_for_neutron=True):
        """Start the stopped container; one the engine can no longer start
        (client.StaleTask) is made anew from a commit of itself, with what
        it wrote, and started."""
        try:
            self._start_with_network(instance, network_info, sandbox,
                                     wait_for_neutron=wait_for_neutron)
            return
        except client.StaleTask as e:
            LOG.warning('%s; making the container anew from a commit of '
                        'itself', e, instance=instance)
        moves.carry_out(self.docker, None, instance, same_host=True)
        self._remove(instance, network_info)
        config_drive.remove_config_drive(instance)
        self._build(instance, moves.moved_reference(instance),
                    instance.image_meta, [], None, network_info, True,
                    self._container_config(instance, instance.image_meta,
                                           network_info))
        moves.forget(self.docker, instance)

    def pause(self, instance):
        """Freeze the processes, then take the instance off its network,
        as a paused VM is."""
        with self._lock(instance):
            self.docker.pause(instance)
            self.network.set_reachable(instance, instance.get_network_info(),
                                       False)

    def _unpause(self, instance, network_info):
        self.network.set_reachable(instance, network_info, True)
        self.docker.unpause(instance)

    def unpause(self, instance):
        with self._lock(instance):
            if self.docker.inspect(instance)['State']['Status'] == 'paused':
                self._unpause(instance, instance.get_network_info())

    def suspend(self, context, instance):
        """A container cannot be saved to disk: suspend freezes its processes
        in the cgroup freezer, like pause. They keep their memory, and Nova
        sees the instance as PAUSED until it is resumed."""
        self.pause(instance)

    def resume(self, context, instance, network_info, block_device_info=None,
               share_info=None):
        with self._lock(instance):
            self._power_on(instance, network_info)

    def soft_delete(self, instance):
        self.power_off(instance)

    def restore(self, instance):
        with self._lock(instance):
            self._power_on(instance, instance.get_network_info())

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  share_info, block_device_info=None):
        """After a host or engine restart: start what Nova says should run,
        with its ports plugged into the new namespace; a rescued instance
        gets its rescue container back (the engine mounts its volume
        again). Without waiting for network-vif-plugged: Nova calls this
        from init_host, before nova-compute consumes the RPC that would
        deliver the event (as libvirt, which treats the ports as plugged
        already here)."""
        with self._lock(instance):
            if self._rescue_container(instance):
                name = client.rescue_name(instance.uuid)
                self._stop(instance, network_info, timeout=0, name=name)
                self._start_with_network(
                    instance, network_info,
                    self._containers(instance, name=name)[1], name=name,
                    wait_for_neutron=False)
                return
            self._stop(instance, network_info, timeout=0)
            self._power_on(instance, network_info, wait_for_neutron=False)

    def plug_vifs(self, instance, network_info):
        self.network.plug_vifs(instance, network_info)

    def unplug_vifs(self, instance, network_info):
        self.network.unplug_vifs(instance, network_info)

    def attach_interface(self, context, instance, image_meta, vif):
        """Plug into the running container; a stopped one gets the port from
        its network info at its next start."""
        with self._lock(instance):
            holder = self._network_holder(instance)
            if holder is None:
                raise exception.InstanceNotFound(instance_id=instance.uuid)
            if holder['State']['Status'] in LIVE_STATES:
                self.network.attach(instance, holder['Id'],
                                    holder['State']['Pid'], vif)

    def detach_interface(self, context, instance, vif):
        with self._lock(instance):
            holder = self._network_holder(instance)
            self.network.detach(instance, holder and holder['Id'], vif)

    def set_admin_password(self, instance, new_pass):
        """chpasswd in the running container (see passwords.set_admin_password
        for the errors Nova turns into the user's answer)."""
        with self._lock(instance):
            passwords.set_admin_password(self.docker, instance, new_pass)

    def rescue(self, context, instance, network_info, image_meta,
               rescue_password, block_device_info, share_info):
        """Stop the instance's container and run a rescue container from
        the rescue image on its ports, the instance's root filesystem as it
        is now read-write at /mnt/rescue (see rescue.py), the keypair and
        the rescue password in it. On failure the instance is as it was:
        stopped, or started again if it ran."""
        with self._lock(instance):
            attrs = self.docker.inspect(instance)
            # Nova stops the instance before it calls rescue: its power
            # state from before says whether it ran.
            was_running = attrs['State']['Status'] in LIVE_STATES or (
                instance.obj_attr_is_set('power_state') and
                instance.power_state == power_state.RUNNING)
            try:
                image_meta = rescue.rescue_image_meta(context, instance,
                                                      image_meta)
                image = images.ensure(self.docker, context, image_meta,
                                      instance=instance)
                self.consoles.close(instance)
                # Rescued already (Nova rescues an instance in ERROR too):
                # the new rescue replaces the old.
                self._remove_rescue(instance, network_info)
                self._stop(instance, network_info, timeout=0,
                           keep_network=True)
                self._start_rescue(instance, image, image_meta, network_info,
                                   rescue_password)
            except Exception:
                with excutils.save_and_reraise_exception():
                    LOG.error('Rescue failed; leaving the instance as it was',
                              instance=instance)
                    self._remove_rescue(instance, network_info)
                    if was_running:
                        self._power_on(instance, network_info)
        LOG.info('Rescued: container %s runs image %s',
                 client.rescue_name(instance.uuid), image, instance=instance)

    def _start_rescue(self, instance, image, image_meta, network_info,
                      password):
        """Create and start the rescue container on the stopped instance
        container's layers and network (its sandbox's, if it has one)."""
        name = client.rescue_name(instance.uuid)
        attrs, sandbox = self._containers(instance)
        drive = config_drive.config_drive_dir(CONF.instances_path,
                                              instance.uuid)
        create_kwargs, host_config = rescue.build(
            instance, image_meta, network_info, CONF.docker,
            network_holder=sandbox and client.sandbox_name(instance.uuid),
            config_drive_dir=drive if config_drive.has_config_drive(
                instance) else None,
            **self._host_build_options())
        rescue.create(self.docker, instance, image, attrs['GraphDriver'],
                      create_kwargs, host_config)
        if CONF.docker.inject_key and instance.key_data:
            self.docker.put_archive(
                instance, '/', spec.authorized_keys_tar(instance.key_data),
                name=name)
        pid = self._start_with_network(instance, network_info, sandbox,
                                       name=name)
        self._check_still_running(instance, pid, name=name)
        if password:
            rescue.set_password(self.docker, instance, image_meta, password)

    def unrescue(self, context, instance):
        """Remove the rescue container (the engine unmounts the instance's
        root with it) and start the instance's container again with its
        ports: its data is as the rescue left it."""
        with self._lock(instance):
            self._power_on(instance, instance.get_network_info())
        LOG.info('Unrescued', instance=instance)

    def _rescue_container(self, instance):
        """The instance's rescue container, inspected, or None."""
        return self.docker.find(instance,
                                name=client.rescue_name(instance.uuid))

    def _remove_rescue(self, instance, network_info):
        """Remove the rescue container and its volume, and unplug the ports
        from its own namespace (a sandbox keeps them); nothing to do when
        there is none."""
        rescued = self._rescue_container(instance)
        if rescued is None:
            return
        try:
            rescue.remove(self.docker, instance)
        finally:
            # As in _remove: even when the engine's answer is lost.
            if not rescued['HostConfig']['NetworkMode'].startswith(
                    'container:'):
                self.network.detach_all(instance, rescued['Id'],
                                        network_info)
        LOG.info('Removed rescue container %s', rescued['Name'][1:],
                 instance=instance)

    def get_console_output(self, context, instance):
        """The container's stdout and stderr, the last 100 KiB of it (with
        a serial console, its terminal's output: what was typed, echoed,
        too); the rescue container's while rescued, as libvirt shows the
        rescue domain's."""
        name = (client.rescue_name(instance.uuid)
                if self._rescue_container(instance) else None)
        output = self.docker.logs(instance, CONSOLE_TAIL_LINES,
                                  MAX_CONSOLE_BYTES, name=name)
        return output.decode('utf-8', errors='replace')

    def get_serial_console(self, context, instance):
        # Under the instance's lock: no console opens for an instance being
        # powered off or destroyed.
        with self._lock(instance):
            return self.consoles.serial_console(instance)

    def _usage(self, attrs):
        """(cpu ns, memory used bytes, memory limit bytes) from cgroups;
        zeros for a container that is not running."""
        pid = attrs['State']['Pid']
        limit = attrs['HostConfig'].get('Memory') or None
        if not pid:
            return 0, 0, limit
        usage = hostinfo.ContainerUsage(pid)
        used, cgroup_limit = usage.memory_bytes()
        return usage.cpu_time_ns(), used, cgroup_limit or limit

    def get_diagnostics(self, instance):
        """The legacy diagnostics: CPU time in ns, memory in KiB."""
        attrs = self.docker.inspect(instance)
        cpu_ns, used, limit = self._usage(attrs)
        return {'cpu0_time': cpu_ns,
                'memory': (limit or 0) // units.Ki,
                'memory-actual': (limit or 0) // units.Ki,
                'memory-rss': used // units.Ki}

    def get_instance_diagnostics(self, instance):
        attrs = self.docker.inspect(instance)
        cpu_ns, used, limit = self._usage(attrs)
        uptime = None
        if instance.launched_at:
            uptime = int(timeutils.delta_seconds(
                timeutils.normalize_time(instance.launched_at),
                timeutils.utcnow()))
        diags = diagnostics_obj.Diagnostics(
            state=power_state.STATE_MAP[container_power_state(
                attrs['State'])],
            hypervisor='docker', hypervisor_os='linux', uptime=uptime,
            config_drive=config_drive.has_config_drive(instance))
        diags.memory_details = diagnostics_obj.MemoryDiagnostics(
            maximum=(limit or 0) // units.Mi, used=used // units.Mi)
        diags.add_cpu(id=0, time=cpu_ns)
        return diags

    def snapshot(self, context, instance, image_id, update_task_state):
        images.snapshot(self.docker, context, instance, image_id,
                        update_task_state)

    def manage_image_cache(self, context, all_instances):
        moves.drop_unneeded(self.docker, context)
        images.manage_image_cache(self.docker, context, all_instances)

    def cache_image(self, context, image_id):
        return images.cache_image(self.docker, context, image_id)

    # -- moves (moves.py) ----------------------------------------------------

    def migrate_disk_and_power_off(self, context, instance, dest, flavor,
                                   network_info, block_device_info=None,
                                   timeout=0, retry_interval=0):
        """Stop the container, commit it into the moved image (sent through
        Glance when ``dest`` is another host) and remove it. On failure the
        instance is as it was, and Nova sets it back (InstanceFaultRollback).
        """
        moves.check_root_disk_fits(self.docker, instance, flavor)
        with self._lock(instance):
            attrs = self.docker.inspect(instance)
            was_running = attrs['State']['Status'] in LIVE_STATES
            self.consoles.close(instance)
            self._stop(instance, network_info, timeout)
            try:
                disk_info = moves.carry_out(self.docker, context, instance,
                                            same_host=dest == CONF.my_ip)
            except Exception as e:
                if was_running:
                    self._power_on(instance, network_info)
                raise exception.InstanceFaultRollback(
                    exception.ResizeError(reason=str(e)))
            self._remove(instance, network_info)
            config_drive.remove_config_drive(instance)
        return disk_info

    def finish_migration(self, context, migration, instance, disk_info,
                         network_info, image_meta, resize_instance,
                         allocations, block_device_info=None, power_on=True,
                         share_info=None):
        """Create the container from the moved image, with the flavor Nova
        has now set on the instance."""
        with moves.brought_in(self.docker, context, instance,
                              disk_info) as image:
            self._spawn(instance, image, image_meta, [], None, network_info,
                        power_on)

    def confirm_migration(self, context, migration, instance, network_info):
        """The source's last part: its copy of the moved image (the
        container is gone already; on the same host, the instance's new
        container keeps the layers it uses)."""
        moves.forget(self.docker, instance)

    def finish_revert_migration(self, context, instance, network_info,
                                migration, block_device_info=None,
                                power_on=True, share_info=None):
        """Create the container on the source again, from the moved image
        it kept, with the old flavor Nova has set back."""
        image = moves.revert_reference(self.docker, instance)
        self._spawn(instance, image, instance.image_meta, [], None,
                    network_info, power_on)
        moves.forget(self.docker, instance)

    def check_can_live_migrate_destination(self, context, instance,
                                           src_compute_info, dst_compute_info,
                                           block_migration=False,
                                           disk_over_commit=False):
        """Refuse at the pre-check: a running container's processes cannot be
        moved to another host (that would need checkpoint/restore)."""
        raise exception.MigrationPreCheckError(
            reason=_('the Docker driver cannot live-migrate containers'))
