"""OVS ports through a native OVSDB connection (ovsdbapp), not ovs-vsctl.

One connection per OVSDB endpoint per process, opened on first use and kept:
connecting costs ~66 ms, a port transaction ~12 ms, where every ovs-vsctl
call forks (~20 ms). Entrypoints run privileged (novadocker.privsep): the
OVSDB socket is root's.
"""

import threading
import time

from nova import exception
from oslo_log import log as logging
from ovsdbapp.backend.ovs_idl import connection as ovs_connection
from ovsdbapp.backend.ovs_idl import idlutils
from ovsdbapp.schema.open_vswitch import impl_idl

from novadocker import privsep

LOG = logging.getLogger(__name__)

# Only what adding and deleting ports reads or writes: the connection's
# thread parses every update of every registered column, and ovs-vswitchd
# rewrites each Interface's statistics and status every few seconds and a
# port's many state columns as it takes the device.
_COLUMNS = {
    'Open_vSwitch': ['bridges'],
    'Bridge': ['name', 'ports'],
    'Port': ['name', 'interfaces'],
    'Interface': ['name', 'ofport', 'external_ids'],
}
_APIS = {}
OFPORT_POLL_INTERVAL = 0.002
_APIS_LOCK = threading.Lock()


class _OvsdbApi(impl_idl.OvsdbIdl):
    """ovsdbapp keeps the first connection of a class for every later
    instance; this one keeps its own, so endpoints (and tests' private OVS)
    never mix."""

    @property
    def ovsdb_connection(self):
        return self._ovsdb_connection

    @ovsdb_connection.setter
    def ovsdb_connection(self, connection):
        self._ovsdb_connection = connection

    def create_transaction(self, check_error=False, log_errors=True,
                           **kwargs):
        return _CommittedTransaction(self, self.ovsdb_connection,
                                     check_error=check_error,
                                     log_errors=log_errors)


class _CommittedTransaction(impl_idl.OvsVsctlTransaction):
    """An ovs-vsctl transaction that ends when the database has committed
    it, like ``ovs-vsctl --no-wait``.

    The schema's default also waits until ovs-vswitchd has applied it, and
    does so inside ovsdbapp's single connection thread: every port change
    of every concurrent spawn would queue behind that wait. add_port waits
    for its own port's ofport instead, in its caller's thread.
    """

    def pre_commit(self, txn):
        txn.expected_ifaces = set()

    def do_post_commit(self, txn):
        pass


def _api(connection, timeout):
    with _APIS_LOCK:
        api = _APIS.get(connection)
        if api is None:
            try:
                helper = idlutils.get_schema_helper(connection,
                                                    'Open_vSwitch')
                for table, columns in _COLUMNS.items():
                    helper.register_columns(table, columns)
                idl = ovs_connection.OvsdbIdl(connection, helper)
                api = _OvsdbApi(ovs_connection.Connection(idl, timeout))
            except Exception as e:
                raise exception.NovaException(
                    'Cannot connect to OVSDB at %s (%s): is ovsdb-server '
                    'running, and is [docker_ovs] ovsdb_connection right?'
                    % (connection, e)) from e
            _APIS[connection] = api
    return api


def _ofport(api, port):
    """From the connection's copy of the database, as the row lookups
    below: a command would queue behind every other spawn's on the one
    connection thread."""
    row = api.lookup('Interface', port, default=None)
    value = row.ofport if row is not None else None
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _wait_for_ofport(api, port, timeout):
    """The port's OpenFlow number once ovs-vswitchd took the device (> 0)
    or refused it (-1); None if it did neither within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        ofport = _ofport(api, port)
        if ofport is not None or time.monotonic() > deadline:
            return ofport
        time.sleep(OFPORT_POLL_INTERVAL)


@privsep.sys_admin_pctxt.entrypoint
def add_port(connection, timeout, bridge, port, external_ids):
    """Add ``port`` to ``bridge`` with its external_ids in one transaction,
    so an agent never sees the port without its iface-id. True if the port
    is new; a port of that name (left by a crash) is kept and its
    external_ids refreshed.

    Fails when ovs-vswitchd did not take the device (no ofport): a port in
    the database alone carries no traffic.
    """
    api = _api(connection, timeout)
    if api.lookup('Bridge', bridge, default=None) is None:
        raise exception.VirtualInterfacePlugException(
            'OVS bridge %s does not exist: is the Neutron OVS agent or '
            'ovn-controller running on this host?' % bridge)
    is_new = api.lookup('Port', port, default=None) is None
    with api.transaction(check_error=True) as txn:
        txn.add(api.add_port(bridge, port, may_exist=True))
        txn.add(api.db_set('Interface', port,
                           ('external_ids', external_ids)))
    ofport = _wait_for_ofport(api, port, timeout)
    if not ofport or ofport < 0:
        if is_new:
            api.del_port(port, if_exists=True).execute(check_error=True)
        raise exception.VirtualInterfacePlugException(
            'ovs-vswitchd did not attach %s to %s (ofport %s): is it '
            'running? Its log says why it refused the device.'
            % (port, bridge, ofport))
    return is_new


@privsep.sys_admin_pctxt.entrypoint
def delete_port(connection, timeout, port):
    """Remove ``port`` from whichever bridge has it; idempotent."""
    _api(connection, timeout).del_port(port, if_exists=True).execute(
        check_error=True)
