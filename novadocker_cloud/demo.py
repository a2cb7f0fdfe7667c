"""What README command 1 shows once the cloud is up: a container booted
through the real APIs as a project member, the way a user does it, with
the ``openstack`` CLI; then a look at what each service made of it, a
snapshot booted again, and everything the demo made deleted."""

import json
import re
import subprocess
import time
import urllib.request

import docker

from novadocker_cloud import clouds
from novadocker_cloud import process
from novadocker_cloud import sample_image
from novadocker_cloud.services import docker as docker_service
from novadocker_cloud.services import openvswitch
from novadocker_cloud.services import ovn

IMAGE_TAG = 'novadocker-cloud/hello:latest'
IMAGE = 'hello'
SNAPSHOT = 'hello-snapshot'
FLAVOR = 'docker.small'
# The end of a trace kept in the floating IP's report: where it was dropped
# or sent, and the tables just before.
TRACE_LINES = 25


class Demo:

    def __init__(self, layout, say):
        self.layout = layout
        self.say = say
        self.made = []  # (kind, id), deleted in reverse at the end

    def openstack(self, *args, cloud='demo', parse=True, stdin=None):
        """Run the ``openstack`` CLI as ``cloud``; JSON output parsed."""
        cmd = [self.layout.bin('openstack'), *args]
        if parse:
            cmd += ['-f', 'json']
        result = subprocess.run(cmd, capture_output=True, text=stdin is None,
                                stdin=stdin,
                                env=clouds.cli_env(self.layout, cloud))
        if result.returncode:
            raise RuntimeError('openstack %s failed: %s' % (
                ' '.join(args), result.stderr))
        return json.loads(result.stdout) if parse else result.stdout

    def run(self):
        try:
            self._boot_and_show()
        finally:
            self._delete()

    def _boot_and_show(self):
        self._upload()
        began = time.monotonic()
        server = self.boot('hello', IMAGE)
        self.say('server hello: %s in %.1fs (openstack server create --wait, '
                 'as the demo project member)' % (
                     server['status'], time.monotonic() - began))
        self._show_container(server['id'])
        self._show_port(server['id'])
        self.say('console log:\n    | ' + self.openstack(
            'console', 'log', 'show', server['id'],
            parse=False).strip().replace('\n', '\n    | '))
        address = self._floating_ip(server['id'])
        self.say('GET http://%s/ from this host: %r' % (
            address, fetch_through_floating_ip(self.layout, address,
                                               self.say)))
        snapshot = self.openstack('server', 'image', 'create', '--name',
                                  SNAPSHOT, '--wait', server['id'])
        self.made.append(('image', snapshot['id']))
        shown = self.openstack('image', 'show', snapshot['id'])
        self.say('snapshot %s: %s, container_format %s, %d bytes' % (
            SNAPSHOT, shown['status'], shown['container_format'],
            shown['size']))
        again = self.boot('hello-again', SNAPSHOT)
        self.say('server hello-again from the snapshot: %s' % again['status'])

    def boot(self, name, image):
        """``openstack server create --wait``; a failed boot is reported
        with the fault Nova recorded."""
        try:
            server = self.openstack('server', 'create', '--image', image,
                                    '--flavor', FLAVOR, '--network',
                                    'private', '--wait', name)
        except RuntimeError:
            for server in self.openstack('server', 'list', '--name',
                                         '^%s$' % name):
                self.made.append(('server', server['ID']))
                fault = self.openstack('server', 'show', server['ID'],
                                       '-c', 'fault').get('fault')
                raise RuntimeError('server %s: %s' % (name, fault))
            raise
        self.made.append(('server', server['id']))
        return server

    def _upload(self):
        """``docker save IMG | openstack image create --container-format
        docker --disk-format raw IMG``, the image then removed from the
        engine so that the driver must load it from Glance."""
        with docker.APIClient(base_url=docker_service.URL) as api:
            sample_image.build(api, IMAGE_TAG, sample_image.WEB_COMMAND)
            upload = subprocess.Popen(
                [self.layout.bin('openstack'), 'image', 'create',
                 '--container-format', 'docker', '--disk-format', 'raw',
                 IMAGE, '-f', 'json'], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=clouds.cli_env(self.layout, 'demo'))
            for chunk in api.get_image(IMAGE_TAG):
                upload.stdin.write(chunk)
            upload.stdin.close()
            out, err = upload.stdout.read(), upload.stderr.read()
            if upload.wait():
                raise RuntimeError('image upload failed: %s' % err.decode())
            api.remove_image(IMAGE_TAG)
        image = json.loads(out)
        self.made.append(('image', image['id']))
        self.say('image %s uploaded: %s, %s bytes (docker save | openstack '
                 'image create --container-format docker)' % (
                     IMAGE, image['status'], image['size']))

    def _show_container(self, server_id):
        with docker.APIClient(base_url=docker_service.URL) as api:
            attrs = api.inspect_container('nova-' + server_id)
        self.say('container nova-%s: %s, pid %s, image %s' % (
            server_id, attrs['State']['Status'], attrs['State']['Pid'],
            attrs['Config']['Image']))

    def _show_port(self, server_id):
        port = self.openstack('port', 'list', '--server', server_id,
                              '--long', cloud='admin')[0]
        shown = self.openstack('port', 'show', port['ID'], cloud='admin')
        device = 'tap' + port['ID'][:11]
        self.say('port %s: %s, bound to %s as %s; OVS port %s on %s, '
                 'external_ids:iface-id %s; fixed IP %s' % (
                     port['ID'], shown['status'], shown['binding_host_id'],
                     shown['binding_vif_type'], device,
                     openvswitch.vsctl('port-to-br', device),
                     openvswitch.vsctl('get', 'Interface', device,
                                       'external_ids:iface-id'),
                     shown['fixed_ips'][0]['ip_address']))
        chassis = ovn.sbctl('--bare', '--columns=chassis', 'find',
                            'Port_Binding', 'logical_port=' + port['ID'])
        self.say('OVN: logical port bound to chassis %s' % ovn.sbctl(
            'get', 'Chassis', chassis, 'hostname'))

    def _floating_ip(self, server_id):
        fip = self.openstack('floating', 'ip', 'create', 'public')
        self.made.append(('floating ip', fip['id']))
        self.openstack('server', 'add', 'floating', 'ip', server_id,
                       fip['floating_ip_address'], parse=False)
        return fip['floating_ip_address']

    def _delete(self):
        for kind, ident in reversed(self.made):
            args = kind.split() + ['delete', ident]
            if kind == 'server':
                args.append('--wait')
            self.openstack(*args, parse=False)
        servers = [ident for kind, ident in self.made if kind == 'server']
        with docker.APIClient(base_url=docker_service.URL) as api:
            left = [c for c in api.containers(all=True)
                    if c['Names'][0][len('/nova-'):] in servers]
        # Only the demo's own: a kept cloud may run servers of its own.
        ports = [name for server in servers
                 for name in openvswitch.vsctl(
                     '--bare', '--columns=name', 'find', 'Interface',
                     'external_ids:vm-uuid=%s' % server).split()]
        self.say('deleted what the demo made: %d server(s), %d image(s); '
                 '%d container(s) and %d tap port(s) left' % (
                     len(servers), sum(k == 'image' for k, _ in self.made),
                     len(left), len(ports)))


def fetch(url, timeout=30):
    """The page at ``url``, retried while the floating IP's flows are
    being installed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return response.read().decode().strip()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def fetch_through_floating_ip(layout, address, say):
    """The page at ``address``. When it never answers, what the host, OVN
    and OVS hold for the address is said, and ovn-controller is asked once
    to compute its flows anew, as an operator would after a miss of its
    incremental processing; if the page still does not answer, an error
    that says what they hold then."""
    url = 'http://%s/' % address
    try:
        return fetch(url)
    except OSError as error:
        say('%s did not answer (%s); ovn-controller recomputes its flows. '
            'Before: %s' % (url, error, floating_ip_path(address)))
    ovn.appctl(layout, 'ovn-controller', 'recompute')
    try:
        page = fetch(url)
    except OSError as error:
        raise RuntimeError('%s did not answer after a recompute either '
                           '(%s); %s' % (url, error,
                                         floating_ip_path(address))) from error
    say('%s answered once ovn-controller had recomputed its flows' % url)
    return page


def _flows_naming(address):
    """How many of br-int's flows name ``address`` (172.24.4.5, never
    172.24.4.50)."""
    named = re.compile(r'(?<![\d.])%s(?![\d])' % re.escape(address))
    return sum(1 for flow in process.run(
        ['ovs-ofctl', 'dump-flows', 'br-int']).splitlines()
        if named.search(flow))


def floating_ip_path(address):
    """The host's route and neighbour entry for the floating IP
    ``address``, its NAT rule in OVN, where the routers' gateway ports are
    bound, how many of br-int's OpenFlow flows name it, and where OVS takes
    a SYN to it. Each part says why it could not be read rather than hide
    the failure it explains."""
    def answer(call, *args):
        try:
            return call(*args).strip() or '(none)'
        except (process.StartError, OSError) as error:
            return str(error).strip()
    route = answer(process.run, ['ip', 'route', 'get', address])
    neighbour = answer(process.run, ['ip', 'neigh', 'show', address])
    return '\n'.join((
        'route: ' + route,
        'neighbour: ' + neighbour,
        'NAT: ' + answer(ovn.nbctl, '--columns=type,external_ip,logical_ip',
                         'find', 'NAT', 'external_ip="%s"' % address),
        'gateway ports: ' + answer(
            ovn.sbctl, '--columns=logical_port,chassis,up', 'find',
            'Port_Binding', 'type=chassisredirect'),
        "br-int's flows naming it: " + answer(
            lambda: str(_flows_naming(address))),
        "a SYN from this host, as OVS would take it: " + answer(
            _trace_syn, address, route, neighbour)))


def _trace_syn(address, route, neighbour):
    """Where OVS takes a TCP SYN from the host to ``address`` on port 80,
    through br-ex and br-int (ofproto/trace, conntrack followed), sent as
    the host's ``route`` and ``neighbour`` entry (``ip`` output) say: the
    datapath actions it ends with, and the last tables it went through."""
    source = re.search(r' src (\S+)', route)
    router_mac = re.search(r' lladdr (\S+)', neighbour)
    if not (source and router_mac):
        return 'no source address or no neighbour entry to trace with'
    with open('/sys/class/net/br-ex/address') as f:
        host_mac = f.read().strip()
    trace = process.run([
        'ovs-appctl', 'ofproto/trace', 'br-ex',
        'in_port=LOCAL,tcp,dl_src=%s,dl_dst=%s,nw_src=%s,nw_dst=%s,'
        'nw_ttl=64,tp_src=40000,tp_dst=80,tcp_flags=0x002' % (
            host_mac, router_mac.group(1), source.group(1), address)])
    lines = [line for line in trace.splitlines() if line.strip()]
    return '\n'.join(lines[-TRACE_LINES:])


def run(layout, say):
    Demo(layout, say).run()
