"""The compute node's Docker engine at /var/run/docker.sock: the one already
running, or dockerd started without a bridge or NAT rules of its own
(instances get their network from Neutron, never from the engine), its
containers' root remapped to an unprivileged host uid, and its socket
writable by root and the ``docker`` group only."""

import os

import docker

from novadocker_cloud import services

SOCKET = '/var/run/docker.sock'
URL = 'unix://' + SOCKET


def answers():
    """The engine's version, if it answers."""
    with docker.APIClient(base_url=URL, version='auto', timeout=5) as api:
        return api.version()['Version']


class Docker(services.Service):
    name = 'docker'

    def up(self):
        try:
            return '%s, engine %s (already running)' % (URL, answers())
        except Exception:
            pass
        engine = self.daemon('dockerd', [
            'dockerd', '--host', URL, '--group', 'docker',
            '--pidfile', self.layout.data('run', 'docker-engine.pid'),
            '--bridge=none', '--iptables=false', '--ip-masq=false',
            '--ip-forward=false',
            # Containers keep running while the engine restarts (an upgrade,
            # a crash): instances outlive their engine as VMs outlive
            # libvirtd.
            '--live-restore',
            # Root in an instance is the first subordinate uid of the
            # dockremap user (which dockerd makes, with its ranges in
            # /etc/subuid and /etc/subgid), not root on this host.
            '--userns-remap=default'])
        engine.wait_until(answers, 'an answer on ' + SOCKET, 60)
        os.chmod(SOCKET, 0o660)
        return '%s, engine %s' % (URL, answers())
