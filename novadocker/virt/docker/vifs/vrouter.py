"""OpenContrail / Tungsten Fabric vRouter plugging.

The vRouter needs no switch port: the network code makes the instance's veth
pair as for every port (host end ``tap<port id[:11]>``, the name Nova gives a
port's device and the one the agent is told in ``system-name``), and this
plugin announces the host end to the local ``contrail-vrouter-agent``, which
has the vRouter datapath take it over:

* ``POST /port`` on the agent's port-control REST API (``[docker_vrouter]
  agent_host``:``agent_port``, 127.0.0.1:9091) with the port as the agent
  parses it (:func:`port_request`), type ``NameSpacePort``: the instance is a
  network namespace, not a tap of a hypervisor;
* a port file, ``<ports_dir>/<port id>`` holding the same JSON, written
  before the request: the agent reads every such file when it starts, so a
  restarted agent restores the ports it had (vrouter-port-control keeps the
  same files). Unplugging removes the file, then sends ``DELETE
  /port/<port id>``.

A request the agent does not answer, or answers with a server error, is
repeated ``agent_retries`` times, ``agent_retry_interval`` s apart; a client
error (the agent refused the port, e.g. a field it cannot parse) fails at
once. A failed plug raises VirtualInterfacePlugException and takes back what
it did (port file, and the veth through the network code). Unplugging from
an agent that is down succeeds with a warning: the port file is gone, so the
agent will not restore the port when it comes back.
"""

import errno
import http.client
import json
import os
import tempfile
import time

from nova import exception
from nova.network import model
from oslo_log import log as logging
from oslo_utils import uuidutils

from novadocker import conf
from novadocker import privsep
from novadocker.virt.docker.vifs import base

LOG = logging.getLogger(__name__)
CONF = conf.CONF

# The agent's port types: 0 a hypervisor's VM tap, 1 a namespace, 2 ESXi.
PORT_TYPE_NAMESPACE = 1
NO_VLAN = -1
NO_IPV4 = '0.0.0.0'


class AgentError(Exception):
    """The agent refused a request or could not be reached."""

    def __init__(self, message, reachable):
        super().__init__(message)
        self.reachable = reachable


def _uuid_with_dashes(value):
    """Keystone writes project ids as 32 hex digits; the agent parses
    UUIDs in their 8-4-4-4-12 form (vrouter-port-control adds the dashes
    too). Empty stays empty: the agent takes it as no project."""
    if not value:
        return ''
    if len(value) == 32 and '-' not in value:
        return '-'.join((value[:8], value[8:12], value[12:16], value[16:20],
                         value[20:]))
    return value


def _first_address(vif, version):
    for subnet in (vif['network'] or {}).get('subnets', []):
        if subnet['version'] == version and subnet['ips']:
            return subnet['ips'][0]['address']
    return None


def port_request(instance, vif, host_ifname):
    """The body of ``POST /port`` and of the port file: every field the
    agent requires (it rejects a request missing any), with the types it
    checks (strings, and integers for type and VLANs)."""
    if not vif['network'] or not vif['network'].get('id'):
        raise exception.VirtualInterfacePlugException(
            'Port %s has no network id: the vRouter agent needs the virtual '
            'network (vn-id) of every port.' % vif['id'])
    return {
        'id': vif['id'],
        'instance-id': instance.uuid,
        'display-name': instance.get('display_name', None) or '',
        'ip-address': _first_address(vif, 4) or NO_IPV4,
        'ip6-address': _first_address(vif, 6) or '',
        'vn-id': vif['network']['id'],
        'vm-project-id': _uuid_with_dashes(instance.get('project_id', None)),
        'mac-address': vif['address'],
        'system-name': host_ifname,
        'type': PORT_TYPE_NAMESPACE,
        'rx-vlan-id': NO_VLAN,
        'tx-vlan-id': NO_VLAN,
    }


def _port_file(ports_dir, port_id):
    # The path is built in privileged code: only a UUID names a file.
    if not uuidutils.is_uuid_like(port_id):
        raise ValueError('not a port id: %r' % port_id)
    return os.path.join(ports_dir, port_id)


@privsep.sys_admin_pctxt.entrypoint
def write_port_file(ports_dir, port_id, body):
    """Write the port file atomically (the agent may read the directory at
    any moment; a temporary name that is no UUID is skipped by it)."""
    path = _port_file(ports_dir, port_id)
    os.makedirs(ports_dir, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.', suffix='.tmp', dir=ports_dir)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(body, f)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@privsep.sys_admin_pctxt.entrypoint
def remove_port_file(ports_dir, port_id):
    """Remove the port file; idempotent."""
    try:
        os.unlink(_port_file(ports_dir, port_id))
    except FileNotFoundError:
        pass


class AgentClient:
    """The vRouter agent's port-control REST API, with bounded retries."""

    def __init__(self, host, port, timeout, retries, retry_interval):
        self.host, self.port = host, port
        self.timeout = timeout
        self.attempts = retries + 1
        self.retry_interval = retry_interval

    @classmethod
    def from_config(cls):
        group = CONF.docker_vrouter
        return cls(group.agent_host, group.agent_port, group.agent_timeout,
                   group.agent_retries, group.agent_retry_interval)

    @property
    def address(self):
        return '%s:%s' % (self.host, self.port)

    def _request_once(self, method, path, body):
        # http.client, not requests: the agent is local, and no proxy or CA
        # bundle from the environment may come between.
        connection = http.client.HTTPConnection(self.host, self.port,
                                                timeout=self.timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {'Content-Type': 'application/json'} if data else {}
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode(errors='replace')
        finally:
            connection.close()

    def request(self, method, path, body=None):
        """Send one request; AgentError once it was refused (4xx at once,
        5xx or no answer after every attempt)."""
        what = '%s %s to the vRouter agent at %s' % (method, path,
                                                     self.address)
        for attempt in range(1, self.attempts + 1):
            try:
                status, text = self._request_once(method, path, body)
            except (OSError, http.client.HTTPException) as e:
                failure = AgentError(
                    '%s failed after %d attempt(s): %s. Is '
                    'contrail-vrouter-agent running, and are [docker_vrouter]'
                    ' agent_host/agent_port right?' % (what, attempt, e),
                    reachable=False)
            else:
                if 200 <= status < 300:
                    return text
                failure = AgentError('%s was refused: HTTP %d %s'
                                     % (what, status, text.strip()[:500]),
                                     reachable=True)
                if status < 500:
                    raise failure
            if attempt < self.attempts:
                LOG.warning('%s; trying again in %.1f s', failure,
                            self.retry_interval)
                time.sleep(self.retry_interval)
        raise failure

    def add_port(self, body):
        self.request('POST', '/port', body)

    def delete_port(self, port_id):
        self.request('DELETE', '/port/' + port_id)


class VRouterPlugin(base.VIFPlugin):
    """Hands the instance's tap to the vRouter agent (see module doc)."""

    vif_types = (model.VIF_TYPE_VROUTER,)

    @staticmethod
    def _agent():
        return AgentClient.from_config()

    def plug(self, instance, vif, host_ifname, undo):
        ports_dir = CONF.docker_vrouter.ports_dir
        body = port_request(instance, vif, host_ifname)
        try:
            write_port_file(ports_dir, vif['id'], body)
        except OSError as e:
            raise exception.VirtualInterfacePlugException(
                'Could not write the vRouter port file of port %s in %s: %s'
                % (vif['id'], ports_dir,
                   e.strerror or errno.errorcode.get(e.errno, e))) from e
        undo.add('remove vRouter port file %s' % vif['id'],
                 remove_port_file, ports_dir, vif['id'])
        agent = self._agent()
        try:
            agent.add_port(body)
        except AgentError as e:
            raise exception.VirtualInterfacePlugException(str(e)) from e
        undo.add('delete vRouter port %s' % vif['id'], agent.delete_port,
                 vif['id'])
        LOG.debug('vRouter agent at %s took port %s as %s', agent.address,
                  vif['id'], host_ifname, instance=instance)

    def unplug(self, instance, vif):
        remove_port_file(CONF.docker_vrouter.ports_dir, vif['id'])
        try:
            self._agent().delete_port(vif['id'])
        except AgentError as e:
            if e.reachable:
                raise exception.VirtualInterfaceUnplugException(
                    reason=str(e)) from e
            LOG.warning('%s. Its port file is removed: the agent will not '
                        'restore port %s when it starts again.', e,
                        vif['id'], instance=instance)
