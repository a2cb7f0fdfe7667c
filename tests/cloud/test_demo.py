"""README command 1 as a newcomer runs it: the cloud comes up, the demo
boots, serves, snapshots and deletes through the real APIs, and everything
it started stops. Runs before the other cloud tests (conftest.py orders
it), which bring the cloud up again with the state this run kept."""

import subprocess
import sys

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import orchestrator


def test_the_demo_boots_serves_snapshots_deletes_and_stops():
    result = subprocess.run([sys.executable, '-m', 'novadocker_cloud'],
                            cwd=cloud_layout.REPO, capture_output=True,
                            text=True, timeout=1200)
    out = result.stdout
    print(out)
    assert result.returncode == 0, out + result.stderr
    for line in ('] cloud up',
                 'uploaded: active',
                 'server hello: ACTIVE',
                 'container nova-',
                 ': ACTIVE, bound to %s as ovs; OVS port tap' % (
                     cloud_layout.Layout().hostname),
                 '| hello is serving on port 80',
                 "from this host: 'hello from hello'",
                 'active, container_format docker',
                 'server hello-again from the snapshot: ACTIVE',
                 '0 container(s) and 0 tap port(s) left',
                 '] stopped'):
        assert line in out, line
    assert not orchestrator.running(cloud_layout.Layout())
