"""The demo's floating-IP fetch: a page that never answers is reported with
what the host, OVN and OVS hold, and ovn-controller is asked once to
recompute its flows."""

import pytest

from novadocker_cloud import demo
from novadocker_cloud.services import ovn

ADDRESS = '172.24.4.9'


@pytest.fixture
def recomputes(monkeypatch):
    calls = []
    monkeypatch.setattr(ovn, 'appctl',
                        lambda layout, *args: calls.append(args) or '')
    monkeypatch.setattr(demo, 'floating_ip_path',
                        lambda address: 'what holds ' + address)
    return calls


def _answers(monkeypatch, *results):
    """demo.fetch gives ``results`` in turn (an exception is raised)."""
    pending = list(results)

    def fetch(url):
        assert url == 'http://%s/' % ADDRESS
        result = pending.pop(0)
        if isinstance(result, Exception):
            raise result
        return result
    monkeypatch.setattr(demo, 'fetch', fetch)


def test_no_answer_is_reported_then_one_recompute_brings_the_page(
        monkeypatch, recomputes):
    _answers(monkeypatch, TimeoutError('timed out'), 'hello')
    said = []
    assert demo.fetch_through_floating_ip(
        'layout', ADDRESS, said.append) == 'hello'
    assert recomputes == [('ovn-controller', 'recompute')]
    before, after = said
    assert 'did not answer (timed out)' in before
    assert 'what holds ' + ADDRESS in before
    assert 'answered once ovn-controller had recomputed' in after


def test_no_answer_after_the_recompute_either_is_reported(
        monkeypatch, recomputes):
    _answers(monkeypatch, TimeoutError('timed out'),
             ConnectionRefusedError('refused'))
    with pytest.raises(RuntimeError, match='after a recompute either '
                       '.refused.; what holds ' + ADDRESS):
        demo.fetch_through_floating_ip('layout', ADDRESS, lambda line: None)
    assert recomputes == [('ovn-controller', 'recompute')]


def test_a_page_that_answers_costs_no_recompute(monkeypatch, recomputes):
    _answers(monkeypatch, 'hello')
    assert demo.fetch_through_floating_ip(
        'layout', ADDRESS, lambda line: None) == 'hello'
    assert recomputes == []


def test_flows_naming_an_address_are_not_those_of_a_longer_one(monkeypatch):
    flows = '\n'.join((
        ' priority=90,ip,nw_dst=172.24.4.9 actions=resubmit(,12)',
        ' priority=90,ip,nw_dst=172.24.4.90 actions=resubmit(,12)',
        ' priority=100,ip,nw_src=10.0.0.5 actions=ct(nat(src=172.24.4.9))',
        ' priority=50,arp,arp_tpa=172.24.4.91 actions=drop'))
    monkeypatch.setattr(demo.process, 'run', lambda argv: flows)
    assert demo._flows_naming(ADDRESS) == 2
