"""MariaDB: a private data directory in the state directory, on
127.0.0.1 only, one database and one user (random password) per service."""

import os
import shutil

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process
from novadocker_cloud import services

# database -> the user that owns it
DATABASES = {'keystone': 'keystone', 'glance': 'glance',
             'placement': 'placement', 'neutron': 'neutron',
             'nova_api': 'nova', 'nova_cell0': 'nova', 'nova': 'nova'}


class MariaDB(services.Service):
    name = 'mariadb'

    def up(self):
        datadir = self.layout.data('mysql')
        rundir = self.layout.data('mysql-run')
        socket = os.path.join(rundir, 'mysqld.sock')
        os.makedirs(rundir, exist_ok=True)
        shutil.chown(rundir, 'mysql', 'mysql')
        os.makedirs(self.layout.logs, exist_ok=True)
        if not os.path.isdir(os.path.join(datadir, 'mysql')):
            self.run('mariadb-install-db', '--user=mysql',
                     '--datadir=' + datadir,
                     '--auth-root-authentication-method=socket',
                     '--skip-test-db')
        process.port_free(cloud_layout.HOST, cloud_layout.PORTS['mariadb'])
        daemon = self.daemon('mariadb', [
            'mariadbd', '--no-defaults', '--user=mysql',
            '--datadir=' + datadir, '--socket=' + socket,
            '--bind-address=' + cloud_layout.HOST,
            '--port=%d' % cloud_layout.PORTS['mariadb'],
            '--pid-file=' + os.path.join(rundir, 'mariadbd.pid'),
            '--character-set-server=utf8mb4',
            '--max-connections=1000',
            '--innodb-buffer-pool-size=128M',
            '--innodb-flush-log-at-trx-commit=2',
            '--skip-name-resolve'])
        daemon.wait_until(lambda: process.run(
            ['mariadb-admin', '--socket=' + socket, 'ping']), 'a ping', 60)
        self.run('mariadb', '--socket=' + socket, '-e', self._grants())
        return '%s:%d, %d databases' % (
            cloud_layout.HOST, cloud_layout.PORTS['mariadb'], len(DATABASES))

    def _grants(self):
        sql = []
        for user in sorted(set(DATABASES.values())):
            password = self.layout.password('db-' + user)
            for host in ('localhost', '127.0.0.1'):
                sql.append("CREATE USER IF NOT EXISTS '%s'@'%s' "
                           "IDENTIFIED BY '%s'" % (user, host, password))
                sql.append("ALTER USER '%s'@'%s' IDENTIFIED BY '%s'"
                           % (user, host, password))
        for database, user in DATABASES.items():
            sql.append('CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8'
                       % database)
            for host in ('localhost', '127.0.0.1'):
                sql.append("GRANT ALL ON %s.* TO '%s'@'%s'"
                           % (database, user, host))
        return ';\n'.join(sql) + ';'
