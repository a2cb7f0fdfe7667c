"""Glance: the file store in the state directory, and ``docker`` among the
container formats (nova-docker's images are ``docker save`` tarballs)."""

import os

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import services
from novadocker_cloud.services import uwsgi


def write_conf(service):
    """glance-api.conf and its paste file."""
    layout = service.layout
    conf = layout.conf('glance', 'glance-api.conf')
    images = layout.data('glance', 'images')
    os.makedirs(images, exist_ok=True)
    cloud_layout.write_ini(conf, {
        'DEFAULT': {'public_endpoint': layout.url('glance'),
                    'enabled_import_methods': '[]'},
        'database': {'connection': layout.db_url('glance')},
        'keystone_authtoken': layout.authtoken('glance'),
        'paste_deploy': {'flavor': 'keystone'},
        'glance_store': {'stores': 'file', 'default_store': 'file',
                         'filesystem_store_datadir': images},
        'image_format': {'container_formats':
                         'ami,ari,aki,bare,ovf,ova,docker,compressed'},
        'oslo_concurrency': {'lock_path': layout.data('glance', 'lock')},
        'os_glance_staging_store': {'filesystem_store_datadir':
                                    layout.data('glance', 'staging')},
        'os_glance_tasks_store': {'filesystem_store_datadir':
                                  layout.data('glance', 'tasks')},
    })
    service.copy_from_venv('glance/glance-api-paste.ini',
                           layout.conf('glance', 'glance-api-paste.ini'))
    return conf


class GlanceDatabase(services.Database):
    name = 'glance-database'

    def up(self):
        layout = self.layout
        migrated = services.fingerprint(layout.db_url('glance'), 'metadefs')
        if self.done('db', migrated):
            return 'unchanged'
        manage = [layout.bin('glance-manage'), '--config-file',
                  write_conf(self)]
        self.run(*manage, 'db_sync')
        # The metadata definitions catalog (Horizon, Tempest use it).
        self.run(*manage, 'db_load_metadefs',
                 os.path.join(layout.venv, 'etc', 'glance', 'metadefs'))
        self.mark('db', migrated)
        return 'migrated, metadata definitions loaded'


class Glance(services.Service):
    name = 'glance'
    after = ('glance-database', 'keystone')

    def up(self):
        write_conf(self)
        # Chunked uploads (``openstack image create`` from a pipe, nova's
        # snapshots) need uWSGI to read the request body itself; glanceclient
        # sends 1 MiB chunks, which uWSGI's default limit (1 MB) refuses.
        return uwsgi.serve(
            self, 'glance', 'glance.wsgi.api:application',
            cloud_layout.PORTS['glance'],
            {'OS_GLANCE_CONFIG_DIR': self.layout.conf('glance', '')},
            extra=('http-raw-body = true', 'http-chunked-input = true',
                   'http-auto-chunked = true', 'http-keepalive = false',
                   'chunked-input-limit = %d' % (8 << 20),
                   'socket-timeout = 60'))
