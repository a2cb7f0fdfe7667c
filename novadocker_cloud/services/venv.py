"""The cloud's Python environment: every OpenStack service from PyPI under
the project's constraints, and nova-docker itself, in one virtualenv of the
state directory (readable by the unprivileged nova user, wherever the
repository is cloned).

Run as ``python3 -m novadocker_cloud.services.venv`` (the distribution's
Python and the standard library are enough), it installs the virtualenv
alone: tools/setup-env.sh does so while it installs .venv, as the two take
as long and pip uses one core.
"""

import glob
import os

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import services

# The distribution's Python, as on a production node: a venv only links to
# its interpreter, and one under /root (pyenv) is out of the nova user's
# reach.
PYTHON = '/usr/bin/python3'
PACKAGES = ('nova', 'glance', 'neutron', 'keystone', 'openstack-placement',
            'python-openstackclient', 'PyMySQL', 'pyuwsgi', 'tempest')


def _driver_sources():
    """Every file that makes up the installed driver package."""
    repo = cloud_layout.REPO
    files = ['setup.cfg', 'setup.py', 'requirements.txt']
    for top in ('novadocker', 'nova', 'etc'):
        files += sorted(os.path.relpath(p, repo) for p in glob.glob(
            os.path.join(repo, top, '**', '*'), recursive=True)
            if os.path.isfile(p) and '__pycache__' not in p)
    return files


def _read(path):
    with open(os.path.join(cloud_layout.REPO, path), 'rb') as f:
        return f.read()


class Venv(services.Service):
    name = 'venv'

    def up(self):
        venv = self.layout.venv
        pip = [self.layout.bin('python'), '-m', 'pip', 'install', '-q',
               '--disable-pip-version-check']
        deps = services.fingerprint(_read('upper-constraints.txt'),
                                    _read('requirements.txt'), *PACKAGES)
        said = []
        if not self.done('deps', deps):
            if not os.path.exists(self.layout.bin('python')):
                self.run(PYTHON, '-m', 'venv', venv)
            self.run(*pip, '-c', os.path.join(cloud_layout.REPO,
                                              'upper-constraints.txt'),
                     *PACKAGES, '-r',
                     os.path.join(cloud_layout.REPO, 'requirements.txt'))
            self.mark('deps', deps)
            self.mark('driver', '')
            said.append('OpenStack installed')
        driver = services.fingerprint(*(
            part for path in _driver_sources()
            for part in (path, _read(path))))
        if not self.done('driver', driver):
            self.run(*pip, '--no-deps', '--force-reinstall',
                     cloud_layout.REPO)
            self.mark('driver', driver)
            said.append('nova-docker installed')
        # Everyone reads the venv; nova-compute runs from it as nova.
        os.chmod(self.layout.state, 0o755)
        return '%s (%s)' % (venv, ', '.join(said) or 'unchanged')

    def _marker(self, step):
        """Inside the virtualenv: what it holds goes with it, when it is
        removed, or linked into another cloud's state directory (the
        two-node cloud's tests do)."""
        return os.path.join(self.layout.venv, 'novadocker-cloud-' + step)


if __name__ == '__main__':
    layout = cloud_layout.Layout()
    os.makedirs(layout.logs, exist_ok=True)
    print('cloud virtualenv: %s' % Venv(layout, None).up())
