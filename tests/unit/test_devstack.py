"""The devstack plugin, run phase by phase with stub devstack functions.

Each phase of devstack/plugin.sh runs in bash as devstack runs it (settings
sourced first, then the plugin with the phase as arguments), against stubs of
the devstack functions it calls: iniset/iniget edit real ini files, package,
sudo, docker and openstack commands are recorded instead of run. The test
then reads the resulting nova.conf and glance-api.conf and the recorded
commands. shellcheck checks the plugin and every shell script of the repo.
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
DEVSTACK = os.path.join(ROOT, 'devstack')

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
sudo() { record "sudo $*"; }
openstack() { record "openstack $*"; [[ "$1 $2" != "image show" ]]; }
'''


def run_phase(tmp_path, *phase, env=None, services='n-cpu,g-api,q-svc'):
    """Source settings and run plugin.sh ``phase`` with the stubs; returns
    the recorded commands."""
    log = tmp_path / 'commands.log'
    ini = tmp_path / 'ini.py'
    ini.write_text(INI)
    stubs = tmp_path / 'stubs.sh'
    stubs.write_text(STUBS % {'log': log, 'python': sys.executable,
                              'ini': ini})
    etc = tmp_path / 'etc'
    etc.mkdir(exist_ok=True)
    variables = {
        'DEST': str(tmp_path / 'opt'), 'NOVA_DOCKER_DIR': ROOT,
        'NOVA_CONF': str(etc / 'nova.conf'),
        'NOVA_CONF_DIR': str(etc),
        'GLANCE_API_CONF': str(etc / 'glance-api.conf'),
        'STACK_USER': 'stack', 'ENABLED_SERVICES': services,
        'PATH': os.environ['PATH'],
        **(env or {})}
    script = ('set -eu -o pipefail; source %s; source %s/settings; '
              'source %s/plugin.sh %s' % (stubs, DEVSTACK, DEVSTACK,
                                          ' '.join(phase)))
    result = subprocess.run(['bash', '-c', script], env=variables,
                            capture_output=True, text=True)
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
        assert not any(c.startswith('install_package') for c in commands)
    else:
        assert 'install_package docker.io' in commands
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
    assert nova.get('DEFAULT', 'compute_driver') == \
        'novadocker.virt.docker.driver.DockerDriver'
    assert nova.get('docker', 'host_url') == 'unix:///var/run/docker.sock'
    assert nova.get('docker', 'vif_driver') == vif_driver
    assert nova.get('docker_ovs', 'ovsdb_connection') == \
        'unix:/var/run/openvswitch/db.sock'


def test_post_config_also_writes_the_compute_conf_when_there_is_one(
        tmp_path):
    cpu_conf = tmp_path / 'etc' / 'nova-cpu.conf'
    run_phase(tmp_path, 'stack', 'post-config',
              env={'NOVA_CPU_CONF': str(cpu_conf)})
    assert ini(cpu_conf).get('DEFAULT', 'compute_driver') == \
        'novadocker.virt.docker.driver.DockerDriver'


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


def test_extra_publishes_docker_images_to_glance(tmp_path):
    commands = run_phase(tmp_path, 'stack', 'extra',
                         env={'NOVA_DOCKER_IMAGES': 'busybox nginx'})
    assert 'sudo docker pull busybox' in commands
    assert 'sudo docker pull nginx' in commands
    assert 'openstack image create nginx --public --container-format ' \
        'docker --disk-format raw' in commands


def test_every_shell_script_is_shellcheck_clean():
    if not shutil.which('shellcheck'):
        pytest.fail('shellcheck is not installed: run tools/setup-env.sh')
    scripts = [os.path.join(DEVSTACK, 'plugin.sh'),
               os.path.join(DEVSTACK, 'settings'),
               os.path.join(ROOT, '.ci', 'run'),
               *glob.glob(os.path.join(ROOT, 'tools', '*.sh'))]
    result = subprocess.run(['shellcheck', '--shell=bash', '-x', *scripts],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
