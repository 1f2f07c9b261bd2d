# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Turn Azure SDK exceptions into one readable failure (no SDK import: duck-typed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

_AADSTS_RE = re.compile(r'AADSTS(\d+)')


class CMKError(Exception):
    """The one error the collection's backends raise: ``msg`` plus result fields (``findings``, ``error``, ...).

    ``AzureCMKModule.execute`` turns it into ``fail_json`` once; nothing else calls ``fail_json``.
    """

    def __init__(self, msg=None, **result):
        super(CMKError, self).__init__(msg)
        self.msg = msg
        self.result = result

    @classmethod
    def from_azure(cls, exc, action=None, host=None, **result):
        """A CMKError carrying an Azure SDK error's code, message, request id and hint (``host``: the vault or HSM
        host a data-plane call went to, to name it when the host cannot be reached)."""
        described = describe(exc, action, host)
        result.update(error=described['error'])
        return cls(described['msg'], **result)


# Hints by Azure error code (ARM, Key Vault, Entra ID). Keep them short and actionable.
_CODE_HINTS = {
    'AuthorizationFailed': 'The identity running the task lacks an Azure RBAC role for this action '
                           '(e.g. Contributor on the resource, Owner or User Access Administrator for role assignments).',
    'ForbiddenByRbac': 'The vault uses Azure RBAC: give the identity running the task a data-plane role on the vault '
                       'or key (e.g. Key Vault Crypto Officer to manage keys).',
    'AccessDenied': 'The vault uses access policies: add the missing key permission for the identity running the task.',
    'ForbiddenByPolicy': 'The vault uses access policies: add the missing key permission for the identity running the '
                         'task.',
    'KeyVaultPolicyError': 'The vault or Managed HSM lacks soft delete or purge protection, which a customer-managed '
                           'key requires: turn purge protection on (sovereign.cmk.azure_cmk_key '
                           'enable_purge_protection=true).',
    'VaultHostUnreachable': 'Check the vault name in the key URI and cloud_environment; a vault that exists but sits '
                            'behind a private endpoint needs its private DNS zone on this machine.',
    'Forbidden': 'The identity running the task is not allowed to do this on the vault or HSM; grant it the role or '
                 'access policy named in the message.',
    'InvalidAuthenticationTokenTenant': 'The token is for another tenant: check the tenant option (AZURE_TENANT).',
    'InvalidAuthenticationTokenAudience': 'The token audience does not match: check cloud_environment '
                                          '(AZURE_CLOUD_ENVIRONMENT).',
    'SubscriptionNotFound': 'Check subscription_id (AZURE_SUBSCRIPTION_ID) and that the identity can see it.',
    'ResourceGroupNotFound': 'Create the resource group first or fix its name.',
    'SubscriptionRequestsThrottled': 'Azure throttled the requests and the retries ran out: lower forks or retry later.',
    'Throttled': 'Azure throttled the requests and the retries ran out: lower forks or retry later.',
    'TooManyRequests': 'Azure throttled the requests and the retries ran out: lower forks or retry later.',
    'AnotherOperationInProgress': 'The resource was busy with another operation for the whole timeout: let that '
                                  'operation finish (or raise the timeout option), then run the task again.',
    'Conflict': 'The resource was busy or in a conflicting state for the whole timeout: let the other operation '
                'finish (or raise the timeout option), then run the task again.',
    'OperationTimeout': 'The operation did not finish within the timeout option. It may still finish in Azure; run the '
                        'task again (it reads the resource as it is then), or raise timeout.',
    'ExpiredAuthenticationToken': 'Azure rejected the token as expired even after a new one was requested: check the '
                                  'clock of this machine and the credential\'s token lifetime.',
}
_AADSTS_HINTS = {
    '90002': 'The tenant was not found: check the tenant option (AZURE_TENANT) and cloud_environment.',
    '700016': 'The application was not found in this tenant: check client_id and tenant.',
    '7000215': 'The client secret is wrong or expired: check secret (AZURE_SECRET).',
    '7000222': 'The client secret has expired: create a new one.',
    '50034': 'The user does not exist in this tenant: check ad_user and tenant.',
    '50126': 'Wrong user name or password.',
    '700024': 'The federated token is not valid for this client: check federated_token_file.',
    '700027': 'The certificate assertion was rejected: check certificate_path and that the certificate is '
              'registered for the application.',
}


def _header(response, name):
    if response is None:
        return None
    headers = getattr(response, 'headers', None) or {}
    try:
        return headers.get(name)
    except AttributeError:  # pragma: no cover - unexpected header container
        return None


def _body_error(response):
    """(code, message) from an Azure error body: {"error": {...}} or a bare {"code", "message"}."""
    if response is None:
        return None, None
    try:
        text = response.text() if callable(getattr(response, 'text', None)) else getattr(response, 'text', '')
        doc = json.loads(text or '{}')
    except (ValueError, TypeError, AttributeError):
        return None, None
    if not isinstance(doc, dict):
        return None, None
    err = doc.get('error', doc)
    if isinstance(err, dict):
        inner = err.get('innererror') or {}
        code = err.get('code')
        if isinstance(inner, dict) and inner.get('code') and code in ('Forbidden', None):
            code = inner['code']
        return code, err.get('message')
    if isinstance(err, str):  # Entra ID: {"error": "invalid_client", "error_description": "..."}
        return err, doc.get('error_description')
    return None, None


def describe(exc, action=None, host=None):
    """A dict for ``fail_json``: ``msg`` and ``error`` (code, message, status, request_id, hint)."""
    if host and type(exc).__name__ == 'ServiceRequestError':
        return _unreachable_vault(exc, action, host)
    response = getattr(exc, 'response', None)
    status = getattr(exc, 'status_code', None) or getattr(response, 'status_code', None)
    code, message = _body_error(response)
    error_obj = getattr(exc, 'error', None)
    if not code and error_obj is not None:
        code = getattr(error_obj, 'code', None)
        message = message or getattr(error_obj, 'message', None)
    message = message or getattr(exc, 'message', None) or str(exc)
    aadsts = _AADSTS_RE.search(message or '')
    if not code and aadsts:
        code = 'AADSTS' + aadsts.group(1)
    if not code:
        code = type(exc).__name__
    request_id = (_header(response, 'x-ms-request-id') or _header(response, 'x-ms-correlation-request-id')
                  or _header(response, 'client-request-id'))
    hint = _CODE_HINTS.get(code)
    if aadsts and not hint:
        hint = _AADSTS_HINTS.get(aadsts.group(1))
    if not hint and status == 429:
        hint = _CODE_HINTS['Throttled']
    if not hint and status == 403:
        hint = _CODE_HINTS['Forbidden']
    if not hint and 'Unable to get authority configuration' in (message or ''):
        hint = _AADSTS_HINTS['90002']
    if not hint and type(exc).__name__ == 'ClientAuthenticationError':
        hint = 'Authentication failed: check the credentials, tenant and cloud_environment.'
    first_line = (message or '').strip().splitlines()[0] if (message or '').strip() else ''
    msg = '%s: %s' % (code, first_line) if first_line else code
    if action:
        msg = 'Failed %s: %s' % (action, msg)
    if request_id:
        msg += ' (request id %s)' % request_id
    if hint:
        msg += ' Hint: %s' % hint
    return {
        'msg': msg,
        'error': {
            'code': code,
            'message': message,
            'status': status,
            'request_id': request_id,
            'correlation_id': _header(response, 'x-ms-correlation-request-id'),
            'hint': hint,
        },
    }


def _unreachable_vault(exc, action, host):
    """A data-plane request that never reached its vault or HSM: the host does not resolve (a mistyped name, another
    cloud's suffix, a deleted vault) or the network path (proxy, private DNS) does not lead there."""
    message = ('vault host %s does not resolve or cannot be reached: check the vault name and cloud_environment (and, '
               'for a vault behind a private endpoint, that this machine resolves its private DNS name)' % host)
    msg = 'Failed %s: %s' % (action, message) if action else message
    return {'msg': '%s (%s)' % (msg, str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__),
            'error': {'code': 'VaultHostUnreachable', 'message': message, 'status': None, 'request_id': None,
                      'correlation_id': None, 'hint': _CODE_HINTS['VaultHostUnreachable']}}


def _status(exc):
    return getattr(exc, 'status_code', None) or getattr(getattr(exc, 'response', None), 'status_code', None)


def _error_status(exc):
    """The HTTP status of an Azure SDK error or of a ``CMKError`` made from one."""
    if isinstance(exc, CMKError):
        return (exc.result.get('error') or {}).get('status')
    return _status(exc)


def error_code(exc):
    """Azure's error code of an SDK error or of a ``CMKError`` made from one."""
    if isinstance(exc, CMKError):
        return (exc.result.get('error') or {}).get('code')
    return describe(exc).get('error', {}).get('code')


def is_not_found(exc):
    """True for a 404 (ResourceNotFound, KeyNotFound, ...) from any Azure client."""
    return type(exc).__name__ == 'ResourceNotFoundError' or _error_status(exc) == 404


def is_forbidden(exc):
    """True for a 403 from any Azure client."""
    return _error_status(exc) == 403
