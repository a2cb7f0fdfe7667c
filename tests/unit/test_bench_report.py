"""The density curves drawn from the benchmark's figures."""

from benchmarks import report


def _figure(name, unit, samples):
    return report.Figure(name, unit, samples, [], 'value<=', 100)


def test_density_curves_group_figures_by_what_they_measure_sorted_by_n():
    figures = [_figure('list_instances at 200', 'ms', [3.0, 9.0, 4.0]),
               _figure('list_instances at 20', 'ms', [1.0]),
               _figure('driver process memory per instance at 20', 'KiB',
                       [40.0]),
               _figure('spawn, 1 OVS port', 'ms', [5.0])]
    assert report.density_curves(figures) == {
        ('list_instances', 'ms'): [(20, 1.0), (200, 4.0)],
        ('driver process memory per instance', 'KiB'): [(20, 40.0)]}


def test_the_density_plot_is_written(tmp_path):
    path = tmp_path / 'density.png'
    report.plot_density([_figure('get_info at 5', 'ms', [1.0]),
                         _figure('get_info at 50', 'ms', [1.2]),
                         _figure('driver process memory per instance at 5',
                                 'KiB', [12.0])], str(path))
    assert path.read_bytes().startswith(b'\x89PNG')
