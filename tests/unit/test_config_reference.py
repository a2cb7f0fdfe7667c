"""The configuration reference (etc/nova-docker.conf.sample and
doc/config-reference.md) is generated from the options in the code and must
be regenerated (tools/gen-config.py) whenever an option changes."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def gen_config():
    spec = importlib.util.spec_from_file_location(
        'gen_config', os.path.join(ROOT, 'tools', 'gen-config.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(path):
    with open(path) as f:
        return f.read()


def test_the_sample_config_is_up_to_date(tmp_path):
    tool = gen_config()
    tool.sample(str(tmp_path / 'sample.conf'))
    assert read(tool.SAMPLE) == read(tmp_path / 'sample.conf'), \
        'run tools/gen-config.py'


def test_the_reference_page_is_up_to_date():
    tool = gen_config()
    assert read(tool.REFERENCE) == tool.reference(), \
        'run tools/gen-config.py'


def test_every_docker_option_is_in_the_reference():
    from novadocker import conf
    page = read(gen_config().REFERENCE)
    for opt in conf.ALL_OPTS:
        assert '| `%s` |' % opt.name in page
