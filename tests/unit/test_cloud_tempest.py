"""Reading ``tempest run``'s output: results per area for doc/tempest.md
and the totals CI checks."""

from novadocker_cloud import tempest

OUTPUT = '''\
{0} setUpClass (tempest.api.compute.servers.test_create_server.ServersTestBootFromVolume) ... SKIPPED: Volume service not enabled.
{1} tempest.api.compute.servers.test_create_server.ServersTestJSON.test_verify_created_server_vcpus [0.173225s] ... ok
{0} tempest.api.network.test_ports.PortsTestJSON.test_create_port [1.2s] ... ok
{1} tempest.scenario.test_network_basic_ops.TestNetworkBasicOps.test_mtu_sized_frames [15.099445s] ... FAILED
{0} tearDownClass (tempest.scenario.test_network_basic_ops.TestNetworkBasicOps) [0.000000s] ... FAILED
{1} tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_delete_image [0.3s] ... ok

======
Totals
======
Ran: 5 tests in 94.1683 sec.
 - Passed: 3
 - Skipped: 1
 - Expected Fail: 0
 - Unexpected Success: 0
 - Failed: 1
'''  # noqa: E501


def test_results_are_read_per_test_and_per_area():
    results = tempest.log_results(OUTPUT)
    assert results[0] == (
        'tempest.api.compute.servers.test_create_server.'
        'ServersTestBootFromVolume', 'SKIPPED')
    assert [tempest.area(test_id) for test_id, _ in results] == [
        'api.compute', 'api.compute', 'api.network', 'scenario',
        'scenario', 'api.image']
    table = tempest.areas_table(results, 125)
    assert '| api.compute | 1 | 0 | 1 |' in table
    assert '| scenario | 0 | 2 | 0 |' in table
    assert '| all | 3 | 2 | 1 |' in table
    assert table.rstrip().endswith('2 min 5 s')


def test_totals():
    assert tempest.totals(OUTPUT) == {
        'Passed': 3, 'Skipped': 1, 'Expected Fail': 0,
        'Unexpected Success': 0, 'Failed': 1}
