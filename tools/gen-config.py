"""Regenerate the configuration reference from the options in the code
(``novadocker.conf.list_opts``, the oslo.config.opts entry point):

* etc/nova-docker.conf.sample, by oslo-config-generator with
  etc/nova-docker-config-generator.conf;
* doc/config-reference.md, every option of every group with its type,
  default and help.

tests/unit/test_config_reference.py fails when either is out of date. Run
``.venv/bin/python tools/gen-config.py`` after changing an option.
"""

import os
import sys

from oslo_config import generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
GENERATOR_CONFIG = os.path.join(ROOT, 'etc',
                                'nova-docker-config-generator.conf')
SAMPLE = os.path.join(ROOT, 'etc', 'nova-docker.conf.sample')
REFERENCE = os.path.join(ROOT, 'doc', 'config-reference.md')


def sample(output_file):
    generator.main(['--config-file', GENERATOR_CONFIG,
                    '--output-file', output_file])


def _default(opt):
    if opt.sample_default is not None:
        return '`%s`' % (opt.sample_default,)
    if opt.default is None or opt.default in ([], ''):
        return '(none)'
    if isinstance(opt.default, list):
        return '`%s`' % ','.join(str(v) for v in opt.default)
    return '`%s`' % (opt.default,)


def _type(opt):
    name = (type(opt).__name__.replace('Opt', '') or
            type(opt.type).__name__).lower()
    limits = []
    for attribute in ('min', 'max'):
        value = getattr(opt.type, attribute, None)
        if value is not None:
            limits.append('%s %s' % (attribute, value))
    choices = getattr(opt.type, 'choices', None)
    if choices:
        limits.append('one of ' + ', '.join(str(c) for c in choices))
    return name + (' (%s)' % ', '.join(limits) if limits else '')


def reference():
    """The Markdown reference page."""
    from novadocker import conf
    lines = [
        '# Configuration reference',
        '',
        'Every option nova-docker reads from `nova.conf`, generated from the',
        'code by `tools/gen-config.py` (do not edit by hand). The same',
        'options, commented, are in `etc/nova-docker.conf.sample`. The',
        '`[DEFAULT] compute_driver` line and the options of Nova itself are',
        'described in [install.md](install.md).',
    ]
    for group, opts in conf.list_opts():
        name = getattr(group, 'name', group)
        lines += ['', '## [%s]' % name, '']
        help_text = getattr(group, 'help', None)
        if help_text:
            lines += [help_text, '']
        lines += ['| Option | Type | Default | Description |',
                  '| --- | --- | --- | --- |']
        for opt in sorted(opts, key=lambda o: o.name):
            description = ' '.join((opt.help or '').split()).replace(
                '|', '\\|')
            if opt.deprecated_opts:
                description += ' Formerly: %s.' % ', '.join(
                    '[%s] %s' % (d.group or name, d.name)
                    for d in opt.deprecated_opts)
            lines.append('| `%s` | %s | %s | %s |' % (
                opt.name, _type(opt), _default(opt), description))
    return '\n'.join(lines) + '\n'


def main():
    sample(SAMPLE)
    with open(REFERENCE, 'w') as f:
        f.write(reference())
    print('wrote %s and %s' % (SAMPLE, REFERENCE))


if __name__ == '__main__':
    main()
