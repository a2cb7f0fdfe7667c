"""How privileged code runs, and the rootwrap filter that lets it."""

import ast
import os
import sys
from unittest import mock

from oslo_config import cfg
from oslo_privsep import priv_context
from oslo_rootwrap import filters as rootwrap_filters
from oslo_rootwrap import wrapper
import pytest

import novadocker
from novadocker import conf
from novadocker import privsep

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
FILTERS_DIR = os.path.join(ROOT, 'etc', 'rootwrap.d')
NOVA_ROOT_HELPER = ['sudo', 'nova-rootwrap', '/etc/nova/rootwrap.conf']
EXEC_DIRS = [os.path.dirname(sys.executable)]  # where privsep-helper is


@pytest.mark.parametrize('euid, helper_command, daemon', [
    (0, None, False),  # root: in-process
    (0, 'privsep-helper --config-file /etc/nova/nova.conf', True),
    (1000, None, True),  # nova user: daemon through the root helper
    (1000, 'sudo privsep-helper', True),
])
def test_entrypoints_run_in_a_daemon_unless_root_without_helper(
        euid, helper_command, daemon):
    assert privsep.runs_in_daemon(euid, helper_command) is daemon


def test_the_context_decides_per_call_and_an_explicit_choice_wins():
    context = privsep.sys_admin_pctxt
    with mock.patch('os.geteuid', return_value=1000):
        assert context.client_mode
    with mock.patch('os.geteuid', return_value=0):
        assert not context.client_mode
        context.set_client_mode(True)
        try:
            assert context.client_mode
        finally:
            context._forced_client_mode = None


def helper_command(config_files):
    """The command nova-compute's root helper is asked to run."""
    with mock.patch.object(priv_context, '_HELPER_COMMAND_PREFIX',
                           NOVA_ROOT_HELPER), \
            mock.patch.object(cfg.CONF, 'config_file', config_files,
                              create=True):
        command = privsep.sys_admin_pctxt.helper_command(
            '/tmp/tmpabc123/privsep.sock')
    assert command[:len(NOVA_ROOT_HELPER)] == NOVA_ROOT_HELPER
    return command[len(NOVA_ROOT_HELPER):]


def matches(command):
    """Whether docker.filters allows ``command``. oslo.rootwrap 7.10 adds an
    unrestricted privsep-helper filter of its own; it is left out, so the
    file is checked as older rootwrap releases and auditors read it."""
    filters = [f for f in wrapper.load_filters([FILTERS_DIR])
               if f.name != 'privsep-helper']
    try:
        return isinstance(wrapper.match_filter(filters, command,
                                               exec_dirs=EXEC_DIRS),
                          rootwrap_filters.CommandFilter)
    except wrapper.NoFilterMatched:
        return False


@pytest.mark.parametrize('config_files', [
    ['/etc/nova/nova.conf'],
    ['/etc/nova/nova.conf', '/etc/nova/nova-compute.conf']])
def test_rootwrap_lets_nova_compute_start_our_privsep_daemon(config_files):
    assert matches(helper_command(config_files))


@pytest.mark.parametrize('command', [
    # another context, or ours with files outside /etc or a sneaky path
    ['privsep-helper', '--config-file', '/etc/nova/nova.conf',
     '--privsep_context', 'nova.privsep.sys_admin_pctxt',
     '--privsep_sock_path', '/tmp/x/privsep.sock'],
    ['privsep-helper', '--config-file', '/home/evil.conf',
     '--privsep_context', 'novadocker.privsep.sys_admin_pctxt',
     '--privsep_sock_path', '/tmp/x/privsep.sock'],
    ['privsep-helper', '--config-file', '/etc/../home/evil.conf',
     '--privsep_context', 'novadocker.privsep.sys_admin_pctxt',
     '--privsep_sock_path', '/tmp/x/privsep.sock'],
    ['privsep-helper', '--config-file', '/etc/nova/nova.conf',
     '--privsep_context', 'novadockerXprivsep.sys_admin_pctxt',
     '--privsep_sock_path', '/tmp/x/privsep.sock'],
    # what the code used to fork, and no longer does
    ['ip', 'link', 'add', 'tap1', 'type', 'veth', 'peer', 'name', 'eth0'],
    ['ovs-vsctl', 'add-port', 'br-int', 'tap1'],
    ['ethtool', '-K', 'tap1', 'tx', 'off'],
])
def test_rootwrap_allows_nothing_else(command):
    assert not matches(command)


def _executes(path):
    """Names of process-spawning APIs a module imports or calls."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names
                      if a.name in ('subprocess', 'pty')}
        elif isinstance(node, ast.ImportFrom):
            names = {a.name for a in node.names}
            if (node.module in ('subprocess', 'pty',
                                'oslo_concurrency.processutils') or
                    'processutils' in names):
                found.add(node.module)
        elif (isinstance(node, ast.Attribute) and
              isinstance(node.value, ast.Name) and node.value.id == 'os' and
              node.attr.startswith(('system', 'popen', 'exec', 'spawn',
                                    'fork'))):
            found.add('os.' + node.attr)
    return found


def test_the_filters_cover_everything_the_code_executes():
    """etc/rootwrap.d/docker.filters allows only the privsep helper: no
    module of nova-docker may start a process of its own."""
    package = os.path.dirname(novadocker.__file__)
    spawning = {}
    for directory, _, files in os.walk(package):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(directory, name)
                if _executes(path):
                    spawning[os.path.relpath(path, package)] = _executes(path)
    assert spawning == {}


def test_the_privsep_section_is_in_the_sample_config():
    groups = dict((getattr(group, 'name', group), opts)
                  for group, opts in conf.list_opts())
    assert {'helper_command', 'capabilities'} <= {
        opt.name for opt in groups[conf.PRIVSEP_GROUP]}
    assert {'ovsdb_connection', 'ovsdb_timeout'} <= {
        opt.name for opt in groups['docker_ovs']}
