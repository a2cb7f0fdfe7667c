"""nova-compute restarts while its servers' containers run.

Nova's own restart_compute_service: the service stops (the driver's
cleanup_host), then a new service starts with a new DockerDriver, loaded by
nova's loader as on a real restart (``keep_hypervisor_state=False``: the
state is the engine's, not the old driver object's). The new service runs
init_host and _init_instance for every instance, which includes
plug_vifs. One server's container is killed while the service is down.
The engine's event stream reports only what happens while the service
runs: nova learns of the dead container from its power-state sync, which
runs every ``sync_power_state_interval`` s and is run here directly.

See base.py for what is real (nova, the engine, OVS) and what stands in.
"""

from nova import context as nova_context

from novadocker.virt.docker import client as docker_client
from tests.e2e import base


class ComputeRestartTest(base.DockerServersTestBase):

    # As in production: the power-state sync casts its stop while it holds
    # the instance's lock, which stop_instance takes too; made a call, it
    # would wait for itself until the RPC timeout.
    CAST_AS_CALL = False

    def _boot_three(self):
        """Two servers that must survive untouched (one plain OVS port, one
        hybrid) and one whose container is killed."""
        self.ports = [
            self._add_port(base.ovs_port('192.168.1.51')),
            self._add_port(base.ovs_port('192.168.1.52', hybrid=True)),
            self._add_port(base.ovs_port('192.168.1.53'))]
        servers = [self._boot(port, name='server-%d' % n)
                   for n, port in enumerate(self.ports)]
        self.started = {s['id']: self._container(s)['State'] for s in servers}
        return servers

    def _restart_compute_killing(self, server):
        """Restart the compute service; ``server``'s container is killed
        between the old service's stop and the new one's start."""
        stop = self.compute.stop

        def stop_then_kill(*args, **kwargs):
            stop(*args, **kwargs)
            self.docker.kill(docker_client.container_name(server['id']))

        self.compute.stop = stop_then_kill
        self.compute = self.restart_compute_service(
            self.compute, keep_hypervisor_state=False)
        self.computes[self.compute.host] = self.compute

    def assert_untouched(self, server, port):
        """Same process as before the restart, still plumbed, ACTIVE."""
        state = self._container(server)['State']
        before = self.started[server['id']]
        self.assertEqual((before['StartedAt'], before['Pid']),
                         (state['StartedAt'], state['Pid']))
        self.assert_plumbed(server, port)
        self.assertEqual('ACTIVE', self.api.get_server(server['id'])['status'])

    def test_running_servers_are_left_alone_and_a_dead_one_is_stopped(self):
        plain, hybrid, victim = self._boot_three()
        self._restart_compute_killing(victim)

        self.assert_untouched(plain, self.ports[0])
        self.assert_untouched(hybrid, self.ports[1])
        self.assert_reaches(plain, self.ports[1])
        self.assert_reaches(hybrid, self.ports[0])

        self.compute.manager._sync_power_states(
            nova_context.get_admin_context())
        victim = self._wait_for_state_change(victim, 'SHUTOFF')
        state = self._container(victim)['State']
        self.assertEqual('exited', state['Status'])
        self.assertEqual(self.started[victim['id']]['StartedAt'],
                         state['StartedAt'])
        self.assertNotIn(base.ovs_device(self.ports[2]),
                         self.switch.ports(base.INTEGRATION_BRIDGE))
        # The sync changed nothing else.
        self.assert_untouched(plain, self.ports[0])
        self.assert_untouched(hybrid, self.ports[1])

        for server in (plain, hybrid, victim):
            self._delete_server(server)

    def test_with_resume_guests_state_the_dead_one_comes_back(self):
        """[DEFAULT] resume_guests_state_on_host_boot: the new service
        starts what should run (the driver's resume_state_on_host_boot),
        with its port plugged into the new namespace."""
        self.flags(resume_guests_state_on_host_boot=True)
        plain, hybrid, victim = self._boot_three()
        self._restart_compute_killing(victim)

        self.assert_untouched(plain, self.ports[0])
        self.assert_untouched(hybrid, self.ports[1])
        state = self._container(victim)['State']
        self.assertEqual('running', state['Status'])
        self.assertNotEqual(self.started[victim['id']]['Pid'], state['Pid'])
        self.assert_plumbed(victim, self.ports[2])
        self.assertEqual('ACTIVE', self.api.get_server(victim['id'])['status'])
        self.assert_reaches(victim, self.ports[1])
        self.assert_reaches(plain, self.ports[2])

        for server in (plain, hybrid, victim):
            self._delete_server(server)


class RescuedComputeRestartTest(base.DockerServersTestBase):
    """nova-compute restarts while a server is rescued."""

    CAST_AS_CALL = False

    def _rescued(self, port):
        server = self._boot(port, name='rescued')
        self.api.post_server_action(server['id'], {'rescue': None})
        return self._wait_for_state_change(server, 'RESCUE')

    def _rescue_state(self, server):
        return self.docker.inspect_container(
            docker_client.rescue_name(server['id']))['State']

    def test_a_rescue_survives_the_restart_and_the_power_sync(self):
        port = self._add_port(base.ovs_port('192.168.1.61', hybrid=True))
        server = self._rescued(port)
        before = self._rescue_state(server)
        self.compute = self.restart_compute_service(
            self.compute, keep_hypervisor_state=False)
        self.computes[self.compute.host] = self.compute
        self.compute.manager._sync_power_states(
            nova_context.get_admin_context())
        after = self._rescue_state(server)
        self.assertEqual((before['StartedAt'], before['Pid']),
                         (after['StartedAt'], after['Pid']))
        server = self.api.get_server(server['id'])
        self.assertEqual(('RESCUE', 1), (server['status'],
                                         server['OS-EXT-STS:power_state']))
        self.api.post_server_action(server['id'], {'unrescue': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assert_plumbed(server, port)
        self._delete_server(server)

    def test_with_resume_guests_state_a_killed_rescue_comes_back(self):
        """After an engine or host restart (the rescue container stopped):
        the new service starts the rescue again, its volume remounted and
        its port plugged into the new namespace."""
        self.flags(resume_guests_state_on_host_boot=True)
        port = self._add_port(base.ovs_port('192.168.1.62'))
        server = self._rescued(port)
        stop = self.compute.stop

        def stop_then_kill(*args, **kwargs):
            stop(*args, **kwargs)
            self.docker.kill(docker_client.rescue_name(server['id']))

        self.compute.stop = stop_then_kill
        self.compute = self.restart_compute_service(
            self.compute, keep_hypervisor_state=False)
        self.computes[self.compute.host] = self.compute
        self.assertEqual('running', self._rescue_state(server)['Status'])
        self.assertEqual('exited', self._container(server)['State']['Status'])
        self.assertIn(base.ovs_device(port),
                      self.switch.ports(base.INTEGRATION_BRIDGE))
        exec_id = self.docker.exec_create(
            docker_client.rescue_name(server['id']),
            ['ls', '/mnt/rescue/bin/busybox'])['Id']
        self.docker.exec_start(exec_id)
        self.assertEqual(0, self.docker.exec_inspect(exec_id)['ExitCode'])
        self.assertEqual('RESCUE', self.api.get_server(server['id'])['status'])
        self._delete_server(server)
