"""The compute node's Docker engine at /var/run/docker.sock: the one already
running, or dockerd started without a bridge or NAT rules of its own
(instances get their network from Neutron, never from the engine), its
containers' root remapped to an unprivileged host uid, and its socket
writable by root and the ``docker`` group only."""

import os

import docker

from novadocker_cloud import process
from novadocker_cloud import services

SOCKET = '/var/run/docker.sock'
URL = 'unix://' + SOCKET


def answers(url=URL):
    """The engine's version, if it answers."""
    with docker.APIClient(base_url=url, version='auto', timeout=5) as api:
        return api.version()['Version']


def start(service, name, pidfile, enter=list, data_root=None):
    """dockerd at the standard socket of the /run it sees (``enter``
    places it in a node's namespaces); returns the socket's URL as this
    process reaches it, through the engine's own root."""
    engine = service.daemon(name, enter([
        'dockerd', '--host', URL, '--group', 'docker', '--pidfile', pidfile,
        *(['--data-root', data_root] if data_root else []),
        '--bridge=none', '--iptables=false', '--ip-masq=false',
        '--ip-forward=false',
        # Containers keep running while the engine restarts (an upgrade,
        # a crash): instances outlive their engine as VMs outlive
        # libvirtd.
        '--live-restore',
        # Root in an instance is the first subordinate uid of the dockremap
        # user (which dockerd makes, with its ranges in /etc/subuid and
        # /etc/subgid), not root on this host.
        '--userns-remap=default']))
    socket = process.seen_by(engine.proc.pid, SOCKET)
    url = 'unix://' + socket
    engine.wait_until(lambda: answers(url), 'an answer on ' + SOCKET, 60)
    os.chmod(socket, 0o660)
    return url


class Docker(services.Service):
    name = 'docker'

    def up(self):
        try:
            return '%s, engine %s (already running)' % (URL, answers())
        except Exception:
            pass
        url = start(self, 'dockerd',
                    self.layout.data('run', 'docker-engine.pid'))
        return '%s, engine %s' % (URL, answers(url))
