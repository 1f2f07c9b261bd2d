# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.sovereign.cmk.plugins.module_utils import _errors


class FakeResponse:
    def __init__(self, status, body, headers=None):
        self.status_code = status
        self._body = body
        self.headers = headers or {}

    def text(self):
        return json.dumps(self._body)


class HttpResponseError(Exception):
    def __init__(self, response, message='Operation returned an invalid status'):
        super(HttpResponseError, self).__init__(message)
        self.response = response
        self.status_code = response.status_code
        self.message = message
        self.error = None


class ResourceNotFoundError(HttpResponseError):
    pass


class ClientAuthenticationError(Exception):
    pass


def test_arm_error_carries_code_message_request_id_and_hint():
    body = {'error': {'code': 'AuthorizationFailed', 'message': "The client 'x' does not have authorization"}}
    exc = HttpResponseError(FakeResponse(403, body, {'x-ms-request-id': 'req-1'}))
    result = _errors.describe(exc, 'creating the key')
    assert result['error']['code'] == 'AuthorizationFailed'
    assert result['error']['request_id'] == 'req-1'
    assert result['error']['status'] == 403
    assert result['msg'].startswith("Failed creating the key: AuthorizationFailed: The client 'x'")
    assert '(request id req-1)' in result['msg'] and 'Hint:' in result['msg']


def test_key_vault_inner_code_wins_over_forbidden():
    body = {'error': {'code': 'Forbidden', 'message': 'Caller is not authorized',
                      'innererror': {'code': 'ForbiddenByRbac'}}}
    result = _errors.describe(HttpResponseError(FakeResponse(403, body)))
    assert result['error']['code'] == 'ForbiddenByRbac'
    assert 'Key Vault Crypto Officer' in result['error']['hint']


def test_entra_errors_get_tenant_hint():
    exc = ClientAuthenticationError('ClientSecretCredential.get_token failed: AADSTS90002: Tenant not found.')
    result = _errors.describe(exc)
    assert result['error']['code'] == 'AADSTS90002'
    assert 'tenant' in result['error']['hint']


def test_throttling_hint_and_unknown_error():
    exc = HttpResponseError(FakeResponse(429, {'error': {'code': 'SubscriptionRequestsThrottled', 'message': 'slow down'}}))
    assert 'throttled' in _errors.describe(exc)['error']['hint']
    plain = _errors.describe(ValueError('boom'))
    assert plain['error']['code'] == 'ValueError' and plain['error']['hint'] is None


def test_is_not_found():
    assert _errors.is_not_found(ResourceNotFoundError(FakeResponse(404, {})))
    assert _errors.is_not_found(HttpResponseError(FakeResponse(404, {})))
    assert not _errors.is_not_found(HttpResponseError(FakeResponse(403, {})))


def test_is_forbidden():
    assert _errors.is_forbidden(HttpResponseError(FakeResponse(403, {})))
    assert not _errors.is_forbidden(HttpResponseError(FakeResponse(404, {})))
    assert not _errors.is_forbidden(ResourceNotFoundError(FakeResponse(404, {})))
    assert not _errors.is_forbidden(ValueError('boom'))


def test_unknown_tenant_from_msal_gets_tenant_hint():
    exc = ClientAuthenticationError('Authentication failed: Unable to get authority configuration for '
                                    'https://login.microsoftonline.com/x.')
    assert 'tenant option' in _errors.describe(exc)['error']['hint']
