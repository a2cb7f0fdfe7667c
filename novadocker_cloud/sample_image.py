"""Images built here from Debian's static busybox (no registry is reachable
from these machines): a rootfs holding only busybox, imported into an
engine with the given command."""

import io
import json
import tarfile

import docker

from novadocker_cloud.services import docker as docker_service

BUSYBOX = '/bin/busybox'
BUSYBOX_APPLETS = ('sh', 'sleep', 'cat', 'echo', 'hostname', 'ip', 'ping',
                   'wget', 'nc', 'ls', 'ps', 'id', 'grep', 'touch', 'ifconfig',
                   'route', 'httpd', 'timeout', 'true', 'false', 'kill',
                   'mkdir', 'rm', 'env', 'sed', 'head', 'wc', 'test', 'mount',
                   'dd')
# The demo's web server: PID 1 serves a page naming its host, says so on
# the console, and ends at once on SIGTERM.
WEB_COMMAND = (
    'sh', '-c',
    'trap "exit 0" TERM; mkdir -p /var/www; '
    'echo "hello from $(hostname)" > /var/www/index.html; '
    'httpd -p 80 -h /var/www; echo "$(hostname) is serving on port 80"; '
    'while true; do sleep 1 & wait $!; done')


def directory(name, mode=0o755):
    """A (TarInfo, data) rootfs entry for a directory."""
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info, None


def symlink(name, target):
    """A (TarInfo, data) rootfs entry for a symbolic link."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


def regular(name, data, mode=0o644):
    """A (TarInfo, data) rootfs entry for a file holding ``data``."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def busybox_rootfs_tar(extra_applets=(), extra_entries=()):
    """A tar stream of a rootfs holding only the static busybox, linked as
    BUSYBOX_APPLETS and ``extra_applets``; images that need more (the SSH
    test image) add ``extra_entries``, (TarInfo, data) pairs, after it."""
    entries = [directory(d, 0o1777 if d == 'tmp' else 0o755)
               for d in ('bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root',
                         'var', 'var/www')]
    with open(BUSYBOX, 'rb') as f:
        entries.append(regular('bin/busybox', f.read(), 0o755))
    applets = dict.fromkeys(BUSYBOX_APPLETS + tuple(extra_applets))
    entries += [symlink('bin/' + applet, 'busybox') for applet in applets]
    entries += [regular('etc/passwd', b'root:x:0:0:root:/root:/bin/sh\n'),
                regular('etc/group', b'root:x:0:\n')]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for info, data in entries + list(extra_entries):
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return buf.getvalue()


def saved(tag, build_image):
    """``docker save`` bytes of the image ``build_image(client, tag)`` makes
    in the cloud's engine, removed from it afterwards: the bytes are the
    only copy, so a boot from them must load it from Glance."""
    with docker.APIClient(base_url=docker_service.URL) as api:
        build_image(api, tag)
        data = b''.join(api.get_image(tag))
        api.remove_image(tag)
    return data


def web_server(client, tag, extra_entries=()):
    """The demo's web server image (``saved``'s ``build_image``), with
    ``extra_entries`` as :func:`build` takes them."""
    return build(client, tag, WEB_COMMAND, extra_entries)


def build(client, tag, command, extra_entries=()):
    """Import the busybox rootfs (with ``extra_entries``, as
    busybox_rootfs_tar takes them) as ``tag`` (a docker.APIClient); returns
    the image id."""
    repository, _, version = tag.rpartition(':')
    client.import_image_from_data(busybox_rootfs_tar(
        extra_entries=extra_entries),
                                  repository=repository, tag=version,
                                  changes=['CMD %s' % json.dumps(command)])
    return client.inspect_image(tag)['Id']
