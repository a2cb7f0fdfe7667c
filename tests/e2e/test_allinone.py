"""README command 1, the local all-in-one, as a user runs it: it must boot,
serve, snapshot and delete a server through its own APIs and leave nothing
behind."""

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_the_all_in_one_boots_snapshots_and_deletes_a_server():
    with tempfile.TemporaryDirectory(prefix='novadocker-aio-') as state:
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, 'tools', 'allinone.py'),
             '--state-dir', os.path.join(state, 'aio'),
             # Free ports and its own network: it may run beside another.
             '--api-port', '0', '--placement-port', '0',
             '--image-port', '0', '--cidr', '10.251.0.0/24'],
            capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for line in ("server hello: ACTIVE",
                 "address:   10.251.0.10, OVS port tap",
                 "| hello is serving on port 80",
                 "GET http://10.251.0.10/ from the host: 'hello from hello'",
                 "container_format docker",
                 "deleted the server: 0 container(s) and 0 OVS port(s) left",
                 "] done"):
        assert line in out, out
