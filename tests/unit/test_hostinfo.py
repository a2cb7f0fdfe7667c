"""Host and container figures from /proc and cgroup files (v1 and v2)."""

import json

import pytest

from novadocker.virt.docker import hostinfo

CID = 'c' * 64


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    proc, cgroup = tmp_path / 'proc', tmp_path / 'cgroup'
    proc.mkdir()
    cgroup.mkdir()
    monkeypatch.setattr(hostinfo, 'PROC', str(proc))
    monkeypatch.setattr(hostinfo, 'CGROUP_ROOT', str(cgroup))
    return proc, cgroup


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_memory_counts_what_is_not_available(fake_root):
    proc, _ = fake_root
    write(proc / 'meminfo', 'MemTotal:  4194304 kB\nMemFree:  100 kB\n'
                            'MemAvailable:  3145728 kB\n')
    assert hostinfo.memory_mb() == (4096, 1024)


def test_cpu_info_and_stats(fake_root, monkeypatch):
    proc, _ = fake_root
    write(proc / 'cpuinfo', 'processor\t: 0\nvendor_id\t: GenuineIntel\n'
                            'model name\t: Xeon\ncpu MHz\t\t: 2400.5\n'
                            'siblings\t: 4\ncpu cores\t: 2\n'
                            'flags\t\t: sse2 avx\n\nprocessor\t: 1\n')
    write(proc / 'stat', 'cpu  10 5 20 300 7 0 0 0 0 0\ncpu0 1 1 1 1 1\n')
    monkeypatch.setattr(hostinfo.os, 'sysconf', lambda name: 100)
    info = json.loads(hostinfo.cpu_info('x86_64', 8))
    assert info == {'arch': 'x86_64', 'vendor': 'GenuineIntel',
                    'model': 'Xeon', 'features': ['avx', 'sse2'],
                    'topology': {'cells': 1, 'sockets': 2, 'cores': 2,
                                 'threads': 2}}
    assert hostinfo.cpu_stats() == {
        'kernel': 200000000, 'idle': 3000000000, 'user': 150000000,
        'iowait': 70000000, 'frequency': 2400}


def test_uptime_reads_like_uptime(fake_root):
    proc, _ = fake_root
    write(proc / 'uptime', '93784.5 100.0\n')
    write(proc / 'loadavg', '0.10 0.20 0.30 1/100 42\n')
    assert hostinfo.uptime().endswith(
        ' up 1 day,  2:03,  load average: 0.10, 0.20, 0.30')


@pytest.mark.parametrize('stat, ended', [
    ('42 (sleep) S 1 42 42 0 -1 4194560 150 0', False),
    # Exiting (PF_EXITING) in uninterruptible sleep: namespaces released.
    ('42 (true) D 1 42 42 0 -1 4194572 150 0', True),
    ('42 (a) Z (b) Z 1 42 42 0 -1 4194560 150 0', True),
    (None, True),
], ids=['running', 'exiting', 'zombie-with-odd-name', 'gone'])
def test_process_ended(fake_root, stat, ended):
    proc, _ = fake_root
    if stat is not None:
        write(proc / '42' / 'stat', stat + '\n')
    assert hostinfo.process_ended(42) is ended


def test_container_usage_cgroup_v1(fake_root):
    proc, cgroup = fake_root
    write(proc / '42' / 'cgroup',
          '5:memory:/docker/%s\n4:cpu,cpuacct:/docker/%s\n'
          '1:name=systemd:/docker/%s\n' % (CID, CID, CID))
    write(cgroup / 'cpuacct' / 'docker' / CID / 'cpuacct.usage', '123456\n')
    mem = cgroup / 'memory' / 'docker' / CID
    write(mem / 'memory.usage_in_bytes', '1048576\n')
    write(mem / 'memory.limit_in_bytes', '67108864\n')
    usage = hostinfo.ContainerUsage(42)
    assert usage.cpu_time_ns() == 123456
    assert usage.memory_bytes() == (1048576, 67108864)
    write(mem / 'memory.limit_in_bytes', '9223372036854771712\n')
    assert usage.memory_bytes() == (1048576, None)


def test_container_usage_cgroup_v2(fake_root):
    proc, cgroup = fake_root
    write(proc / '42' / 'cgroup', '0::/system.slice/docker-%s.scope\n' % CID)
    unified = cgroup / 'system.slice' / ('docker-%s.scope' % CID)
    write(unified / 'cpu.stat', 'usage_usec 250\nuser_usec 200\n')
    write(unified / 'memory.current', '4096\n')
    write(unified / 'memory.max', 'max\n')
    usage = hostinfo.ContainerUsage(42)
    assert usage.cpu_time_ns() == 250000
    assert usage.memory_bytes() == (4096, None)
    write(unified / 'memory.max', '8192\n')
    assert usage.memory_bytes() == (4096, 8192)


def _mountinfo(*mounts):
    return ''.join('%d 1 0:%d / %s rw,relatime - %s src rw\n'
                   % (i, i, point, fstype)
                   for i, (point, fstype) in enumerate(mounts, 30))


def test_lxcfs_files_are_those_its_mount_serves(fake_root, tmp_path):
    proc, _ = fake_root
    lxcfs = tmp_path / 'lxc fs'
    write(lxcfs / 'proc' / 'uptime', '')
    write(lxcfs / 'proc' / 'meminfo', '')
    wanted = ['proc/meminfo', 'proc/uptime', 'sys/devices/system/cpu/online']
    escaped = str(lxcfs).replace(' ', '\\040')
    write(proc / 'self' / 'mountinfo', _mountinfo(
        ('/', 'ext4'), (escaped, 'fuse.lxcfs')))
    assert hostinfo.lxcfs_files(str(lxcfs) + '/', wanted) == [
        'proc/meminfo', 'proc/uptime']
    # Not a mount point, another filesystem, or one mounted over LXCFS.
    assert hostinfo.lxcfs_files(str(tmp_path), wanted) == []
    write(proc / 'self' / 'mountinfo', _mountinfo((escaped, 'tmpfs')))
    assert hostinfo.lxcfs_files(str(lxcfs), wanted) == []
    write(proc / 'self' / 'mountinfo', _mountinfo(
        (escaped, 'fuse.lxcfs'), (escaped, 'tmpfs')))
    assert hostinfo.lxcfs_files(str(lxcfs), wanted) == []
