"""Keystone: fernet tokens, bootstrapped admin, the service project and
users, the demo projects and the catalog of every other API."""

import openstack

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import services
from novadocker_cloud.services import uwsgi

SERVICE_USERS = ('nova', 'glance', 'neutron', 'placement')
# type, name, the endpoint's path
CATALOG = (('image', 'glance', 'glance', ''),
           ('placement', 'placement', 'placement', ''),
           ('network', 'neutron', 'neutron', ''),
           ('compute', 'nova', 'nova', '/v2.1'))
# project -> its member user (two projects, for tenant-isolation checks)
MEMBER_PROJECTS = {'demo': 'demo', 'alt_demo': 'alt_demo'}


def admin_cloud(layout):
    """An openstacksdk connection as the bootstrapped admin."""
    return openstack.connect(
        auth_url=layout.url('keystone'), username='admin',
        password=layout.password('admin'), project_name='admin',
        user_domain_name='Default', project_domain_name='Default',
        region_name=cloud_layout.REGION, identity_api_version='3')


class Keystone(services.Service):
    name = 'keystone'
    after = ('mariadb', 'venv', 'management')

    def up(self):
        layout = self.layout
        conf = layout.conf('keystone', 'keystone.conf')
        cloud_layout.write_ini(conf, {
            'DEFAULT': {'max_token_size': 16384},
            'database': {'connection': layout.db_url('keystone')},
            'token': {'provider': 'fernet'},
            'fernet_tokens': {'key_repository':
                              layout.conf('keystone', 'fernet-keys')},
            'credential': {'key_repository':
                           layout.conf('keystone', 'credential-keys')},
        })
        manage = [layout.bin('keystone-manage'), '--config-file', conf]
        as_root = ['--keystone-user', 'root', '--keystone-group', 'root']
        version = services.fingerprint(layout.db_url('keystone'),
                                       layout.password('admin'))
        # The catalog follows the control plane's address: a cloud brought
        # up again with more nodes, or back to one, registers it again.
        catalog = services.fingerprint(version, layout.control_host)
        if not self.done('bootstrap', version):
            self.run(*manage, 'db_sync')
            self.run(*manage, 'fernet_setup', *as_root)
            self.run(*manage, 'credential_setup', *as_root)
        if not self.done('catalog', catalog):
            # Idempotent; it moves Keystone's own endpoint to a new URL.
            self.run(*manage, 'bootstrap',
                     '--bootstrap-password', layout.password('admin'),
                     '--bootstrap-username', 'admin',
                     '--bootstrap-project-name', 'admin',
                     '--bootstrap-role-name', 'admin',
                     '--bootstrap-service-name', 'keystone',
                     '--bootstrap-region-id', cloud_layout.REGION,
                     '--bootstrap-public-url', layout.url('keystone', '/v3'))
        uwsgi.serve(self, 'keystone', 'keystone.wsgi.api:application',
                    cloud_layout.PORTS['keystone'],
                    {'OS_KEYSTONE_CONFIG_FILES': conf})
        if not self.done('catalog', catalog):
            self._register(admin_cloud(layout))
            self.mark('bootstrap', version)
            self.mark('catalog', catalog)
        return layout.url('keystone', '/v3')

    def _register(self, cloud):
        """Service users, member projects, catalog: idempotent."""
        identity = cloud.identity
        roles = {name: identity.find_role(name) or identity.create_role(
            name=name) for name in ('admin', 'member', 'reader', 'service')}
        service_project = self._project(identity, 'service')
        for name in SERVICE_USERS:
            user = self._user(identity, name, service_project)
            for role in ('admin', 'service'):
                identity.assign_project_role_to_user(
                    service_project, user, roles[role])
        for project_name, user_name in MEMBER_PROJECTS.items():
            project = self._project(identity, project_name)
            user = self._user(identity, user_name, project)
            for role in ('member', 'reader'):
                identity.assign_project_role_to_user(project, user,
                                                     roles[role])
        for kind, name, port, path in CATALOG:
            service = identity.find_service(name) or identity.create_service(
                name=name, type=kind)
            url = self.layout.url(port, path)
            public = [e for e in identity.endpoints(service_id=service.id)
                      if e.interface == 'public']
            for endpoint in public:
                if endpoint.url != url:
                    identity.update_endpoint(endpoint, url=url)
            if not public:
                identity.create_endpoint(
                    service_id=service.id, interface='public', url=url,
                    region_id=cloud_layout.REGION)

    def _project(self, identity, name):
        return identity.find_project(name, domain_id='default') or \
            identity.create_project(name=name, domain_id='default')

    def _user(self, identity, name, project):
        password = self.layout.password(name)
        user = identity.find_user(name, domain_id='default')
        if user is None:
            return identity.create_user(name=name, password=password,
                                        domain_id='default',
                                        default_project_id=project.id)
        return identity.update_user(user, password=password)
