"""Placement: the resource providers and allocations of the compute
node."""

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import services
from novadocker_cloud.services import uwsgi


class Placement(services.Service):
    name = 'placement'
    after = ('keystone',)

    def up(self):
        layout = self.layout
        conf = layout.conf('placement', 'placement.conf')
        cloud_layout.write_ini(conf, {
            'api': {'auth_strategy': 'keystone'},
            'placement_database': {'connection': layout.db_url('placement')},
            'keystone_authtoken': layout.authtoken('placement'),
        })
        migrated = services.fingerprint(layout.db_url('placement'))
        if not self.done('db', migrated):
            self.run(layout.bin('placement-manage'), '--config-file', conf,
                     'db', 'sync')
            self.mark('db', migrated)
        return uwsgi.serve(self, 'placement', 'placement.wsgi.api:application',
                           cloud_layout.PORTS['placement'],
                           {'OS_PLACEMENT_CONFIG_DIR':
                            layout.conf('placement', '')})
