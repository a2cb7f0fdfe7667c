"""Images built here from Debian's static busybox (no registry is reachable
from these machines): a rootfs holding only busybox, imported into an
engine with the given command."""

import io
import json
import tarfile

BUSYBOX = '/bin/busybox'
BUSYBOX_APPLETS = ('sh', 'sleep', 'cat', 'echo', 'hostname', 'ip', 'ping',
                   'wget', 'nc', 'ls', 'ps', 'id', 'grep', 'touch', 'ifconfig',
                   'route', 'httpd', 'timeout', 'true', 'false', 'kill',
                   'mkdir', 'rm', 'env', 'sed', 'head', 'wc', 'test', 'mount')
# The demo's web server: PID 1 serves a page naming its host, says so on
# the console, and ends at once on SIGTERM.
WEB_COMMAND = (
    'sh', '-c',
    'trap "exit 0" TERM; mkdir -p /var/www; '
    'echo "hello from $(hostname)" > /var/www/index.html; '
    'httpd -p 80 -h /var/www; echo "$(hostname) is serving on port 80"; '
    'while true; do sleep 1 & wait $!; done')


def busybox_rootfs_tar():
    """A tar stream of a rootfs holding only the static busybox."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for d in ('bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'var',
                  'var/www'):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == 'tmp' else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname='bin/busybox')
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo('bin/' + applet)
            info.type = tarfile.SYMTYPE
            info.linkname = 'busybox'
            tar.addfile(info)
        for name, text in (('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n'),
                           ('etc/group', 'root:x:0:\n')):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build(client, tag, command):
    """Import the busybox rootfs as ``tag`` (a docker.APIClient); returns
    the image id."""
    repository, _, version = tag.rpartition(':')
    client.import_image_from_data(busybox_rootfs_tar(),
                                  repository=repository, tag=version,
                                  changes=['CMD %s' % json.dumps(command)])
    return client.inspect_image(tag)['Id']
