"""Network from the workload's first instruction: what each way costs.

Three ways to start an instance with one OVS port, measured interleaved on a
private dockerd + private OVS (as the tests start them), each with an image
whose command checks, as its first act, that eth0 has its address and that a
default route exists, and prints NET-OK/NO-NET and GW-OK/NO-GW:

* ``plug-after-start`` (the driver today): create (network none), start,
  plug into the new namespace. The workload runs before its network exists.
* ``sandbox``: an infra container (network none, a sleeping process) is
  created and started, its namespace is plugged, then the workload container
  is created with ``network_mode=container:<infra>`` and started: its first
  instruction runs in a configured namespace. (Kubernetes' pause container.)
* ``gated-entrypoint``: the workload is created with its entrypoint wrapped
  by an injected static busybox that waits for a marker file, the network is
  plugged after start, then the marker is written through /proc/<pid>/root.

It also measures a reboot (stop + start + replug today; the sandbox restarts
only the workload and keeps the namespace) and the memory an infra container
costs (its sleeping process + its containerd shim).

    python -m benchmarks.network_first_instruction [--runs N]
"""

import argparse
import io
import os
import statistics
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')
from nova import monkey_patch  # noqa: E402
monkey_patch.patch()

from novadocker import conf as nd_conf  # noqa: E402
from novadocker.virt.docker import network  # noqa: E402
from tests.fixtures import engine as engine_fixture  # noqa: E402
from tests.fixtures import netinfo  # noqa: E402
from tests.fixtures import ovs as ovs_fixture  # noqa: E402

CONF = nd_conf.CONF
CHECK_IMAGE = 'novadocker-test/netcheck:latest'
CHECK = ('ip -4 addr show eth0 2>/dev/null | grep -q "inet %s" && '
         'echo NET-OK || echo NO-NET; '
         'ip route | grep -q "^default" && echo GW-OK || echo NO-GW; '
         'exec sleep 3600')
CHECK_CMD = ['sh', '-c', CHECK % '10.20.0.']
GATE = ['/.nd/busybox', 'sh', '-c',
        'while [ ! -e /.nd/go ]; do /.nd/busybox usleep 1000; done; '
        'exec "$@"', 'gate']


def gate_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        info = tarfile.TarInfo('.nd')
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        tar.add(engine_fixture.BUSYBOX, arcname='.nd/busybox')
    return buf.getvalue()


def wait_for_verdict(api, cid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = api.logs(cid).decode()
        if 'GW' in out:
            return ' '.join(out.split())
        time.sleep(0.01)
    return 'no output'


class Bench:
    def __init__(self, api):
        self.api = api
        self.net = network.Network()
        self.gate = gate_tar()

    def _create(self, image, **kwargs):
        host_config = self.api.create_host_config(
            network_mode=kwargs.pop('network_mode', 'none'))
        return self.api.create_container(image, host_config=host_config,
                                         **kwargs)['Id']

    def _pid(self, cid):
        return self.api.inspect_container(cid)['State']['Pid']

    def plug_after_start(self, instance, vif):
        t = time.perf_counter()
        cid = self._create(CHECK_IMAGE)
        self.api.start(cid)
        self.net.attach_all(instance, cid, self._pid(cid), [vif])
        elapsed = time.perf_counter() - t
        return elapsed, [cid], cid

    def sandbox(self, instance, vif):
        t = time.perf_counter()
        infra = self._create(engine_fixture.TEST_IMAGE)
        self.api.start(infra)
        self.net.attach_all(instance, infra, self._pid(infra), [vif])
        cid = self._create(CHECK_IMAGE, network_mode='container:' + infra)
        self.api.start(cid)
        elapsed = time.perf_counter() - t
        return elapsed, [cid, infra], cid

    def gated(self, instance, vif):
        t = time.perf_counter()
        # An entrypoint given at create clears the image's CMD: the driver
        # would pass the image's Entrypoint + Cmd as the gate's arguments.
        cid = self._create(CHECK_IMAGE, entrypoint=GATE, command=CHECK_CMD)
        self.api.put_archive(cid, '/', self.gate)
        self.api.start(cid)
        pid = self._pid(cid)
        self.net.attach_all(instance, cid, pid, [vif])
        with open('/proc/%d/root/.nd/go' % pid, 'w'):
            pass
        elapsed = time.perf_counter() - t
        return elapsed, [cid], cid

    def reboot_today(self, instance, vif, cid):
        t = time.perf_counter()
        self.api.stop(cid, timeout=0)
        self.net.detach_all(instance, cid, [vif])
        self.api.start(cid)
        self.net.attach_all(instance, cid, self._pid(cid), [vif])
        return time.perf_counter() - t

    def reboot_sandbox(self, cid):
        t = time.perf_counter()
        self.api.stop(cid, timeout=0)
        self.api.start(cid)
        return time.perf_counter() - t

    def remove(self, instance, vif, cids):
        self.net.detach_all(instance, cids[-1], [vif])
        for cid in cids:
            self.api.remove_container(cid, force=True)


def shim_rss_kib(infra_id):
    """RSS of the infra container's process and of its containerd shim."""
    total = 0
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmd = f.read().split(b'\0')
            with open('/proc/%s/status' % pid) as f:
                status = f.read()
        except OSError:
            continue
        if b'containerd-shim' in cmd[0] and infra_id.encode() in cmd:
            total += int(status.split('VmRSS:')[1].split()[0])
    return total


def report(name, values):
    ms = sorted(v * 1000 for v in values)
    print('%-22s median %6.1f ms  min %6.1f  max %6.1f  (n=%d)'
          % (name, statistics.median(ms), ms[0], ms[-1], len(ms)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--runs', type=int, default=10)
    args = parser.parse_args()
    engine = engine_fixture.DockerEngine().start()
    switch = None
    try:
        api = engine.client()
        engine_fixture.build_test_image(api)
        engine_fixture.build_test_image(api, tag=CHECK_IMAGE,
                                        command=CHECK_CMD)
        switch = ovs_fixture.PrivateOVS().start()
        switch.add_bridge('br-int')
        with ovs_fixture.entered_netns(switch.netns_path):
            CONF.set_override('ovsdb_connection', switch.connection,
                              group='docker_ovs')
            bench = Bench(api)
            ways = {'plug-after-start': bench.plug_after_start,
                    'sandbox': bench.sandbox,
                    'gated-entrypoint': bench.gated}
            times = {name: [] for name in ways}
            verdicts = {name: set() for name in ways}
            reboots = {'reboot today': [], 'reboot sandbox': []}
            rss = []
            for run in range(args.runs + 1):       # run 0 warms up
                for name, way in ways.items():
                    instance = netinfo.instance()
                    vif = netinfo.simple_vif('10.20.0.%d' % (run + 10))
                    elapsed, cids, cid = way(instance, vif)
                    verdicts[name].add(wait_for_verdict(api, cid))
                    if run:
                        times[name].append(elapsed)
                        if name == 'plug-after-start':
                            reboots['reboot today'].append(
                                bench.reboot_today(instance, vif, cid))
                        elif name == 'sandbox':
                            reboots['reboot sandbox'].append(
                                bench.reboot_sandbox(cid))
                            rss.append(shim_rss_kib(cids[-1]))
                    bench.remove(instance, vif, cids)
            for name in ways:
                report(name, times[name])
                print('%22s first instruction saw: %s' % (
                    '', ' | '.join(sorted(verdicts[name]))))
            for name, values in reboots.items():
                report(name, values)
            print('infra container: shim + process RSS median %d KiB'
                  % statistics.median(rss))
    finally:
        if switch:
            switch.stop()
        engine.stop()


if __name__ == '__main__':
    main()
