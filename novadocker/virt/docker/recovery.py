"""Instances the Docker engine stopped on its way down, started again.

With ``--live-restore`` an engine restart (an upgrade) should leave every
container running. Yet dockerd 20.10, told to stop while no container runs,
stops every container that runs by then, and so one it was starting at that
moment: the user's start or the boot succeeded, and the container is killed
seconds later (measured: a SIGTERM up to ~120 ms into the start). The event
watcher (events.py) hands over the containers killed just before it lost the
engine; those Nova still wants running are started again as after a host
boot. Without live-restore stopping them is what the operator chose: Nova is
told they stopped, as it is of any container that stops.
"""

from nova.compute import power_state
from nova.compute import vm_states
from nova import context as nova_context
from nova import exception
from nova import objects
from oslo_log import log as logging

from novadocker import conf as nd_conf

CONF = nd_conf.CONF
LOG = logging.getLogger(__name__)


def wanted_running(instance, host):
    """Whether Nova wants ``instance`` running on ``host`` with nothing
    under way (a stop Nova asked for has its task state, then STOPPED)."""
    return (instance.host == host and instance.vm_state == vm_states.ACTIVE
            and instance.task_state is None)


def restart_stopped_by_engine(drv, lifecycles):
    """``lifecycles``: the held STOPPED events of containers killed just
    before the engine went away. ``drv``: the DockerDriver."""
    context = nova_context.get_admin_context()
    live_restore = drv.docker.info().get('LiveRestoreEnabled')
    for lifecycle in lifecycles:
        try:
            # The engine first: Nova need not be asked of a container that
            # runs again (the operation cut short started it once more).
            if drv.get_info(objects.Instance(uuid=lifecycle.uuid),
                            use_cache=False).state == power_state.RUNNING:
                continue
            instance = objects.Instance.get_by_uuid(
                context, lifecycle.uuid, expected_attrs=['info_cache'])
            if not (live_restore and wanted_running(instance, CONF.host)):
                drv.emit_event(lifecycle)
                continue
            LOG.warning('The Docker engine stopped this instance on its way '
                        'down despite live-restore (it does so when no '
                        'container runs as it is told to stop): starting it '
                        'again', instance=instance)
            drv.resume_state_on_host_boot(
                context, instance, instance.get_network_info(), None)
        except exception.InstanceNotFound:
            continue  # deleted meanwhile
        except Exception:
            LOG.exception('Could not start instance %s again; Nova is told '
                          'it stopped', lifecycle.uuid)
            drv.emit_event(lifecycle)
