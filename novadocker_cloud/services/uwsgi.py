"""How every API is served: uWSGI (pyuwsgi from PyPI), as devstack does,
speaking HTTP itself on 127.0.0.1, and on the management address in a
cloud of more than one node (no Apache in front)."""

import os

from novadocker_cloud import layout as cloud_layout
from novadocker_cloud import process


def serve(service, name, module, port, env, processes=2, extra=()):
    """Start ``module`` (``package.module:application``) under uWSGI on
    ``port`` of the cloud's listen addresses and wait until it answers HTTP.

    The app reads its configuration location from ``env`` at import time:
    uWSGI's own ``env =`` lines come too late for that (the interpreter is
    initialised before them), so the variables go to the process itself.
    """
    layout = service.layout
    process.port_free(cloud_layout.HOST, port)
    ini = layout.data('uwsgi', name + '.ini')
    os.makedirs(os.path.dirname(ini), exist_ok=True)
    lines = ['[uwsgi]', 'module = ' + module,
             *('http-socket = %s:%d' % (host, port)
               for host in layout.listen_hosts),
             'processes = %d' % processes, 'master = true',
             'enable-threads = true', 'lazy-apps = true', 'need-app = true',
             'die-on-term = true', 'exit-on-reload = false',
             'thunder-lock = true', 'buffer-size = 65535',
             'hook-master-start = unix_signal:15 gracefully_kill_them_all',
             'worker-reload-mercy = 80',
             # A worker's atexit hooks run, then it ends without tearing
             # the interpreter down: neutron-api's workers hung in that
             # teardown, waiting for threads of theirs that never end, until
             # the launcher's SIGKILL 20 s later (every stop of the cloud,
             # every restart of the soak's).
             'skip-atexit-teardown = true',
             'add-header = Connection: close',
             'procname-prefix-spaced = %s' % name, *extra]
    with open(ini, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    daemon = service.daemon(name, [layout.bin('uwsgi'), '--ini', ini],
                            env=dict(os.environ, **env))
    url = 'http://%s:%d/' % (cloud_layout.HOST, port)
    daemon.wait_until(lambda: process.http_ok(url), 'HTTP answer on ' + url,
                      180)
    return url
