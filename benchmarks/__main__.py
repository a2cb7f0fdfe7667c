"""Every benchmark figure, driver beside raw baseline in the same run:

    python -m benchmarks [--quick] [--only lifecycle density images cloud
                                          moves]

Prints one table (figure, driver, baseline, value, target, verdict), writes
it as JSON and draws the spawn latency distributions and the density
curves as PNGs (in benchmarks/results/ by default). --quick is the CI smoke
run: few iterations, small sizes, no verdict. Needs root: it starts a
private dockerd and a private OVS. ``cloud`` (not run unless named) brings
up the real cloud of README command 1 and boots servers through it;
``moves`` (not run unless named) brings up its two-node cloud and migrates
servers from node 1 to node 2 (doc/moves.md).
"""

import argparse
import datetime
import os
import sys

from benchmarks import environment  # noqa: I100 (patches first)
from benchmarks import cloud
from benchmarks import density
from benchmarks import images
from benchmarks import lifecycle
from benchmarks import moves
from benchmarks import report

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')
FULL = {'runs': 30, 'rounds': 8, 'counts': [20, 200, 500], 'repeat': 15,
        'image_mb': 1000, 'image_iterations': 2, 'boots': 20,
        'move_mb': [0, 100, 1000], 'move_rounds': 3}
QUICK = {'runs': 3, 'rounds': 1, 'counts': [5], 'repeat': 3,
         'image_mb': 24, 'image_iterations': 1, 'boots': 3,
         'move_mb': [0, 8], 'move_rounds': 1}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--only', nargs='+',
                        choices=['lifecycle', 'density', 'images', 'cloud',
                                 'moves'],
                        default=['lifecycle', 'density', 'images'])
    parser.add_argument('--json', default=os.path.join(RESULTS,
                                                       'results.json'))
    parser.add_argument('--plot', default=os.path.join(
        RESULTS, 'spawn-latency.png'))
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    environment.CONF([], project='nova')

    figures = []
    if {'lifecycle', 'density'} & set(args.only):
        with environment.started() as env:
            if 'lifecycle' in args.only:
                figures += lifecycle.run(env, plan['runs'], plan['rounds'])
            if 'density' in args.only:
                figures += density.run(env, plan['counts'], plan['repeat'])
    if 'images' in args.only:
        figures += images.measure(plan['image_mb'],
                                  plan['image_iterations'])
    if 'cloud' in args.only:
        figures += cloud.run(plan['boots'])
    if 'moves' in args.only:
        figures += moves.run(plan['move_mb'], plan['move_rounds'])

    judged = not args.quick
    print()
    report.print_table(figures, judged)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    report.write_json(figures, args.json, {
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'cpus': os.cpu_count(), 'quick': args.quick})
    spawn = [f for f in figures if f.name.startswith('spawn')]
    if spawn:
        report.plot_spawn(spawn[0], args.plot)
        print('plot: %s' % args.plot)
    if 'density' in args.only:
        path = os.path.join(os.path.dirname(args.plot), 'density.png')
        report.plot_density(figures, path)
        print('plot: %s' % path)
    print('json: %s' % args.json)
    return 0 if not judged or all(f.passed for f in figures) else 1


if __name__ == '__main__':
    sys.exit(main())
