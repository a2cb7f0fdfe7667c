"""Tempest against the real cloud: a workspace in the state directory, a
``tempest.conf`` written from what the cloud is (its endpoints, two
SSH-capable docker-format images, its flavors and networks, the feature
flags of etc/tempest/docker.conf, the Neutron extensions it really has),
and ``tempest run`` on a selection with the exclusions of
etc/tempest/exclude.txt, each with its reason."""

import collections
import configparser
import glob
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import time

from novadocker_cloud import clouds
from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import sample_image
from novadocker_cloud import ssh_image

FEATURES = os.path.join(cloud_layout.REPO, 'etc', 'tempest', 'docker.conf')
EXCLUDE = os.path.join(cloud_layout.REPO, 'etc', 'tempest', 'exclude.txt')
IMAGES = ('tempest-ssh', 'tempest-ssh-alt')
BUILD_PROPERTY = 'novadocker_test_image_build'
FLAVORS = ('docker.small', 'docker.medium')
# What the project's judge runs (README, doc/tempest.md).
SELECTION = (r'^tempest\.(api\.(compute|image\.v2|network)|'
             r'scenario\.(test_server_basic_ops|test_network_basic_ops|'
             r'test_snapshot_pattern|test_minimum_basic|'
             r'test_server_multinode|test_network_v6))')

# What CI runs (README command 2): `tempest run --smoke`, which holds one
# each of the basic server and network scenarios, named here too.
SMOKE = (r'\[.*\bsmoke\b.*\]|^tempest\.scenario\.test_server_basic_ops\.|'
         r'^tempest\.scenario\.test_network_basic_ops\.TestNetworkBasicOps\.'
         r'test_network_basic_ops\b')


def workspace(layout):
    return layout.data('tempest')


def _build_id():
    """Names what ssh_image builds now: a changed image is uploaded
    again, an unchanged one is not."""
    digest = hashlib.sha256(ssh_image.rootfs_tar())
    digest.update(repr(ssh_image.COMMAND).encode())
    return digest.hexdigest()[:16]


def _images(admin, build_id):
    """Two public images of the SSH test image (image_ref and
    image_ref_alt must differ), uploaded once per build."""
    found = {}
    for name in IMAGES:
        image = admin.image.find_image(name)
        if image and image.properties.get(BUILD_PROPERTY) != build_id:
            admin.image.delete_image(image)
            image = None
        found[name] = image
    missing = [name for name, image in found.items() if image is None]
    if missing:
        data = sample_image.saved('novadocker-cloud/tempest-ssh:latest',
                                  ssh_image.build)
        for name in missing:
            found[name] = admin.image.create_image(
                name=name, container_format='docker', disk_format='raw',
                visibility='public', data=io.BytesIO(data), wait=True,
                **{BUILD_PROPERTY: build_id})
    return [found[name].id for name in IMAGES]


def _tarball(directory, build_id):
    """The SSH image as a ``docker save`` file, for the scenario tests that
    upload an image of their own ([scenario] img_file)."""
    path = os.path.join(directory, 'ssh-%s.tar' % build_id)
    if not os.path.exists(path):
        with open(path + '.new', 'wb') as f:
            f.write(sample_image.saved(
                'novadocker-cloud/tempest-ssh-file:latest', ssh_image.build))
        os.replace(path + '.new', path)
        for old in glob.glob(os.path.join(directory, 'ssh*.tar')):
            if old != path:
                os.remove(old)
    return path


def configure(layout):
    """Create the workspace and write its tempest.conf; returns its path."""
    path = workspace(layout)
    if not os.path.exists(os.path.join(path, '.stestr.conf')):
        # The workspace registry goes with the state: tempest's default one
        # (~/.tempest) outlives a removed state directory and then refuses
        # the name.
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([layout.bin('tempest'), 'init', '--workspace-path',
                        layout.data('tempest-workspaces.yaml'), path],
                       check=True, capture_output=True)
    admin = clouds.connect(layout, 'admin')
    build_id = _build_id()
    image_ref, image_ref_alt = _images(admin, build_id)
    flavor_ref, flavor_ref_alt = (admin.compute.find_flavor(name).id
                                  for name in FLAVORS)
    public = admin.network.find_network('public')
    extensions = sorted(e.alias for e in admin.network.extensions())
    conf = configparser.RawConfigParser()
    conf.optionxform = str
    conf.read_dict({
        'DEFAULT': {'log_file': os.path.join(path, 'tempest.log')},
        'auth': {'use_dynamic_credentials': 'true',
                 'admin_username': 'admin',
                 'admin_password': layout.password('admin'),
                 'admin_project_name': 'admin',
                 'admin_domain_name': 'Default'},
        'identity': {'uri_v3': layout.url('keystone', '/v3'),
                     'auth_version': 'v3', 'region': cloud_layout.REGION,
                     'v3_endpoint_type': 'public'},
        'identity-feature-enabled': {'api_v2': 'false'},
        'compute': {'image_ref': image_ref, 'image_ref_alt': image_ref_alt,
                    'flavor_ref': flavor_ref,
                    'flavor_ref_alt': flavor_ref_alt,
                    'build_timeout': 180, 'min_compute_nodes': 1,
                    'endpoint_type': 'publicURL',
                    # As devstack: every microversion this Nova serves.
                    'min_microversion': '2.1',
                    'max_microversion': 'latest'},
        'image': {'endpoint_type': 'publicURL',
                  # What the tests upload their own images as: the first
                  # must be one the driver boots.
                  'container_formats': 'docker,bare'},
        'network': {'public_network_id': public.id,
                    'floating_network_name': 'public',
                    'project_network_cidr': '10.100.0.0/16',
                    'project_network_mask_bits': 28,
                    'endpoint_type': 'publicURL'},
        'network-feature-enabled': {'api_extensions': ','.join(extensions),
                                    'ipv6': 'true',
                                    'ipv6_subnet_attributes': 'true',
                                    'port_security': 'true',
                                    'floating_ips': 'true'},
        'validation': {'run_validation': 'true', 'ssh_timeout': 120,
                       'connect_timeout': 30, 'ping_timeout': 60,
                       'image_ssh_user': 'root',
                       'image_alt_ssh_user': 'root'},
        'scenario': {'img_file': _tarball(path, build_id),
                     'img_container_format': 'docker',
                     'img_disk_format': 'raw'},
        # The cloud's metadata service (neutron-ovn-agent's haproxy, Nova's
        # metadata API): a property of the cloud, not of the driver.
        'compute-feature-enabled': {'metadata_service': 'true'},
        # Horizon is not deployed: its smoke scenario has nothing to open.
        'service_available': {'nova': 'true', 'glance': 'true',
                              'neutron': 'true', 'horizon': 'false'},
        'placement': {'endpoint_type': 'public'},
    })
    # The feature flags: what the driver truly does today, one file shared
    # with the devstack plugin.
    features = configparser.RawConfigParser()
    features.optionxform = str
    features.read(FEATURES)
    for section in features.sections():
        if not conf.has_section(section):
            conf.add_section(section)
        for key, value in features.items(section):
            conf.set(section, key, value)
    conf_path = os.path.join(path, 'etc', 'tempest.conf')
    with open(conf_path, 'w') as f:
        conf.write(f)
    return conf_path


def run(layout, regex=SELECTION, concurrency=2, out=None):
    """``tempest run`` in the workspace, its output copied to ``out`` (a
    text file; the terminal by default) and to ``last-run.log`` in the
    workspace, ending with the results per area; returns its exit
    status."""
    configure(layout)
    out = out or sys.stdout
    cmd = [layout.bin('tempest'), 'run', '--regex', regex,
           '--exclude-list', EXCLUDE, '--concurrency', str(concurrency)]
    began = time.monotonic()
    with open(os.path.join(workspace(layout), 'last-run.log'), 'w') as log:
        proc = subprocess.Popen(cmd, cwd=workspace(layout), text=True,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        for line in proc.stdout:
            log.write(line)
            out.write(line)
        status = proc.wait()
        log.flush()
        table = areas_table(log_results(_read(log.name)),
                            time.monotonic() - began)
        log.write(table)
        out.write(table)
    return status


def _read(path):
    with open(path) as f:
        return f.read()


def totals(output):
    """{'Passed': n, 'Failed': n, 'Skipped': n, ...} from the summary
    ``tempest run`` ends its output with."""
    return {name: int(count) for name, count in
            re.findall(r'^ - ([A-Z][A-Za-z ]+): (\d+)$', output, re.M)}


# A result line of ``tempest run``: "{worker} [setUpClass (|tearDownClass
# (]test id ... ok|FAILED|SKIPPED[: reason]".
RESULT = re.compile(r'^\{\d+\} (?:(?:setUp|tearDown)Class \()?'
                    r'(tempest\.\S+?)\)? '
                    r'.*?\.\.\. (ok|FAILED|SKIPPED)', re.M)
AREAS = ('api.compute', 'api.image', 'api.network', 'api.identity',
         'scenario')


def log_results(output):
    """[(test id, 'ok'|'FAILED'|'SKIPPED')] of a run's output; a class
    skipped whole counts once, as stestr counts it, and so does a class
    whose clean-up failed."""
    return RESULT.findall(output)


def area(test_id):
    name = test_id[len('tempest.'):]
    return next((a for a in AREAS if name.startswith(a + '.')), 'other')


def areas_table(results, seconds):
    """The results per area, as doc/tempest.md shows them (Markdown)."""
    counts = collections.defaultdict(collections.Counter)
    for test_id, outcome in results:
        counts[area(test_id)][outcome] += 1
        counts['all'][outcome] += 1
    lines = ['', '| area | passed | failed | skipped |',
             '| --- | ---: | ---: | ---: |']
    for name in [a for a in AREAS + ('other',) if a in counts] + ['all']:
        c = counts[name]
        lines.append('| %s | %d | %d | %d |' % (
            name, c['ok'], c['FAILED'], c['SKIPPED']))
    lines.append('')
    lines.append('%s, %d min %d s' % (time.strftime('%Y-%m-%d'),
                                      seconds // 60, seconds % 60))
    return '\n'.join(lines) + '\n'
