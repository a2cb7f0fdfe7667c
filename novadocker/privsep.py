"""The one privileged context of nova-docker.

Everything that changes the host's or a container's network (namespace links,
veth pairs, Linux bridges, OVSDB ports) is an entrypoint of
:data:`sys_admin_pctxt`. Where those entrypoints run depends on who the
service is:

* An unprivileged service (production: nova-compute as ``nova``): a privsep
  daemon that keeps only the capabilities below. nova-compute tells
  oslo.privsep to start it as ``sudo nova-rootwrap /etc/nova/rootwrap.conf
  privsep-helper ...``; etc/rootwrap.d/docker.filters allows exactly that
  command.
* A service that is already root, with ``[novadocker_privsep]
  helper_command`` unset (tests, CI, all-in-one hosts without sudo): in the
  calling process. A daemon would separate no privilege there; it would only
  add a process, a round trip per call and a dependency on sudo.
* ``helper_command`` set: always the daemon, started with that command (for
  example ``privsep-helper --config-file /etc/nova/nova.conf`` run by root
  without sudo).
"""

import os

from oslo_privsep import capabilities
from oslo_privsep import priv_context

from novadocker import conf


def runs_in_daemon(euid, helper_command):
    """Whether entrypoints go to a privsep daemon (see the module doc)."""
    return euid != 0 or bool(helper_command)


class _Context(priv_context.PrivContext):
    """A PrivContext that needs no helper when the service is root.

    oslo.privsep always starts a daemon unless someone calls
    ``set_client_mode(False)``; here that choice is made per call from the
    effective uid and the configuration, so no caller has to remember it. An
    explicit ``set_client_mode`` (the daemon itself, test fixtures) still
    wins.
    """

    _forced_client_mode = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # PrivContext.__init__ assigns client_mode = True: a default, not a
        # decision.
        self._forced_client_mode = None

    @property
    def client_mode(self):
        if self._forced_client_mode is not None:
            return self._forced_client_mode
        return runs_in_daemon(os.geteuid(), self.conf.helper_command)

    @client_mode.setter
    def client_mode(self, enabled):
        self._forced_client_mode = enabled


sys_admin_pctxt = _Context(
    'novadocker',
    cfg_section=conf.PRIVSEP_GROUP,
    pypath=__name__ + '.sys_admin_pctxt',
    capabilities=[
        # netlink: veth pairs, bridges, addresses, routes; ethtool ioctls.
        capabilities.CAP_NET_ADMIN,
        # setns() into a container's namespace, bind-mounting its link.
        capabilities.CAP_SYS_ADMIN,
        # open /proc/<pid>/ns/net of a container that runs as another user.
        capabilities.CAP_SYS_PTRACE,
        # the OVSDB socket and /var/run/netns when [novadocker_privsep] user
        # is not root.
        capabilities.CAP_DAC_OVERRIDE,
    ],
)
