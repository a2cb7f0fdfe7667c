"""RabbitMQ: the message bus between the Nova services (and Neutron's
notifier), on the cloud's listen addresses (its configuration file's
listeners: the environment's single address would override them), with
its own epmd on 127.0.0.1, one user with a random password."""

import os
import shutil

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud import services

RABBITMQ_BIN = '/usr/lib/rabbitmq/bin'


class RabbitMQ(services.Service):
    name = 'rabbitmq'
    after = ('management',)

    def up(self):
        base = self.layout.data('rabbitmq')
        os.makedirs(os.path.join(base, 'log'), exist_ok=True)
        with open(os.path.join(base, 'enabled_plugins'), 'w') as f:
            f.write('[].\n')
        listeners = ''.join(
            'listeners.tcp.%d = %s:%d\n' % (
                number, host, cloud_layout.PORTS['rabbitmq'])
            for number, host in enumerate(self.layout.listen_hosts, 1))
        with open(os.path.join(base, 'rabbitmq.conf'), 'w') as f:
            f.write(listeners + 'loopback_users = none\n'
                    'vm_memory_high_watermark.absolute = 512MiB\n')
        for path in (base,):
            for root, dirs, files in os.walk(path):
                shutil.chown(root, 'rabbitmq', 'rabbitmq')
                for name in files:
                    shutil.chown(os.path.join(root, name), 'rabbitmq',
                                 'rabbitmq')
        process.port_free(cloud_layout.HOST, cloud_layout.PORTS['rabbitmq'])
        env = _env(self.layout)
        epmd = self.daemon('epmd', ['epmd', '-address', cloud_layout.HOST],
                           env=env, user='rabbitmq')
        epmd.wait_until(lambda: process.tcp_open(cloud_layout.HOST, 4369),
                        'epmd listening', 20)
        server = self.daemon('rabbitmq', [
            os.path.join(RABBITMQ_BIN, 'rabbitmq-server')], env=env,
            user='rabbitmq', cwd=base)
        server.wait_until(lambda: serving(self.layout), 'startup', 120)
        password = self.layout.password('rabbitmq')
        if not self.done('user', password):
            users = ctl(self.layout, 'list_users')
            if 'openstack' in users.split():
                ctl(self.layout, 'change_password', 'openstack', password)
            else:
                ctl(self.layout, 'add_user', 'openstack', password)
            ctl(self.layout, 'set_permissions', 'openstack', '.*', '.*', '.*')
            self.mark('user', password)
        return '%s:%d' % (cloud_layout.HOST, cloud_layout.PORTS['rabbitmq'])


def serving(layout):
    """The broker opens its AMQP listener as its boot ends; one bounded
    check then says whether the app runs. (``await_startup`` polls only
    every 10 s, and once in CI never answered a node that had booted.)"""
    if not process.tcp_open(cloud_layout.HOST, cloud_layout.PORTS['rabbitmq']):
        return False
    ctl(layout, 'check_running', tool='rabbitmq-diagnostics')
    return True


def ctl(layout, *args, timeout=30, tool='rabbitmqctl'):
    """A RabbitMQ CLI (rabbitmqctl by default) on the cloud's broker."""
    return process.run(
        [os.path.join(RABBITMQ_BIN, tool), '-q', *args],
        env=_env(layout), user='rabbitmq', cwd=layout.data('rabbitmq'),
        timeout=timeout)


def _env(layout):
    base = layout.data('rabbitmq')
    return dict(
        os.environ, HOME=base,
        PATH=RABBITMQ_BIN + ':' + os.environ.get('PATH', '/usr/bin:/bin'),
        RABBITMQ_NODENAME='rabbit@localhost',
        RABBITMQ_MNESIA_BASE=os.path.join(base, 'mnesia'),
        RABBITMQ_LOG_BASE=os.path.join(base, 'log'),
        ERL_CRASH_DUMP=os.path.join(base, 'log', 'erl_crash.dump'),
        RABBITMQ_LOGS='-',
        RABBITMQ_PID_FILE=os.path.join(base, 'rabbitmq.pid'),
        RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(base,
                                                   'enabled_plugins'),
        RABBITMQ_CONFIG_FILE=os.path.join(base, 'rabbitmq'),
        ERL_EPMD_ADDRESS=cloud_layout.HOST,
        ERL_EPMD_PORT='4369')
