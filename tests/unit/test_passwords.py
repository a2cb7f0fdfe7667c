"""Passwords through chpasswd: its input, where it is looked for, a missing
command told from a failing one, the engine's output frames."""

from nova import exception
from nova import objects
import pytest

from novadocker.virt.docker import client
from novadocker.virt.docker import passwords


def test_the_admin_user_is_root_unless_the_image_names_one():
    assert passwords.admin_user(objects.ImageMeta.from_dict({})) == 'root'
    assert passwords.admin_user(objects.ImageMeta.from_dict(
        {'properties': {'os_admin_user': 'admin'}})) == 'admin'


def test_chpasswd_gets_one_line():
    assert passwords.chpasswd_input('root', 'p:a ss') == b'root:p:a ss\n'


@pytest.mark.parametrize('user, password', [
    ('root', 'sesame\nadmin:owned'), ('root', 'ses\rame'),
    ('root', 'ses\0ame'), ('ro:ot', 'sesame'), ('', 'sesame'),
    ('root\n', 'sesame'),
])
def test_chpasswd_input_that_would_set_another_line_is_refused(user,
                                                               password):
    with pytest.raises(exception.SetAdminPasswdNotSupported) as e:
        passwords.chpasswd_input(user, password)
    assert 'sesame' not in str(e.value) and 'ses' not in str(e.value)


def test_chpasswd_is_looked_for_along_the_containers_path():
    assert passwords.command_paths(['A=1', 'PATH=/opt/bin:relative:/bin'],
                                   'chpasswd') == ['/opt/bin/chpasswd',
                                                   '/bin/chpasswd']
    assert passwords.command_paths(None, 'chpasswd')[2:4] == [
        '/usr/sbin/chpasswd', '/usr/bin/chpasswd']


@pytest.mark.parametrize('code, output, missing', [
    (126, b'exec: "chpasswd": executable file not found in $PATH', True),
    (127, b'sh: chpasswd: not found', True),
    (126, b'permission denied', False),
    (1, b'chpasswd: user not found', False),
])
def test_a_missing_command_is_told_from_a_failing_one(code, output,
                                                      missing):
    assert passwords.command_not_found(code, output) is missing


def test_the_engines_output_frames_are_joined():
    def frame(stream, data):
        return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, 'big') + data
    assert client.demultiplex(frame(1, b'out ') + frame(2, b'err') +
                              frame(1, b'')) == b'out err'
    assert client.demultiplex(b'') == b''
