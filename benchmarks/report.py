"""Benchmark figures: each the driver's samples beside its raw baseline's
(or a budget), judged against a target, printed as one table, saved as
JSON, and spawn latencies and density curves drawn as PNGs."""

import collections
import dataclasses
import json
import re
import statistics


@dataclasses.dataclass
class Figure:
    """One measured figure. ``compare`` says how it is judged:
    'ratio<=' / 'ratio>=' (driver median over baseline median) or 'value<='
    (driver median alone, e.g. a time or memory budget). A ``target`` of
    None makes it a figure for information, shown but not judged."""

    name: str
    unit: str
    driver: list
    baseline: list
    compare: str
    target: float

    @property
    def value(self):
        ours = statistics.median(self.driver)
        if self.compare.startswith('ratio'):
            return ours / statistics.median(self.baseline)
        return ours

    @property
    def passed(self):
        if self.target is None:
            return True
        if self.compare.endswith('>='):
            return self.value >= self.target
        return self.value <= self.target

    def as_dict(self):
        return {'figure': self.name, 'unit': self.unit,
                'driver': summary(self.driver),
                'baseline': summary(self.baseline) if self.baseline else None,
                'compare': self.compare, 'target': self.target,
                'value': self.value, 'passed': self.passed}


def summary(samples):
    return {'median': statistics.median(samples), 'min': min(samples),
            'max': max(samples), 'n': len(samples)}


def _cell(samples):
    if not samples:
        return '-'
    s = summary(samples)
    return '%.1f [%.1f-%.1f]' % (s['median'], s['min'], s['max'])


def print_table(figures, judged=True):
    print('%-58s %-24s %-24s %9s %10s %5s' % (
        'figure', 'driver median [min-max]', 'baseline median [min-max]',
        'value', 'target', ''))
    for f in figures:
        suffix = 'x' if f.compare.startswith('ratio') else ' ' + f.unit
        verdict = ('PASS' if f.passed else 'FAIL') if judged else '-'
        if f.target is None:
            target, verdict = '%10s' % '-', 'info'
        else:
            target = '%2s %5.2f%s' % (f.compare[-2:], f.target,
                                      suffix.strip())
        print('%-58s %-24s %-24s %8.2f%s %s %5s' % (
            '%s (%s)' % (f.name, f.unit), _cell(f.driver),
            _cell(f.baseline), f.value, suffix.strip() or '', target,
            verdict))


def write_json(figures, path, meta):
    with open(path, 'w') as f:
        json.dump(dict(meta, figures=[x.as_dict() for x in figures]), f,
                  indent=2)


def plot_spawn(figure, path):
    """Histogram-like strip plot of the spawn latency distributions."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    fig, ax = pyplot.subplots(figsize=(8, 4))
    ax.boxplot([figure.baseline, figure.driver], vert=False,
               tick_labels=['bare create+start', 'driver spawn\n(1 OVS port)'],
               showfliers=True)
    for row, samples in ((1, figure.baseline), (2, figure.driver)):
        ax.scatter(samples, [row] * len(samples), alpha=0.35, s=12)
    ax.set_xlabel('milliseconds to running')
    ax.set_title('Spawn latency: %.2fx the bare engine (median)'
                 % figure.value)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)


def density_curves(figures):
    """{(what, unit): [(N, median), ...] by N} of the figures named
    '<what> at <N>'."""
    curves = collections.defaultdict(list)
    for f in figures:
        found = re.fullmatch(r'(.+) at (\d+)', f.name)
        if found:
            curves[(found.group(1), f.unit)].append(
                (int(found.group(2)), statistics.median(f.driver)))
    return {key: sorted(points) for key, points in curves.items()}


def plot_density(figures, path):
    """The density curves: times on one axis, memory per instance on
    another."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    fig, (times, sizes) = pyplot.subplots(1, 2, figsize=(11, 4))
    for (what, unit), points in sorted(density_curves(figures).items()):
        axis = sizes if unit == 'KiB' else times
        axis.plot(*zip(*points), marker='o', label=what)
    times.set_ylabel('milliseconds (median)')
    sizes.set_ylabel('KiB per instance')
    for axis in (times, sizes):
        axis.set_xlabel('running instances')
        axis.legend(fontsize='small')
    fig.suptitle('The periodic paths and memory against the number of '
                 'instances')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot.close(fig)
