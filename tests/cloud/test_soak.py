"""The real cloud's soak in its short form: one cycle without fault, then
a cycle per fault kind (novadocker_cloud/soak.py says what each does and
what is judged after it). The long form is ``python -m novadocker_cloud
soak --cycles 200``; doc/soak.md gives its figures."""

from novadocker_cloud import soak


def test_every_fault_kind_leaves_servers_as_asked_and_nothing_orphaned(
        cloud):
    # Two cycles to spare for a fault that misses its operation once.
    cycles = 1 + len(soak.FAULTS) + 2
    counts, _ = soak.run(cloud.layout, cycles, each_once=True)
    missing = [f.name for f in soak.FAULTS
               if not counts['fault: ' + f.name]]
    assert not missing, 'never injected: %s' % missing
