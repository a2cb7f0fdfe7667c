"""An SSH-capable test image for Tempest's validation: the busybox rootfs of
sample_image plus Debian's dropbear and the libraries it loads (no registry
is reachable from these machines, so nothing else would do). Tempest logs in
as root with the instance's keypair, which the driver writes to
/root/.ssh/authorized_keys before the container starts ([docker]
inject_key)."""

import json
import os
import subprocess

from novadocker_cloud import sample_image

DROPBEAR = '/usr/sbin/dropbear'
# Tempest asks the metadata service with curl, as it would on cirros.
CURL = '/usr/bin/curl'
# Debian's busybox has no chpasswd applet: Debian's own chpasswd (shadow,
# through PAM's pam_unix), a PAM policy hashing with SHA-512 and an
# /etc/shadow with root's password locked until someone sets one (Nova's
# set_admin_password runs chpasswd; dropbear then takes the password).
CHPASSWD = '/usr/sbin/chpasswd'
PAM_UNIX = '/lib/x86_64-linux-gnu/security/pam_unix.so'
CHPASSWD_PAM = b'password required pam_unix.so sha512\n'
SHADOW = b'root:*:20000:0:99999:7:::\n'
INIT = 'init'
COMMAND = ('/bin/sh', '/' + INIT)
# What Tempest's validation and scenario tests run over SSH, beyond the
# applets the sample image already has.
SSH_APPLETS = ('df', 'uname', 'cut', 'awk', 'tr', 'sort', 'uniq', 'dmesg',
               'free', 'uptime', 'whoami', 'tail', 'stat', 'umount', 'mke2fs',
               'fdisk', 'dd', 'sync', 'cp', 'mv', 'ln', 'chmod', 'sha256sum',
               'md5sum', 'netstat', 'arp', 'ping6', 'udhcpc', 'date', 'find',
               'xargs', 'tee', 'seq', 'expr', 'printf', 'readlink', 'which',
               'nproc', 'vi', 'start-stop-daemon')
# PID 1, as a cloud image boots: it waits ($PORT_WAIT tenths of a second,
# 10 s by default) for its first port, which the driver plugs just after the
# start; runs a DHCP client on
# each port present, as cirros does (OVN answers it; the driver configured
# the addresses already, the client keeps /etc/resolv.conf as the subnet
# says and renews on SIGUSR1, which Tempest sends); tells its console who
# it is, its addresses and routes (Tempest reads the console log and expects
# more than a line or two); then runs dropbear in the foreground on port $1
# (22 by default), making its host keys on first use (-R) and logging to
# stderr, the console log (-E). "sshd ready" once the port listens; SIGTERM
# ends it at once, status 0; if dropbear dies, so does the container, with
# its status.
INIT_SCRIPT = r'''trap 'kill "$pid" 2>/dev/null; exit 0' TERM INT
port=${1:-22}
tries=${PORT_WAIT:-100}
until [ -e /sys/class/net/eth0 ] || [ "$tries" -eq 0 ]; do
    tries=$((tries - 1))
    sleep 0.1
done
for dev in /sys/class/net/eth*; do
    [ -e "$dev" ] || continue
    dev=${dev##*/}
    udhcpc -f -i "$dev" -p "/var/run/udhcpc.$dev.pid" -s /etc/udhcpc.script \
        >/dev/null 2>&1 &
done
echo "$(hostname) booting: $(uname -sr)"
ip -o -4 addr show | while read -r _ dev _ addr _; do
    echo "address $addr on $dev"
done
ip route | sed 's/^/route /'
dropbear -R -E -F -p "$port" &
pid=$!
alive() {
    read -r _ _ state _ < "/proc/$pid/stat" 2>/dev/null && [ "$state" != Z ]
}
listening=":$(printf %04X "$port") [0-9A-F]*:0000 0A"
tries=100
until grep -q "$listening" /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
    alive && [ "$tries" -gt 0 ] || break
    tries=$((tries - 1))
    sleep 0.1
done
alive && echo "sshd ready on port $port"
wait "$pid"
'''
# udhcpc's script: on a lease (bound) or a renewal, the name servers and
# search domain of the port's subnet. Addresses and routes stay the
# driver's; a deconfig does not take them away.
DHCP_SCRIPT = r'''#!/bin/sh
case "$1" in
bound|renew)
    {
        [ -n "$domain" ] && echo "search $domain"
        for server in $dns; do
            echo "nameserver $server"
        done
    } > /etc/resolv.conf
    ;;
esac
exit 0
'''
# The image has only root, so Tempest's "sudo <command>" just runs it.
SUDO = b'#!/bin/sh\nexec "$@"\n'


def shared_libraries(binary):
    """The libraries ``binary`` loads, the dynamic loader included, as the
    paths the loader finds them at (ldd's answer on this host)."""
    out = subprocess.run(['ldd', binary], check=True, capture_output=True,
                         text=True).stdout
    paths = []
    for line in out.splitlines():
        words = line.split()
        if '=>' in words:
            words = words[words.index('=>') + 1:]
        if words and words[0].startswith('/'):
            paths.append(words[0])
    return paths


def host_files(paths):
    """Rootfs entries copying host files to the same paths, each with the
    directories above it; symlinks are followed (the image gets the file
    itself under the name the loader asks for)."""
    entries, dirs = [], set()
    for path in paths:
        name = path.lstrip('/')
        parts = name.split('/')[:-1]
        for depth in range(1, len(parts) + 1):
            parent = '/'.join(parts[:depth])
            if parent not in dirs:
                dirs.add(parent)
                entries.append(sample_image.directory(parent))
        with open(path, 'rb') as f:
            data = f.read()
        mode = os.stat(path).st_mode & 0o777
        entries.append(sample_image.regular(name, data, mode))
    return entries


def binaries(paths):
    """Rootfs entries for the host binaries ``paths`` and every library
    they load, each file once."""
    files = []
    for path in paths:
        for name in [path] + shared_libraries(path):
            if name not in files:
                files.append(name)
    return host_files(files)


def chpasswd_config():
    """chpasswd's PAM policy and /etc/shadow (its binaries: CHPASSWD and
    PAM_UNIX)."""
    return [sample_image.directory('etc/pam.d'),
            sample_image.regular('etc/pam.d/chpasswd', CHPASSWD_PAM),
            sample_image.regular('etc/shadow', SHADOW, 0o640)]


def rootfs_tar():
    """A tar stream of the busybox rootfs with dropbear, chpasswd, curl,
    their libraries, a writable /etc/dropbear for the host keys, the init
    script, the DHCP client's script and sudo."""
    extra = binaries([DROPBEAR, CHPASSWD, PAM_UNIX, CURL])
    extra += chpasswd_config()
    extra += [
        sample_image.regular('etc/shells', b'/bin/sh\n/bin/ash\n'),
        sample_image.directory('etc/dropbear', 0o700),
        # dropbear records logins in lastlog and wtmp, and its pidfile.
        sample_image.directory('var/log'),
        sample_image.directory('var/run'),
        sample_image.regular(INIT, INIT_SCRIPT.encode(), 0o755),
        sample_image.regular('etc/udhcpc.script', DHCP_SCRIPT.encode(),
                             0o755),
        sample_image.regular('bin/sudo', SUDO, 0o755),
    ]
    return sample_image.busybox_rootfs_tar(extra_applets=SSH_APPLETS,
                                           extra_entries=extra)


def build(client, tag):
    """Import the SSH rootfs as ``tag`` (a docker.APIClient), PID 1 the init
    script on port 22; returns the image id."""
    repository, _, version = tag.rpartition(':')
    client.import_image_from_data(rootfs_tar(), repository=repository,
                                  tag=version,
                                  changes=['CMD %s' % json.dumps(COMMAND)])
    return client.inspect_image(tag)['Id']
