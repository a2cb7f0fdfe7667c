"""The devstack plugin, run phase by phase with stub devstack functions.

Each phase of devstack/plugin.sh runs in bash as devstack runs it
(override-defaults, then settings, then the plugin with the phase as
arguments), against stubs of the devstack functions it calls: iniset/iniget
edit real ini files; package, sudo, docker, openstack and Open vSwitch
commands are recorded (docker, openstack and ovs-vsctl answer from fixtures).
The test then reads the files the plugin wrote and the recorded commands.
shellcheck checks the plugin and every shell script of the repo.

What needs devstack's own code (its stack.sh order, its async jobs, its
openstack-cli-server) is modelled here on what that code does, each model
saying which devstack code it stands for. NOVA_DOCKER_DEVSTACK_DIR runs the
tests against another copy of devstack/ (an older plugin, say).
"""

import configparser
import glob
import os
import shutil
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEVSTACK = os.environ.get('NOVA_DOCKER_DEVSTACK_DIR',
                          os.path.join(ROOT, 'devstack'))
TEMPEST_FLAGS = os.path.join(ROOT, 'etc', 'tempest', 'docker.conf')
DRIVER = 'novadocker.virt.docker.driver.DockerDriver'
INSTANCE_LABEL = 'org.openstack.nova.instance.uuid'
SANDBOX_LABEL = 'org.openstack.nova.sandbox.instance.uuid'
RESCUE_LABEL = 'org.openstack.nova.rescue.instance.uuid'

INI = '''
import configparser, sys
action, path, section, option = sys.argv[1:5]
parser = configparser.RawConfigParser(strict=False)
parser.optionxform = str
parser.read(path)
if action == 'get':
    print(parser.get(section, option, fallback=''))
else:
    if not parser.has_section(section) and section != 'DEFAULT':
        parser.add_section(section)
    parser.set(section, option, sys.argv[5])
    with open(path, 'w') as f:
        parser.write(f)
'''

STUBS = r'''
LOG=%(log)s
record() { echo "$*" >> "$LOG"; }
iniset() { %(python)s %(ini)s set "$@"; }
iniget() { %(python)s %(ini)s get "$@"; }
is_service_enabled() {
    local service
    for service in "$@"; do
        [[ ",$ENABLED_SERVICES," == *,$service,* ]] && return 0
    done
    return 1
}
install_package() { record "install_package $*"; }
setup_develop() { record "setup_develop $*"; }
echo_summary() { record "summary $*"; }
die() { record "die $*"; echo "die $*" >&2; exit 1; }
warn() { record "warn $*"; }
stop_process() { record "stop_process $*"; }
# devstack's async_wait: collects a job async_runfunc started (below);
# nothing to do for one never started or already collected.
declare -A ASYNC_JOBS=()
async_wait() {
    record "async_wait $*"
    local name
    for name in "$@"; do
        if [[ -n "${ASYNC_JOBS[$name]:-}" ]]; then
            echo go > "%(tmp)s/$name.fifo"
            wait "${ASYNC_JOBS[$name]}"
            unset "ASYNC_JOBS[$name]"
        fi
    done
}
# Commands run as root: recorded, and run when a stub below stands for them.
sudo() {
    record "sudo $*"
    if [[ "$(type -t "$1")" == function ]]; then
        "$@"
    fi
}
# The engine: FAKE_CONTAINERS lines "id name label value", FAKE_IMAGES
# "repository:tag" words, FAKE_VOLUMES names.
docker() {
    record "docker $*"
    if [[ "$1" == -H ]]; then
        shift 2
    fi
    local id name label value wanted
    case "$1" in
        ps)
            wanted=$(printf '%%s\n' "$@" | sed -n 's/^label=//p')
            while read -r id name label value; do
                if [[ -n "$id" && "$label" == "$wanted" ]]; then
                    echo "$id $name $value"
                fi
            done <<< "${FAKE_CONTAINERS:-}"
            ;;
        version) [[ -z "${FAKE_ENGINE_DOWN:-}" ]] ;;
        save) echo "docker save of $2" ;;
        volume) [[ "$2" != ls ]] || echo "${FAKE_VOLUMES:-}" ;;
        images)
            if [[ "$2" == -q ]]; then
                echo "${FAKE_SSH_IMAGE_ID:-}"
            else
                for value in ${FAKE_IMAGES:-}; do
                    if [[ "$value" == "${!#}":* ]]; then
                        echo "$value"
                    fi
                done
            fi
            ;;
    esac
}
ovs-vsctl() {
    record "ovs-vsctl $*"
    if [[ "$*" == *find\ Interface* ]]; then
        local port uuid
        while read -r port uuid; do
            if [[ -n "$port" && "$*" == *"vm-uuid=$uuid"* ]]; then
                echo "$port"
            fi
        done <<< "${FAKE_OVS_PORTS:-}"
    fi
}
# python-openstackclient as devstack's openstack-cli-server client runs it
# (files/openstack-cli-server/openstack, on in devstack's CI jobs): stdin is
# never passed on, and "image create" without --file is refused; the server
# opens the file itself, from its own working directory.
openstack() {
    record "openstack $*"
    local argv=" $* "
    if [[ "$argv" == *" image create "* ]]; then
        if [[ "$argv" != *" --file"* ]]; then
            echo "Image create without --file is not allowed in server" \
                "mode" >&2
            return 1
        fi
        local file=${argv##* --file }
        file=${file%%%% *}
        if [[ "$file" != /* || ! -s "$file" ]]; then
            echo "[Errno 2] No such file or directory: '$file'" >&2
            return 1
        fi
        record "uploaded $(cat "$file")"
    elif [[ "$argv" == *" image show -f value -c id "* ]]; then
        echo "id-of-${!#}"
    elif [[ "$argv" == *" image show "* ]]; then
        [[ " ${FAKE_GLANCE_IMAGES:-} " == *" ${!#} "* ]]
    fi
}
'''


def run_phase(tmp_path, *phase, env=None, services='n-cpu,g-api,q-svc',
              before='', after=''):
    """Source override-defaults and settings, then plugin.sh ``phase``,
    with the stubs (``before`` and ``after``: bash run around the phase);
    returns the recorded commands."""
    log = tmp_path / 'commands.log'
    ini = tmp_path / 'ini.py'
    ini.write_text(INI)
    stubs = tmp_path / 'stubs.sh'
    stubs.write_text(STUBS % {'log': log, 'python': sys.executable,
                              'ini': ini, 'tmp': tmp_path})
    etc = tmp_path / 'etc'
    etc.mkdir(exist_ok=True)
    variables = {
        'DEST': str(tmp_path / 'opt'), 'NOVA_DOCKER_DIR': ROOT,
        'DATA_DIR': str(tmp_path / 'data'),
        'NOVA_CONF': str(etc / 'nova.conf'),
        'NOVA_CONF_DIR': str(etc),
        'GLANCE_API_CONF': str(etc / 'glance-api.conf'),
        'TEMPEST_CONFIG': str(tmp_path / 'tempest.conf'),
        'REGION_NAME': 'RegionOne', 'PYTHON': sys.executable,
        'STACK_USER': 'stack', 'ENABLED_SERVICES': services,
        'PATH': os.environ['PATH'],
        **(env or {})}
    overrides = os.path.join(DEVSTACK, 'override-defaults')
    script = '\n'.join([
        'set -eu -o pipefail', 'source %s' % stubs,
        'source %s' % overrides if os.path.exists(overrides) else '',
        'source %s/settings' % DEVSTACK, before,
        'source %s/plugin.sh %s' % (DEVSTACK, ' '.join(phase)), after])
    result = subprocess.run(['bash', '-c', script], env=variables,
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return log.read_text().splitlines() if log.exists() else []


def ini(path):
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str
    parser.read(path)
    return parser


def test_install_gets_the_engine_the_package_the_socket_and_the_filters(
        tmp_path):
    commands = run_phase(tmp_path, 'stack', 'install')
    assert 'setup_develop %s' % ROOT in commands
    assert 'sudo usermod -a -G docker stack' in commands
    assert 'sudo install -o root -g root -m 644 %s/etc/rootwrap.d/' \
        'docker.filters %s/etc/rootwrap.d/docker.filters' % (
            ROOT, tmp_path) in commands
    # docker.io only when the engine is missing.
    if shutil.which('dockerd'):
        assert 'install_package docker.io' not in commands
    else:
        assert 'install_package docker.io' in commands
    # What the SSH test image is made of, where images are published.
    assert 'install_package busybox-static dropbear-bin' in commands
    # The socket is never opened to everyone.
    assert not any('chmod' in c or '666' in c for c in commands)


def test_install_refuses_a_world_writable_socket(tmp_path):
    socket_dir = tmp_path / 'run'
    socket_dir.mkdir()
    # A world-writable "socket": a real one, made by binding.
    path = str(socket_dir / 'docker.sock')
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    os.chmod(path, 0o666)
    try:
        with pytest.raises(AssertionError) as e:
            run_phase(tmp_path, 'stack', 'install',
                      env={'DOCKER_HOST_URL': 'unix://' + path})
    finally:
        sock.close()
    assert 'world-writable' in str(e.value)


def test_install_does_nothing_without_nova_compute(tmp_path):
    assert run_phase(tmp_path, 'stack', 'install', services='g-api') == []


def test_install_on_a_compute_only_node_needs_no_image_packages(tmp_path):
    commands = run_phase(tmp_path, 'stack', 'install', services='n-cpu')
    assert 'setup_develop %s' % ROOT in commands
    assert not any('dropbear' in c for c in commands)


@pytest.mark.parametrize('env, vif_driver', [
    ({'Q_AGENT': 'openvswitch'}, 'generic'),
    ({'Q_AGENT': 'linuxbridge'}, 'generic'),
    ({'Q_AGENT': 'ovn'}, 'ovn'),
    ({'Q_AGENT': 'opencontrail'}, 'vrouter'),
    ({'Q_AGENT': 'openvswitch',
      'Q_ML2_PLUGIN_MECHANISM_DRIVERS': 'opendaylight_v2'}, 'odl'),
    ({'Q_AGENT': 'ovn', 'NOVA_DOCKER_VIF_DRIVER': 'ovs'}, 'ovs'),
])
def test_post_config_points_nova_compute_at_the_driver(
        tmp_path, env, vif_driver):
    run_phase(tmp_path, 'stack', 'post-config', env=env)
    nova = ini(tmp_path / 'etc' / 'nova.conf')
    assert nova.get('DEFAULT', 'compute_driver') == DRIVER
    assert nova.get('docker', 'host_url') == 'unix:///var/run/docker.sock'
    assert nova.get('docker', 'vif_driver') == vif_driver
    assert nova.get('docker_ovs', 'ovsdb_connection') == \
        'unix:/var/run/openvswitch/db.sock'


def test_post_config_follows_devstacks_own_open_vswitch(tmp_path):
    run_phase(tmp_path, 'stack', 'post-config',
              env={'OVS_RUNDIR': '/usr/local/var/run/openvswitch'})
    assert ini(tmp_path / 'etc' / 'nova.conf').get(
        'docker_ovs', 'ovsdb_connection') == \
        'unix:/usr/local/var/run/openvswitch/db.sock'


# stack.sh starts configure_neutron_nova with async_runfunc before
# "run_phase stack post-config" and collects it with async_wait only after
# (stack.sh, "async_wait configure_neutron_nova"). It rewrites nova.conf
# with iniset, which is sed -i: the file is read, then a copy written and
# renamed over it. The job below does that with the worst timing: it reads
# nova.conf when started and writes its copy when collected.
CONFIGURE_NEUTRON_NOVA = r'''
configure_neutron_nova() {
    local before
    before=$(cat "$NOVA_CONF" 2>/dev/null || true)
    read -r < "%(tmp)s/configure_neutron_nova.fifo"
    printf '%%s\n[neutron]\nregion_name = RegionOne\n' "$before" \
        > "$NOVA_CONF.sed"
    mv "$NOVA_CONF.sed" "$NOVA_CONF"
}
mkfifo "%(tmp)s/configure_neutron_nova.fifo"
printf '[DEFAULT]\nmy_ip = 192.0.2.10\n' > "$NOVA_CONF"
configure_neutron_nova &
ASYNC_JOBS[configure_neutron_nova]=$!
'''


def test_post_config_waits_for_configure_neutron_nova_before_writing(
        tmp_path):
    """Point 1: no key of the plugin or of configure_neutron_nova lost."""
    commands = run_phase(
        tmp_path, 'stack', 'post-config',
        before=CONFIGURE_NEUTRON_NOVA % {'tmp': tmp_path},
        # stack.sh's own wait, after the phase
        after='async_wait configure_neutron_nova')
    nova = ini(tmp_path / 'etc' / 'nova.conf')
    assert nova.get('DEFAULT', 'compute_driver', fallback=None) == DRIVER
    assert nova.get('docker', 'vif_driver', fallback=None) == 'generic'
    assert nova.get('neutron', 'region_name') == 'RegionOne'
    assert nova.get('DEFAULT', 'my_ip') == '192.0.2.10'
    # the plugin's wait, then stack.sh's (which finds nothing left to do)
    assert commands.count('async_wait configure_neutron_nova') == 2


def test_post_config_leaves_nova_cpu_conf_to_devstack(tmp_path):
    """Point 4: nova-cpu.conf is devstack's copy of nova.conf (lib/nova,
    start_nova_compute: "cp $NOVA_CONF $NOVA_CPU_CONF", after post-config):
    what reaches nova-compute is what is in nova.conf, and the plugin leaves
    nova-cpu.conf (one of an earlier stack here) alone."""
    cpu_conf = tmp_path / 'etc' / 'nova-cpu.conf'
    (tmp_path / 'etc').mkdir()
    cpu_conf.write_text('[DEFAULT]\nhost = from-an-earlier-stack\n')
    run_phase(tmp_path, 'stack', 'post-config',
              env={'NOVA_CPU_CONF': str(cpu_conf)})
    assert cpu_conf.read_text() == \
        '[DEFAULT]\nhost = from-an-earlier-stack\n'
    # start_nova_compute
    shutil.copy(tmp_path / 'etc' / 'nova.conf', cpu_conf)
    compute = ini(cpu_conf)
    assert compute.get('DEFAULT', 'compute_driver') == DRIVER
    assert compute.get('docker', 'host_url') == 'unix:///var/run/docker.sock'


@pytest.mark.parametrize('existing, expected', [
    (None, 'ami,ari,aki,bare,ovf,ova,docker,compressed'),
    ('ami,bare', 'ami,bare,docker'),
    ('bare,docker', 'bare,docker'),
])
def test_post_config_adds_docker_to_glance_container_formats(
        tmp_path, existing, expected):
    (tmp_path / 'etc').mkdir()
    glance_conf = tmp_path / 'etc' / 'glance-api.conf'
    if existing:
        glance_conf.write_text('[image_format]\ncontainer_formats = %s\n'
                               % existing)
    run_phase(tmp_path, 'stack', 'post-config')
    assert ini(glance_conf).get('image_format', 'container_formats') == \
        expected


def test_post_config_leaves_glance_alone_on_a_compute_only_node(tmp_path):
    run_phase(tmp_path, 'stack', 'post-config', services='n-cpu,q-agt')
    assert not (tmp_path / 'etc' / 'glance-api.conf').exists()
    assert (tmp_path / 'etc' / 'nova.conf').exists()


# stackrc, read before the plugins' override-defaults, picked libvirt's
# default image (no VIRT_DRIVER in local.conf): what it left (stackrc,
# "case $VIRT_DRIVER" and the default image for libvirt).
CIRROS = ('https://github.com/cirros-dev/cirros/releases/download/0.6.3/'
          'cirros-0.6.3-x86_64-disk.img')
STACKRC_FOR_LIBVIRT = {
    'VIRT_DRIVER': 'libvirt', 'LIBVIRT_TYPE': 'kvm',
    'CIRROS_VERSION': '0.6.3', 'CIRROS_ARCH': 'x86_64',
    'DEFAULT_IMAGE_NAME': 'cirros-0.6.3-x86_64-disk',
    'DEFAULT_IMAGE_FILE_NAME': 'cirros-0.6.3-x86_64-disk.img',
    'DOWNLOAD_DEFAULT_IMAGES': 'False'}


def defaults_after_override(tmp_path, stackrc):
    """VIRT_DRIVER, IMAGE_URLS, DEFAULT_IMAGE_NAME as lib/* and the image
    upload of stack.sh see them: after stackrc (``stackrc``), then
    run_phase override_defaults, which sources devstack/override-defaults
    (functions-common, plugin_override_defaults)."""
    out = tmp_path / 'defaults'
    overrides = os.path.join(DEVSTACK, 'override-defaults')
    script = ('set -eu; if [[ -f %s ]]; then source %s; fi; '
              'printf "%%s\\n" "$VIRT_DRIVER" "$IMAGE_URLS" '
              '"$DEFAULT_IMAGE_NAME" > %s' % (overrides, overrides, out))
    subprocess.run(['bash', '-c', script], check=True,
                   env={'PATH': os.environ['PATH'], **stackrc})
    return out.read_text().splitlines()


@pytest.mark.parametrize('stackrc, image_urls, image_name', [
    # stackrc's choice for libvirt
    ({'IMAGE_URLS': CIRROS}, '', 'nova-docker-ssh'),
    # the user's own images are kept, and a DEFAULT_IMAGE_NAME of theirs
    ({'IMAGE_URLS': 'http://images.example/web.tar,' + CIRROS,
      'DEFAULT_IMAGE_NAME': 'web'}, 'http://images.example/web.tar', 'web'),
    # DOWNLOAD_DEFAULT_IMAGES=False: stackrc chose nothing
    ({'IMAGE_URLS': 'http://images.example/web.tar',
      'DEFAULT_IMAGE_NAME': '', 'DEFAULT_IMAGE_FILE_NAME': ''},
     'http://images.example/web.tar', 'nova-docker-ssh'),
])
def test_override_defaults_replaces_what_stackrc_chose_for_libvirt(
        tmp_path, stackrc, image_urls, image_name):
    """Point 3: VIRT_DRIVER is docker before lib/nova is read, and no
    cirros disk is uploaded or becomes the default image."""
    assert defaults_after_override(
        tmp_path, {**STACKRC_FOR_LIBVIRT, **stackrc}) == \
        ['docker', image_urls, image_name]


def test_extra_publishes_the_ssh_image_and_registry_images(tmp_path):
    commands = run_phase(tmp_path, 'stack', 'extra',
                         env={'NOVA_DOCKER_IMAGES': 'busybox nginx',
                              'FAKE_GLANCE_IMAGES': 'busybox'})
    engine = 'sudo docker -H unix:///var/run/docker.sock'
    # Built with the project's builder, by the devstack python, as root.
    assert 'sudo %s - %s unix:///var/run/docker.sock ' \
        'nova-docker-devstack/ssh-image:latest' % (
            sys.executable, ROOT) in commands
    ssh_file = tmp_path / 'data' / 'nova-docker' / 'ssh-image.tar'
    for name in ('nova-docker-ssh', 'nova-docker-ssh-alt'):
        assert 'openstack --os-cloud=devstack-admin ' \
            '--os-region-name=RegionOne image create %s --public ' \
            '--container-format docker --disk-format raw --file %s' % (
                name, ssh_file) in commands
    assert commands.count('uploaded docker save of '
                          'nova-docker-devstack/ssh-image:latest') == 2
    assert '%s rmi nova-docker-devstack/ssh-image:latest' % engine \
        in commands
    # busybox is in Glance already
    assert '%s pull nginx' % engine in commands
    assert '%s pull busybox' % engine not in commands
    assert 'uploaded docker save of nginx' in commands
    assert sorted(os.listdir(ssh_file.parent)) == ['ssh-image.tar']


def test_extra_uploads_through_openstack_cli_server(tmp_path):
    """Point 2: every image create has --file with an absolute path to a
    readable file (the stub refuses anything else, as devstack's
    openstack-cli-server does), so errexit never stops stack.sh here."""
    commands = run_phase(tmp_path, 'stack', 'extra',
                         env={'NOVA_DOCKER_IMAGES': 'busybox'})
    creates = [c for c in commands if ' image create ' in c]
    assert len(creates) == 3
    assert all(' --file /' in c for c in creates)
    assert len([c for c in commands if c.startswith('uploaded ')]) == 3


def test_extra_publishes_nothing_on_a_compute_only_node(tmp_path):
    commands = run_phase(tmp_path, 'stack', 'extra', services='n-cpu')
    assert commands == []


def tempest_flags():
    return ini(TEMPEST_FLAGS)


# What the team decided (the file may say more: every key of it is applied).
DECIDED_FLAGS = {
    'compute-feature-enabled': {
        'resize': 'True', 'cold_migration': 'True',
        'live_migration': 'False',
        'block_migration_for_live_migration': 'False',
        'rescue': 'True', 'suspend': 'False', 'pause': 'True',
        'shelve': 'False', 'snapshot': 'True', 'console_output': 'True',
        'interface_attach': 'True', 'config_drive': 'False',
        'change_password': 'True', 'serial_console': 'True',
        'vnc_console': 'False', 'spice_console': 'False',
        'personality': 'True', 'attach_encrypted_volume': 'False',
        'swap_volume': 'False', 'volume_multiattach': 'False'},
    'service_available': {'cinder': 'False', 'swift': 'False'},
    'validation': {'image_ssh_user': 'root', 'image_alt_ssh_user': 'root',
                   'connect_method': 'floating', 'auth_method': 'keypair'}}


def test_tempest_flags_are_what_the_team_decided():
    flags = tempest_flags()
    for section, options in DECIDED_FLAGS.items():
        assert dict(flags.items(section)) | options == \
            dict(flags.items(section)), section
    # Each key with the reason on the line above it.
    lines = open(TEMPEST_FLAGS).read().splitlines()
    for number, line in enumerate(lines):
        if '=' in line and not line.startswith('#'):
            assert lines[number - 1].startswith('# '), line


def test_test_config_fits_tempest_to_a_docker_cloud(tmp_path):
    tempest_conf = tmp_path / 'tempest.conf'
    # What lib/tempest's configure_tempest wrote before (devstack runs its
    # own test-config first): libvirt's flags and cirros.
    tempest_conf.write_text(
        '[compute]\nimage_ref = cirros-id\nimage_ref_alt = cirros-id\n'
        '[compute-feature-enabled]\nresize = True\nvnc_console = True\n'
        '[service_available]\ncinder = True\n'
        '[scenario]\nimg_file = /opt/stack/devstack/files/cirros.img\n')
    run_phase(tmp_path, 'stack', 'test-config',
              services='n-cpu,g-api,tempest')
    conf = ini(tempest_conf)
    flags = tempest_flags()
    for section in flags.sections():
        for key, value in flags.items(section):
            assert conf.get(section, key) == value, (section, key)
    assert conf.get('compute', 'image_ref') == 'id-of-nova-docker-ssh'
    assert conf.get('compute', 'image_ref_alt') == \
        'id-of-nova-docker-ssh-alt'
    assert conf.get('scenario', 'img_file') == \
        str(tmp_path / 'data' / 'nova-docker' / 'ssh-image.tar')
    assert conf.get('scenario', 'img_container_format') == 'docker'
    assert conf.get('scenario', 'img_disk_format') == 'raw'


def test_test_config_reads_the_flags_from_the_shared_file_only():
    plugin = open(os.path.join(DEVSTACK, 'plugin.sh')).read()
    assert 'etc/tempest/docker.conf' in plugin
    for key in ('live_migration', 'suspend', 'vnc_console', 'cinder'):
        assert key not in plugin


def test_test_config_does_nothing_without_tempest(tmp_path):
    assert run_phase(tmp_path, 'stack', 'test-config') == []
    assert not (tmp_path / 'tempest.conf').exists()


I1 = '11111111-1111-1111-1111-111111111111'
I2 = '22222222-2222-2222-2222-222222222222'
LEFT_BEHIND = {
    'FAKE_CONTAINERS': '\n'.join([
        'c1 nova-%s %s %s' % (I1, INSTANCE_LABEL, I1),
        'c2 nova-%s %s %s' % (I2, INSTANCE_LABEL, I2),
        's2 nova-sandbox-%s %s %s' % (I2, SANDBOX_LABEL, I2),
        'r1 nova-rescue-%s %s %s' % (I1, RESCUE_LABEL, I1),
        # made by hand from a snapshot: the labels, not the name
        'x1 copied-by-hand %s %s' % (INSTANCE_LABEL, I1)]),
    'FAKE_OVS_PORTS': 'tap1111111-11 %s\nqvo2222222-22 %s\n'
                      'tapffffffff-ff 99999999' % (I1, I2),
    'FAKE_VOLUMES': 'nova-rescue-%s' % I1}


def netns_links(tmp_path, *ids):
    netns = tmp_path / 'netns'
    netns.mkdir()
    for container in ids:
        (netns / container).touch()
    return {'NOVA_DOCKER_NETNS_DIR': str(netns)}


def test_unstack_removes_the_instances_containers_and_sandboxes(tmp_path):
    commands = run_phase(tmp_path, 'unstack',
                         env={**LEFT_BEHIND,
                              **netns_links(tmp_path, 'c1', 's2', 'r1',
                                            'x1')})
    engine = 'sudo docker -H unix:///var/run/docker.sock'
    # nova-compute is stopped before its containers go.
    assert commands.index('stop_process n-cpu') < \
        commands.index('%s rm -f c1 c2 s2 r1' % engine)
    # a rescue container's volume once the container is gone
    assert commands.index('%s rm -f c1 c2 s2 r1' % engine) < \
        commands.index('%s volume rm nova-rescue-%s' % (engine, I1))
    assert not any(c.startswith(engine + ' rm') and 'x1' in c
                   for c in commands)
    # the namespaces the driver linked, of these containers only
    assert 'sudo ip netns delete c1' in commands
    assert 'sudo ip netns delete s2' in commands
    assert 'sudo ip netns delete r1' in commands
    assert 'sudo ip netns delete x1' not in commands
    # their ports, not another instance's
    assert 'sudo ovs-vsctl --if-exists del-port tap1111111-11' in commands
    assert 'sudo ovs-vsctl --if-exists del-port qvo2222222-22' in commands
    assert not any('tapffffffff-ff' in c for c in commands)


def test_clean_removes_what_the_plugin_and_the_driver_made(tmp_path):
    data = tmp_path / 'data' / 'nova-docker'
    data.mkdir(parents=True)
    (data / 'ssh-image.tar').write_text('tar')
    commands = run_phase(
        tmp_path, 'clean',
        env={**LEFT_BEHIND, 'FAKE_SSH_IMAGE_ID': 'sha256:5',
             'FAKE_IMAGES': 'openstack-glance:g1 openstack-snapshot:s1 '
                            'busybox:latest mine:1'})
    engine = 'sudo docker -H unix:///var/run/docker.sock'
    assert '%s rm -f c1 c2 s2 r1' % engine in commands
    removed = [c.split()[-1] for c in commands
               if c.startswith(engine + ' rmi ')]
    assert removed == ['openstack-glance:g1', 'openstack-snapshot:s1',
                       'nova-docker-devstack/ssh-image:latest']
    assert 'sudo rm -rf %s' % data in commands
    assert 'sudo rm -f %s/etc/rootwrap.d/docker.filters' % tmp_path \
        in commands


def test_unstack_goes_on_when_the_engine_is_down(tmp_path):
    commands = run_phase(tmp_path, 'unstack',
                         env={**LEFT_BEHIND, 'FAKE_ENGINE_DOWN': '1'})
    assert any(c.startswith('warn ') and 'unreachable' in c
               for c in commands)
    assert not any(' rm ' in c or ' ps ' in c for c in commands)


def test_unstack_and_clean_leave_a_host_without_nova_compute(tmp_path):
    assert run_phase(tmp_path, 'unstack', services='g-api') == []
    assert run_phase(tmp_path, 'clean', services='g-api') == []


def test_every_shell_script_is_shellcheck_clean():
    if not shutil.which('shellcheck'):
        pytest.fail('shellcheck is not installed: run tools/setup-env.sh')
    scripts = [os.path.join(DEVSTACK, 'plugin.sh'),
               os.path.join(DEVSTACK, 'settings'),
               os.path.join(DEVSTACK, 'override-defaults'),
               os.path.join(ROOT, '.ci', 'run'),
               *glob.glob(os.path.join(ROOT, 'tools', '*.sh'))]
    result = subprocess.run(['shellcheck', '--shell=bash', '-x', *scripts],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
