"""How clients reach the cloud: a clouds.yaml in the state directory with
an entry per identity (admin, the demo member, the alt_demo member)."""

import os

import openstack
import yaml

from novadocker_cloud import layout as cloud_layout

IDENTITIES = {'admin': ('admin', 'admin'), 'demo': ('demo', 'demo'),
              'alt_demo': ('alt_demo', 'alt_demo')}


def path(layout):
    return os.path.join(layout.state, 'clouds.yaml')


def write(layout):
    clouds = {}
    for name, (user, project) in IDENTITIES.items():
        clouds[name] = {
            'auth': {'auth_url': layout.url('keystone', '/v3'),
                     'username': user, 'password': layout.password(user),
                     'project_name': project,
                     'user_domain_name': 'Default',
                     'project_domain_name': 'Default'},
            'region_name': cloud_layout.REGION,
            'identity_api_version': 3, 'interface': 'public'}
    fd = os.open(path(layout), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        yaml.safe_dump({'clouds': clouds}, f, default_flow_style=False)
    return path(layout)


def connect(layout, name):
    """An openstacksdk connection as one of IDENTITIES."""
    return openstack.connect(load_yaml_config=False, load_envvars=False,
                             **_config(layout)[name])


def _config(layout):
    with open(path(layout)) as f:
        return yaml.safe_load(f)['clouds']


def cli_env(layout, name):
    """The environment under which ``openstack`` acts as ``name``."""
    return dict(os.environ, OS_CLIENT_CONFIG_FILE=path(layout), OS_CLOUD=name)
