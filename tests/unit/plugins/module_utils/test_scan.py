# -*- coding: utf-8 -*-
"""_scan: the shared reads, the token cache and the records of the bulk scan (pure parts)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import threading
import time

import pytest

from ansible_collections.sovereign.cmk.plugins.module_utils import _scan

Token = collections.namedtuple('Token', 'token expires_on')


def test_shared_reads_load_once_under_concurrency_and_share_errors():
    reads = _scan.SharedReads()
    calls = []
    gate = threading.Event()

    def loader():
        calls.append(1)
        gate.wait(5)
        return {'a': [1]}

    results = []
    threads = [threading.Thread(target=lambda: results.append(reads.get('k', loader))) for dummy in range(8)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results == [{'a': [1]}] * 8
    results[0]['a'].append(2)                      # every caller gets its own copy
    assert reads.get('k', loader) == {'a': [1]}
    assert reads.loads == 1 and reads.hits == 8

    def failing():
        calls.append(1)
        raise ValueError('nope')

    for dummy in range(2):
        with pytest.raises(ValueError):
            reads.get('bad', failing)
    assert len(calls) == 2


def test_a_wait_for_another_threads_read_is_bounded():
    reads = _scan.SharedReads(timeout=0.01)
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(5)
        return 1

    owner = threading.Thread(target=lambda: reads.get('k', slow))
    owner.start()
    started.wait(5)
    try:
        with pytest.raises(_scan.CMKError, match='did not finish'):
            reads.get('k', slow)
    finally:
        release.set()
        owner.join()
    assert reads.get('k', slow) == 1


class Inner(object):
    def __init__(self):
        self.calls = []

    def get_token(self, *scopes, **kwargs):
        self.calls.append(scopes)
        return Token('t', time.time() + 3600)


def test_token_cache_one_request_per_audience():
    inner = Inner()
    cache = _scan.TokenCache(inner)
    for dummy in range(5):
        cache.get_token('https://management.azure.com/.default')
        cache.get_token('https://managedhsm.azure.net/.default')
    assert cache.requests == 2 and len(inner.calls) == 2


def test_token_cache_renews_a_token_about_to_expire():
    inner = Inner()
    cache = _scan.TokenCache(inner)
    cache._tokens[(('s',), None, None)] = Token('old', time.time() + 10)
    assert cache.get_token('s').token == 't' and cache.requests == 1


def test_record_of_a_check_and_of_a_passed_through_entry():
    entry = {'host': 'st1', 'name': 'st1', 'service': 'storage_account', 'environment': 'prod',
             'classification': 'pii', 'subscription_id': 's', 'resource_group': 'rg', 'params': {}}
    result = {'status': 'drift', 'compliant': False, 'id': '/x', 'changes': ['key_name'],
              'findings': [{'code': 'encryption_settings', 'severity': 'drift', 'message': 'm', 'fix': 'f',
                            'link': 'encryption_settings'}], 'chain': {'healthy': True}}
    out = _scan.record(entry, result, 'graph')
    assert out['status'] == 'drift' and out['findings'] == [{'code': 'encryption_settings', 'severity': 'drift',
                                                             'message': 'm', 'fix': 'f'}]
    assert out['source'] == 'graph' and out['id'] == '/x' and out['compliant'] is False
    error = {'code': 'AuthorizationFailed', 'status': 403}
    failed = _scan.record(entry, {'status': 'failed', 'msg': 'boom', 'error': error}, 'live')
    assert failed['status'] == 'unreachable' and failed['message'] == 'boom'
    policy = _scan.record(entry, {'status': 'failed', 'error': {'code': 'ForbiddenByPolicy', 'status': 403}}, 'live')
    assert policy['status'] == 'failed'
    passed = _scan.record(dict(entry, status='unlabelled', message='no labels'), None, None)
    assert passed['status'] == 'unlabelled' and passed['compliant'] is False and passed['message'] == 'no labels'
    assert _scan.totals([out, failed, passed])['unreachable'] == 1


def test_prepare_validates_params_against_the_target_options():
    items = [
        {'host': 'st1', 'params': {'service': 'storage_account', 'name': 'st1', 'resource_group': 'rg', 'key': 'k'}},
        {'host': 'bad', 'params': {'service': 'storage_account', 'name': 'b', 'resource_group': 'rg', 'bogus': 1}},
        {'host': 'un', 'status': 'unlabelled', 'message': 'x'},
        {'host': 'weird', 'status': 'great'},
        'not a dict',
    ]
    entries, errors = _scan.prepare(items, 'sub', {'timeout': 60, 'journal_dir': None})
    assert len(errors) == 2
    st1 = entries[0]['params']
    assert st1['subscription_id'] == 'sub' and st1['grant_access'] is False and st1['timeout'] == 60
    assert st1['allow_recreate'] is False
    assert entries[1]['status'] == 'failed' and 'bogus' in entries[1]['message']
    assert entries[2]['status'] == 'unlabelled'


def test_graph_rows_become_arm_bodies_and_index_vaults():
    scanner = _scan.Scanner.__new__(_scan.Scanner)
    scanner.graph, scanner.vaults = {}, {}
    scanner.add_graph_rows([
        {'id': '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/KV1', 'name': 'KV1',
         'type': 'microsoft.keyvault/vaults', 'resourceGroup': 'rg', 'subscriptionId': 's', 'properties': {'a': 1}},
        {'name': 'no id'},
    ])
    assert scanner.vaults == {('vaults', 'kv1'): '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/KV1'}
    body = scanner.graph['/subscriptions/s/resourcegroups/rg/providers/microsoft.keyvault/vaults/kv1']
    assert 'resourceGroup' not in body and body['properties'] == {'a': 1}
