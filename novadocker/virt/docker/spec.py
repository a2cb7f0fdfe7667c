"""The container's configuration, from Nova's view of the instance.

Small pure functions, each building one piece (limits, labels, environment,
command, names, DNS, security), and :func:`build` putting them together as
keyword arguments for ``APIClient.create_container`` and
``create_host_config``. Nothing here talks to Docker.
"""

import io
import os
import re
import shlex
import tarfile
import unicodedata

from nova import exception
from nova.i18n import _
from nova import utils

from novadocker.virt.docker import client

CPU_PERIOD_US = 100000
CPU_SHARES_PER_VCPU = 1024
# Debian's convention for the host's own name when it has no fixed address.
OWN_NAME_ADDRESS = '127.0.1.1'

_ENV_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
HOST_NAME_MAX = 64
_HOSTNAME_LABEL = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')
MAX_ENV_VALUE_BYTES = 32 * 1024
# Where the config drive appears in the container.
CONFIG_DRIVE_TARGET = '/config-drive'
# A sandbox only waits (pause needs well under 1 MiB): enough to start, not
# enough to be useful to anything else.
SANDBOX_LIMITS = {'mem_limit': '16m', 'memswap_limit': '16m',
                  'cpu_shares': 2, 'pids_limit': 8}


def _invalid_request(message, **kwargs):
    """What the user asked for cannot be given on any host: Nova aborts the
    build with this as the server's fault instead of rescheduling it."""
    return exception.InvalidInput(reason=message % kwargs)


def _invalid_image(image_meta, message, **kwargs):
    """As _invalid_request, for what the image says."""
    return exception.ImageUnacceptable(image_id=image_meta.id,
                                       reason=message % kwargs)


def labels(instance):
    """Labels that let the driver find its containers, and count the vCPUs
    they were given, in one list call."""
    return {client.LABEL_UUID: instance.uuid,
            client.LABEL_NAME: instance.name,
            client.LABEL_PROJECT: instance.project_id or '',
            client.LABEL_VCPUS: str(instance.flavor.vcpus)}


def resource_limits(flavor, pids_limit):
    """Hard memory (no swap beyond it), CPU weight and quota, pids."""
    memory = '%dm' % flavor.memory_mb
    return {'mem_limit': memory,
            'memswap_limit': memory,
            'cpu_shares': CPU_SHARES_PER_VCPU * flavor.vcpus,
            'cpu_period': CPU_PERIOD_US,
            'cpu_quota': CPU_PERIOD_US * flavor.vcpus,
            'pids_limit': pids_limit}


def root_disk(flavor):
    """The flavor's root_gb as the limit of the container's writable layer
    (the engine's storage option ``size``, in GiB as Nova counts them);
    none for root_gb 0, which Nova means as "the image's size"."""
    if not flavor.root_gb:
        return {}
    return {'storage_opt': {'size': '%dG' % flavor.root_gb}}


def environment(metadata):
    """Instance metadata as environment variables, refusing what a process
    environment cannot hold (bad names, NUL bytes, oversized values)."""
    env = {}
    for key, value in sorted((metadata or {}).items()):
        if not _ENV_NAME.match(key):
            raise _invalid_request(
                _('metadata key %(key)r cannot be an environment variable '
                  'name in the container (only letters, digits and "_", '
                  'not starting with a digit)'), key=key)
        value = '' if value is None else str(value)
        if '\0' in value:
            raise _invalid_request(
                _('metadata %(key)s contains a NUL byte'), key=key)
        if len(value.encode()) > MAX_ENV_VALUE_BYTES:
            raise _invalid_request(
                _('metadata %(key)s is longer than %(max)d bytes'),
                key=key, max=MAX_ENV_VALUE_BYTES)
        env[key] = value
    return env


def command(image_meta):
    """The ``os_command_line`` image property as an argv list, or None.

    It is split like a shell would split words but never given to a shell,
    so metacharacters in it are data.
    """
    props = image_meta.properties
    if not props.obj_attr_is_set('os_command_line'):
        return None
    line = props.os_command_line
    try:
        argv = shlex.split(line)
    except ValueError as e:
        raise _invalid_image(image_meta, _('os_command_line %(line)r cannot '
                                           'be split into arguments: '
                                           '%(err)s'), line=line, err=e)
    if not argv or any('\0' in arg for arg in argv):
        raise _invalid_image(image_meta, _('os_command_line %(line)r is '
                                           'empty or holds a NUL byte'),
                             line=line)
    return argv


def is_hostname(name):
    """Whether ``name`` is a host name by RFC 1123 (ASCII letters, digits
    and inner hyphens in labels of 1 to 63)."""
    return len(name) <= 253 and all(
        _HOSTNAME_LABEL.match(label) for label in name.split('.'))


def hostname(instance):
    """The instance's hostname, made a valid one if it is not.

    Nova's API derives it from the server's name keeping Latin-1 letters
    (``ünïcödé`` from "ünïcödé-сервер"), which a VM's guest may take but no
    container's kernel and resolver do: their accents are dropped
    (``unicode``), the rest sanitised as Nova does, and a name left empty
    is ``Server-<uuid>``, Nova's own fallback.
    """
    name = instance.hostname or instance.uuid
    if is_hostname(name):
        return name
    ascii_name = unicodedata.normalize('NFKD', name).encode(
        'ascii', 'ignore').decode()
    valid = utils.sanitize_hostname(ascii_name)
    return valid if is_hostname(valid) else 'Server-%s' % instance.uuid


def kernel_hostname(name):
    """What the container's kernel can hold (HOST_NAME_MAX, 64 bytes): the
    name, or the first label of a longer FQDN (microversion 2.94 allows
    253), as cloud-init sets it on a VM."""
    return name if len(name) <= HOST_NAME_MAX else name.split('.')[0]


def fixed_ips(network_info):
    return [ip['address'] for vif in network_info or []
            for ip in vif.fixed_ips()]


def dns_servers(network_info):
    """DNS servers of every subnet, in order, without repeats."""
    servers = []
    for vif in network_info or []:
        for subnet in vif['network']['subnets']:
            for dns in subnet['dns']:
                if dns['address'] not in servers:
                    servers.append(dns['address'])
    return servers


def own_hosts_entry(names, network_info):
    """/etc/hosts entries making the host's names resolve inside the
    container: to the first fixed IPv4 address (what a daemon binding its
    hostname needs), else the loopback convention."""
    ipv4 = [ip for ip in fixed_ips(network_info) if ':' not in ip]
    return dict.fromkeys(names, ipv4[0] if ipv4 else OWN_NAME_ADDRESS)


def authorized_keys_tar(key_data):
    """A tar archive holding /root/.ssh/authorized_keys with ``key_data``,
    for the engine's put_archive at the container's root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for path, mode in (('root', 0o700), ('root/.ssh', 0o700)):
            info = tarfile.TarInfo(path)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        data = key_data.strip().encode() + b'\n'
        info = tarfile.TarInfo('root/.ssh/authorized_keys')
        info.size, info.mode = len(data), 0o600
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def security(privileged, cap_drop, no_new_privileges, cap_add=(),
             userns_remapped=False):
    """Privilege settings; Docker's default capabilities plus cap_add minus
    cap_drop.

    A privileged container is root on the host whatever its namespace, and
    an engine that remaps user namespaces (``userns_remapped``) refuses one
    in its remapped namespace: it runs in the host's (``userns_mode``).
    """
    if privileged:
        return dict({'privileged': True},
                    **({'userns_mode': 'host'} if userns_remapped else {}))
    options = {'privileged': False, 'cap_drop': list(cap_drop)}
    if cap_add:
        options['cap_add'] = list(cap_add)
    if no_new_privileges:
        options['security_opt'] = ['no-new-privileges']
    return options


def console(image_meta, serial_console_enabled):
    """A terminal and an open stdin, for the serial console (console.py).

    The image's ``hw_serial_port_count`` decides when set: 0 for none (a
    daemon that must not have a terminal), more for one even while the
    serial console is off (a shell as PID 1 reads its stdin). Else
    ``[serial_console] enabled`` does. With a terminal, the process's
    output is one stream, and the console log holds the echo of what was
    typed.
    """
    props = image_meta.properties
    if props.obj_attr_is_set('hw_serial_port_count'):
        wanted = props.hw_serial_port_count > 0
    else:
        wanted = serial_console_enabled
    if not wanted:
        return {}
    # detach: otherwise the SDK sets StdinOnce, and the first console
    # client to leave would close the container's stdin.
    return {'tty': True, 'stdin_open': True, 'detach': True}


def lxcfs_mounts(lxcfs_path, files):
    """Read-only binds of the LXCFS ``files`` (relative to
    ``lxcfs_path``) over the container's own: LXCFS computes them from the
    cgroups of the process reading, so the instance sees its flavor's
    vCPUs and memory and its own uptime. Mounts, not binds: the engine
    refuses a missing source rather than make it a directory."""
    return [{'Type': 'bind', 'Source': os.path.join(lxcfs_path, name),
             'Target': '/' + name, 'ReadOnly': True} for name in files]


def config_drive_mount(directory):
    """A read-only bind of the config drive tree ``directory`` (see
    config_drive.py) at /config-drive: what a VM would find on its ``config-2``
    drive, already mounted. Read-only for root in the container too."""
    return {'Type': 'bind', 'Source': directory,
            'Target': CONFIG_DRIVE_TARGET, 'ReadOnly': True}


def network_identity(instance, network_info):
    """(create_container, create_host_config) arguments for the container
    that holds the network namespace: its own namespace (mode "none", only
    ``lo``: the VIF plugins add the Neutron ports), the hostname, and the
    /etc/hosts and resolv.conf that go with them. Not ``network_disabled``:
    with it the engine writes no /etc/hosts and no resolv.conf.
    """
    name = hostname(instance)
    short = kernel_hostname(name)
    return {'hostname': short}, {
        'network_mode': 'none',
        'extra_hosts': own_hosts_entry([name, short], network_info),
        'dns': dns_servers(network_info),
    }


def request(instance, image_meta, conf, network_holder=None,
            serial_console_enabled=False, lxcfs_files=(),
            config_drive_dir=None, root_disk_quota=False,
            userns_remapped=False):
    """Arguments for create_container and create_host_config, all but the
    network identity that needs the ports (:func:`with_network`): every
    refusal of the request is here, before the image or the ports.

    The container holds its own network namespace, or, given
    ``network_holder`` (a sandbox's name), joins that container's
    namespace, taking its hostname, /etc/hosts and resolv.conf with it.
    ``lxcfs_files``, found under ``conf.lxcfs_path`` when nova-compute
    started, are bound over the container's own (:func:`lxcfs_mounts`);
    ``config_drive_dir``, the instance's config drive tree, at
    /config-drive (:func:`config_drive_mount`); with ``root_disk_quota``
    (the engine enforces it, found when nova-compute started), the flavor's
    root disk size (:func:`root_disk`); ``userns_remapped``: the engine
    remaps user namespaces (:func:`security`).
    """
    create_kwargs = {
        'labels': labels(instance),
        'environment': environment(instance.metadata),
        'command': command(image_meta),
    }
    create_kwargs.update(console(image_meta, serial_console_enabled))
    host_config = resource_limits(instance.flavor, conf.pids_limit)
    if root_disk_quota:
        host_config.update(root_disk(instance.flavor))
    host_config.update(security(conf.privileged, conf.cap_drop,
                                conf.no_new_privileges, conf.cap_add,
                                userns_remapped))
    mounts = lxcfs_mounts(conf.lxcfs_path, lxcfs_files) if lxcfs_files \
        else []
    if config_drive_dir:
        mounts.append(config_drive_mount(config_drive_dir))
    if mounts:
        host_config['mounts'] = mounts
    if network_holder:
        host_config['network_mode'] = 'container:' + network_holder
    return create_kwargs, host_config


def with_network(instance, network_info, create_kwargs, host_config):
    """:func:`request`'s arguments completed with the container's network
    identity (:func:`network_identity`), unless it joins a holder's
    namespace; new dicts, the request's are left as they are."""
    create_kwargs, host_config = dict(create_kwargs), dict(host_config)
    if 'network_mode' not in host_config:
        identity, network = network_identity(instance, network_info)
        create_kwargs.update(identity)
        host_config.update(network)
    return create_kwargs, host_config


def build(instance, image_meta, network_info, conf, **request_options):
    """:func:`request` with :func:`with_network`: all at once, for what
    has its ports already."""
    return with_network(instance, network_info,
                        *request(instance, image_meta, conf,
                                 **request_options))


def build_sandbox(instance, network_info, conf):
    """Arguments for the instance's network sandbox: the network identity,
    confinement as tight as the instance's, and just enough resources for
    a process that only waits."""
    create_kwargs, host_config = network_identity(instance, network_info)
    # It has nothing to save: when the engine stops it (an engine restart
    # or shutdown), no grace period, whatever the image does with SIGTERM.
    create_kwargs.update(labels={client.LABEL_SANDBOX: instance.uuid},
                         stop_timeout=0)
    host_config.update(SANDBOX_LIMITS, read_only=True)
    host_config.update(security(False, conf.cap_drop,
                                conf.no_new_privileges))
    return create_kwargs, host_config
