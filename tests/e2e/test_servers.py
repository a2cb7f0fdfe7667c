"""Servers through the Nova API, run as containers by DockerDriver.

See base.py for what is real here (all of nova, the Docker engine, OVS) and
what stands in (Glance, Neutron).
"""

import io
import subprocess
import tarfile
import uuid

from docker import errors as docker_errors
from nova.tests.fixtures import glance as nova_glance
from nova import utils

from novadocker.virt.docker import client as docker_client
from novadocker.virt.docker import images
from tests.e2e import base
from tests.functional import test_hostile_input as hostile_tests

# An image of nova's stand-in Glance that is a VM disk (container_format
# bare, disk_format raw): what a user boots by mistake.
VM_DISK_IMAGE_ID = nova_glance.GlanceFixture.image3['id']


class ServerLifecycleTest(base.DockerServersTestBase):
    """One server through everything a user does to it, its port bound as
    plain OVS (the openvswitch firewall, OVN): each step is checked in the
    API, in the engine and on br-int."""

    HYBRID = False

    def _pid(self, server):
        return self._container(server)['State']['Pid']

    def test_a_server_through_its_life(self):
        port = self._add_port(base.ovs_port('192.168.1.11',
                                            hybrid=self.HYBRID))
        other = self._add_port(base.ovs_port('192.168.1.12',
                                             hybrid=not self.HYBRID))

        # Boot: the image comes from Glance, once; the container runs with
        # the port plumbed.
        server = self._boot(port, name='web')
        self.assertEqual('compute', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(1, self.glance.downloads[base.IMAGE_ID])
        self.assertEqual(server['id'], self._container(server)['Config'][
            'Labels'][docker_client.LABEL_UUID])
        self.assert_plumbed(server, port)
        self.assertEqual(
            {'private': [{'addr': '192.168.1.11', 'version': 4,
                          'OS-EXT-IPS:type': 'fixed',
                          'OS-EXT-IPS-MAC:mac_addr': port['mac_address']}]},
            server['addresses'])

        # Console log: the container's output.
        output = self.api.post_server_action(
            server['id'], {'os-getConsoleOutput': {}})['output']
        self.assertIn('hello from web', output)
        # Diagnostics in the pre-2.48 format: the 2.48 response schema
        # allows only nova's in-tree drivers in its "driver" field.
        with utils.temporary_mutation(self.admin_api, microversion='2.47'):
            diagnostics = self.admin_api.get_server_diagnostics(server['id'])
        self.assertGreater(diagnostics['memory-rss'], 0)
        self.assertEqual(512 * 1024, diagnostics['memory'])

        # Stop: the container exits, its port leaves br-int; start plugs it
        # into the new namespace.
        server = self._stop_server(server)
        self.assertEqual('exited', self._container(server)['State']['Status'])
        self.assertNotIn(base.ovs_device(port),
                         self.switch.ports(base.INTEGRATION_BRIDGE))
        server = self._start_server(server)
        self.assert_plumbed(server, port)

        # Soft and hard reboot: a new PID 1, the same network.
        for hard in (False, True):
            pid = self._pid(server)
            server = self._reboot_server(server, hard=hard)
            self.assertNotEqual(pid, self._pid(server))
            self.assert_plumbed(server, port)

        # Pause and suspend both freeze the container's processes.
        for freeze, thaw, state in (('pause', 'unpause', 'PAUSED'),
                                    ('suspend', 'resume', 'SUSPENDED')):
            pid = self._pid(server)
            self.api.post_server_action(server['id'], {freeze: None})
            server = self._wait_for_state_change(server, state)
            self.assertEqual('paused',
                             self._container(server)['State']['Status'])
            self.api.post_server_action(server['id'], {thaw: None})
            server = self._wait_for_state_change(server, 'ACTIVE')
            self.assertEqual(pid, self._pid(server))
            self.assert_plumbed(server, port)

        # Hot-plug a second port (the other binding kind), then remove it.
        self._attach_interface(server, other['id'])
        self.assert_plumbed(server, port, other)
        self.assertEqual({port['id'], other['id']}, {
            i['port_id'] for i in self.api.get_port_interfaces(server['id'])})
        self._detach_interface(server, other['id'])
        self.assert_plumbed(server, port)
        self.assertNotIn(base.ovs_device(other),
                         self.switch.ports(base.INTEGRATION_BRIDGE))

        # Delete: nothing left on the host (the leak check after the test)
        # and nothing left in placement.
        self._delete_and_check_allocations(server)
        self.assertEqual([], self.docker.containers(
            all=True, filters={'name': docker_client.container_name(
                server['id'])}))


class HybridServerLifecycleTest(ServerLifecycleTest):
    """The same with the port bound as OVS hybrid (tap -> qbr -> qvb/qvo),
    the binding of Neutron's iptables_hybrid firewall."""

    HYBRID = True


class ServersOnOneNetworkTest(base.DockerServersTestBase):

    def test_two_servers_reach_each_other_across_reboots(self):
        """One plain OVS and one hybrid port on one network: the servers
        ping each other, and still do after each is rebooted."""
        port_a = self._add_port(base.ovs_port('192.168.1.21'))
        port_b = self._add_port(base.ovs_port('192.168.1.22', hybrid=True))
        server_a = self._boot(port_a, name='a')
        server_b = self._boot(port_b, name='b')
        self.assert_reaches(server_a, port_b)
        self.assert_reaches(server_b, port_a)

        server_a = self._reboot_server(server_a, hard=True)
        self.assert_reaches(server_b, port_a)
        server_b = self._reboot_server(server_b)
        self.assert_reaches(server_a, port_b)
        self.assert_reaches(server_b, port_a)

        self._delete_server(server_a)
        self._delete_server(server_b)


class SnapshotTest(base.DockerServersTestBase):

    def test_create_image_uploads_a_loadable_docker_image(self):
        """createImage uploads the container's filesystem as a docker save
        tarball: the engine loads it, and a server booted from it has the
        files the first one wrote."""
        port = self._add_port(base.ovs_port('192.168.1.31'))
        server = self._boot(port, name='origin')
        code, out = self._exec(server, 'sh', '-c',
                               'echo kept > /root/marker')
        self.assertEqual(0, code, out)

        image_id = self.api.post_server_action(
            server['id'], {'createImage': {'name': 'origin-snap'}})['image_id']
        self.notifier.wait_for_versioned_notifications(
            'instance.snapshot.end', timeout=60)
        self._wait_for_server_parameter(server, {
            'status': 'ACTIVE', 'OS-EXT-STS:task_state': None})
        image = self.glance.images[image_id]
        self.assertEqual(('docker', 'raw'), (image['container_format'],
                                             image['disk_format']))
        with open(self.glance.path(image_id), 'rb') as f:
            data = f.read()
        self.assertEqual(len(data), image['size'])
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            self.assertIn('manifest.json', tar.getnames())

        # The bytes are an image the engine loads...
        loaded = [m['stream'] for m in self.docker.load_image(data)
                  if 'stream' in m]
        self.assertTrue(any(m.startswith(images.LOADED_ID) for m in loaded),
                        loaded)
        image_ref = next(m for m in loaded if m.startswith(images.LOADED_ID))[
            len(images.LOADED_ID):].strip()
        self.docker.remove_image(image_ref)

        # ...and boot: from Glance again, with the first server's file.
        port_2 = self._add_port(base.ovs_port('192.168.1.32'))
        clone = self._boot(port_2, name='clone', image_id=image_id)
        self.assertEqual(1, self.glance.downloads[image_id])
        self.assertEqual((0, 'kept\n'),
                         self._exec(clone, 'cat', '/root/marker'))
        self.assert_plumbed(clone, port_2)

        self._delete_server(server)
        self._delete_server(clone)


class NotADockerImageTest(base.DockerServersTestBase):

    def test_booting_a_vm_disk_image_fails_with_a_clear_fault(self):
        port = self._add_port(base.ovs_port('192.168.1.41'))
        server = self._boot(port, image_id=VM_DISK_IMAGE_ID,
                            expected_state='ERROR')
        fault = server['fault']['message']
        self.assertIn(VM_DISK_IMAGE_ID, fault)
        self.assertIn('unacceptable: container_format bare', fault)
        self.assertTrue(fault.endswith('--container-format docker'), fault)
        # Nothing was retried or left: the build was aborted on the spot.
        self.assertEqual(0, self.glance.downloads[VM_DISK_IMAGE_ID])
        self.assertEqual({}, self._get_allocations_by_server_uuid(
            server['id']))
        self._delete_server(server)


class RescueTest(base.DockerServersTestBase):

    def _rescue_container(self, server):
        return self.docker.inspect_container(
            docker_client.rescue_name(server['id']))

    def _exec_in_rescue(self, server, *argv):
        exec_id = self.docker.exec_create(
            docker_client.rescue_name(server['id']), list(argv))['Id']
        output = self.docker.exec_start(exec_id).decode()
        return self.docker.exec_inspect(exec_id)['ExitCode'], output

    def _rescue_volumes(self):
        return self.docker.volumes(
            filters={'label': docker_client.LABEL_RESCUE})['Volumes'] or []

    def test_rescue_then_unrescue_keeps_what_the_rescue_changed(self):
        """Nova stops the server and calls rescue: RESCUE with power state
        RUNNING, the server's files live at /mnt/rescue in a rescue
        container that has its port; unrescue gives the server back with
        the rescue's changes, and delete while rescued leaves nothing."""
        port = self._add_port(base.ovs_port('192.168.1.51'))
        server = self._boot(port, name='broken')
        self.assertEqual(0, self._exec(server, 'sh', '-c',
                                       'echo before > /root/marker')[0])

        self.api.post_server_action(server['id'],
                                    {'rescue': {'adminPass': 'r3scue'}})
        server = self._wait_for_state_change(server, 'RESCUE')
        self.assertEqual(1, server['OS-EXT-STS:power_state'])  # RUNNING
        self.assertEqual('exited', self._container(server)['State']['Status'])
        self.assertEqual('running', self._rescue_container(server)[
            'State']['Status'])
        self.assertEqual((0, 'before\n'), self._exec_in_rescue(
            server, 'cat', '/mnt/rescue/root/marker'))
        out = subprocess.run(
            ['ip', '-j', '-n', self._rescue_container(server)['Id'], 'addr'],
            check=True, capture_output=True, text=True).stdout
        self.assertIn('192.168.1.51', out)
        self.assertIn(base.ovs_device(port),
                      self.switch.ports(base.INTEGRATION_BRIDGE))
        self.assertEqual(0, self._exec_in_rescue(
            server, 'sh', '-c', 'echo after > /mnt/rescue/root/marker')[0])

        self.api.post_server_action(server['id'], {'unrescue': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual(1, server['OS-EXT-STS:power_state'])
        self.assertEqual((0, 'after\n'),
                         self._exec(server, 'cat', '/root/marker'))
        self.assert_plumbed(server, port)
        self.assertEqual([], self._rescue_volumes())

        # Rescued again, then deleted: nothing of the rescue is left (the
        # leak check after the test sees devices, OVS ports and links).
        self.api.post_server_action(server['id'], {'rescue': None})
        server = self._wait_for_state_change(server, 'RESCUE')
        self._delete_server(server)
        self.assertEqual([], self._rescue_volumes())
        self.assertEqual([], self.docker.containers(
            all=True, filters={'label': docker_client.LABEL_RESCUE}))


class HostileInputTest(base.DockerServersTestBase):
    """What a tenant can give Nova that no host can serve, through the API:
    the build is aborted with the cause as the fault, not rescheduled."""

    def _setup_services(self):
        # Placement's capacity is what the driver reports: 1 VCPU per
        # engine CPU.
        self.flags(cpu_allocation_ratio=1.0, initial_cpu_allocation_ratio=1.0)
        super()._setup_services()

    def test_an_image_whose_user_does_not_exist_is_aborted_with_its_cause(
            self):
        image_id = str(uuid.uuid4())
        self.glance.create(None, {
            'id': image_id, 'name': 'no-such-user', 'status': 'queued',
            'container_format': 'docker', 'disk_format': 'raw',
            'visibility': 'public', 'properties': {}},
            data=io.BytesIO(hostile_tests.docker_save(
                self.docker, config={'User': 'nobody42'})))
        port = self._add_port(base.ovs_port('192.168.1.51'))
        server = self._boot(port, image_id=image_id, expected_state='ERROR')
        fault = server['fault']['message']
        self.assertTrue(fault.endswith(
            'Image %s is unacceptable: Docker refused it: unable to find '
            'user nobody42: no matching entries in passwd file' % image_id),
            fault)
        self.assertEqual({}, self._get_allocations_by_server_uuid(
            server['id']))
        self.assertEqual([], self.docker.images(
            name=images.glance_reference(image_id)))
        self._delete_server(server)

    def test_boots_past_the_hosts_vcpus_fail_in_the_scheduler(self):
        """The driver reports the engine's CPUs to Placement: a boot past
        them never reaches it (NoValidHost), the others run."""
        vcpus = self.docker.info()['NCPU']
        servers = [self._boot(self._add_port(base.ovs_port(
            '192.168.1.%d' % (60 + i))), name='fits-%d' % i)
            for i in range(vcpus)]
        extra = self._boot(self._add_port(base.ovs_port('192.168.1.59')),
                           name='one-too-many', expected_state='ERROR')
        self.assertIn('No valid host was found', extra['fault']['message'])
        self.assertRaises(docker_errors.NotFound, self._container, extra)
        for server in servers + [extra]:
            self._delete_server(server)
