# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""Lazy Azure SDK client factory.

A module imports only the SDK packages of the clients it asks for. All clients of one module run
share one credential and one HTTP session (one connection pool through the proxy, if any). TLS
verification is always on; a private CA bundle comes from the standard ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import json
import time

from ansible_collections.sovereign.cmk.plugins.module_utils._auth import arm_scope
from ansible_collections.sovereign.cmk.plugins.module_utils._version import COLLECTION_VERSION

# name -> (python package, client class). Resource Manager clients with their own SDK (every other resource goes
# through ``arm_request``: one client, one api-version per resource).
ARM_CLIENTS = {
    'authorization': ('azure.mgmt.authorization', 'AuthorizationManagementClient'),
}
# Data-plane clients, created per vault or HSM URL.
DATA_CLIENTS = {
    'keys': ('azure.keyvault.keys', 'KeyClient'),
    'hsm_access': ('azure.keyvault.administration', 'KeyVaultAccessControlClient'),
}
# pip names, for the "missing library" message.
PIP_NAMES = {
    'azure.mgmt.authorization': 'azure-mgmt-authorization',
    'azure.keyvault.keys': 'azure-keyvault-keys', 'azure.keyvault.administration': 'azure-keyvault-administration',
    'azure.identity': 'azure-identity', 'azure.core': 'azure-core', 'azure.mgmt.core': 'azure-mgmt-core',
}

# Retries: azure-core's RetryPolicy honours Retry-After on 429/5xx (and on any status that carries it).
RETRY_SETTINGS = dict(retry_total=8, retry_backoff_factor=0.8, retry_backoff_max=60, retry_connect=4, retry_read=4)
# Every Resource Manager write the collection sends is idempotent (PUT, DELETE, PATCH of a whole property, the VM
# deallocate/start actions), so writes are retried like reads on dropped connections and 5xx (azure-core retries
# only GET/PUT/DELETE/HEAD/OPTIONS/TRACE by default).
RETRY_METHODS = frozenset(('HEAD', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'POST'))
# Long-running operations: the poller sleeps for the service's Retry-After; this interval only applies
# when the service gives none (the SDK default would be 30 seconds).
POLLING_INTERVAL = 5
# The default bound of every wait of one task (long-running operations, retries of a busy resource), in seconds.
DEFAULT_TIMEOUT = 1800
# A resource busy with another operation: retried with backoff within the timeout.
BUSY_CODES = ('AnotherOperationInProgress', 'Conflict', 'OperationNotAllowed', 'RetryableError')
BUSY_BACKOFF_MAX = 30
# A token Azure declares expired before its stated expiry: renewed once.
EXPIRED_TOKEN_CODES = ('ExpiredAuthenticationToken', 'InvalidAuthenticationTokenExpired')
USER_AGENT = 'sovereign.cmk/%s' % COLLECTION_VERSION


class MissingLibraryError(ImportError):
    def __init__(self, package, exc):
        super(MissingLibraryError, self).__init__(str(exc))
        self.package = package
        self.pip_name = PIP_NAMES.get(package, package)


def import_client_class(package, class_name):
    try:
        return getattr(importlib.import_module(package), class_name)
    except ImportError as exc:
        raise MissingLibraryError(package, exc)


class ClientFactory:
    """Creates SDK clients on first use and keeps them for the module run."""

    def __init__(self, cloud, subscription_id, credential_builder, timeout=DEFAULT_TIMEOUT, sleep=time.sleep):
        self.cloud = cloud
        self.subscription_id = subscription_id
        self.timeout = timeout or DEFAULT_TIMEOUT
        self._credential_builder = credential_builder
        self._credential = None
        self._transport = None
        self._clients = {}
        self._sleep = sleep
        self.renewed_credential = False

    def renew_credential(self):
        """A new credential (a new token cache) for every client created from now on."""
        self._credential = None
        self._clients = {}
        self.renewed_credential = True

    @property
    def transport(self):
        if self._transport is None:
            import requests  # pylint: disable=import-outside-toplevel
            transport_cls = import_client_class('azure.core.pipeline.transport', 'RequestsTransport')
            session = requests.Session()  # trust_env: HTTPS_PROXY and REQUESTS_CA_BUNDLE apply
            self._transport = transport_cls(session=session, session_owner=False)
        return self._transport

    @property
    def credential(self):
        if self._credential is None:
            self._credential = self._credential_builder(self.transport)
        return self._credential

    def _common_kwargs(self):
        kwargs = dict(RETRY_SETTINGS)
        kwargs.update(transport=self.transport, user_agent=USER_AGENT)
        return kwargs

    def arm(self, name):
        """A Resource Manager client (``keyvault``, ``compute``, ...) for the subscription."""
        key = ('arm', name)
        if key not in self._clients:
            package, class_name = ARM_CLIENTS[name]
            cls = import_client_class(package, class_name)
            self._clients[key] = cls(self.credential, self.subscription_id, base_url=self.cloud['resource_manager'],
                                     credential_scopes=[arm_scope(self.cloud)], polling_interval=POLLING_INTERVAL,
                                     **self._common_kwargs())
        return self._clients[key]

    def data(self, name, vault_url):
        """A data-plane client (``keys``, ``hsm_access``) for one vault or HSM URL."""
        key = (name, vault_url.rstrip('/').lower())
        if key not in self._clients:
            package, class_name = DATA_CLIENTS[name]
            cls = import_client_class(package, class_name)
            self._clients[key] = cls(vault_url, self.credential, **self._common_kwargs())
        return self._clients[key]

    def arm_pipeline(self):
        """A bare Resource Manager pipeline for generic calls by resource id (see ``arm_request``)."""
        key = ('arm', '_pipeline')
        if key not in self._clients:
            policies = importlib.import_module('azure.core.pipeline.policies')
            mgmt_core = importlib.import_module('azure.mgmt.core')
            mgmt_policies = importlib.import_module('azure.mgmt.core.policies')
            pipeline_policies = [
                policies.RequestIdPolicy(),
                policies.HeadersPolicy(),
                policies.UserAgentPolicy(user_agent=USER_AGENT),
                policies.RetryPolicy(**RETRY_SETTINGS),
                mgmt_policies.ARMChallengeAuthenticationPolicy(self.credential, arm_scope(self.cloud)),
                policies.ContentDecodePolicy(),
                policies.DistributedTracingPolicy(),
            ]
            self._clients[key] = mgmt_core.ARMPipelineClient(base_url=self.cloud['resource_manager'],
                                                             policies=pipeline_policies, transport=self.transport)
        return self._clients[key]

    def arm_request(self, method, path, api_version, body=None, headers=None):
        """Send one Resource Manager request by path; returns the parsed JSON (None for no body).

        - Every resource the collection manages is read and written through this one call, at the api-version of the
          service rules table.
        - A write that Azure answers as a long-running operation (any of ARM's three styles) is followed to its end with
          ``azure-mgmt-core``'s ``ARMPolling`` (honouring Retry-After) and returns the final resource body; the wait is
          bounded by ``timeout`` (``OperationTimeout`` names the operation, its last status and its monitor URL).
        - Writes are retried like reads on dropped connections, throttling and 5xx (``RETRY_METHODS``); a resource busy
          with another operation (409 ``AnotherOperationInProgress``, ``Conflict``) is retried with backoff within
          ``timeout``; a token Azure declares expired is renewed once.

        Raises the azure-core error matching the status (404 -> ResourceNotFoundError).
        """
        rest = importlib.import_module('azure.core.rest')
        url = '%s%s' % (self.cloud['resource_manager'].rstrip('/'), path)
        deadline = time.monotonic() + self.timeout
        busy_tries = 0
        renewed = False
        while True:
            request = rest.HttpRequest(method, url, params={'api-version': api_version}, json=body, headers=headers)
            pipeline_response = self.arm_pipeline().send_request(request, _return_pipeline_response=True,
                                                                 retry_on_methods=RETRY_METHODS)
            response = pipeline_response.http_response
            code = error_code_of(response) if response.status_code >= 400 else None
            if response.status_code == 401 and code in EXPIRED_TOKEN_CODES and not renewed:
                renewed = True
                self.renew_credential()
                continue
            if response.status_code == 409 and code in BUSY_CODES:
                wait = _retry_after(response) or min(2 ** busy_tries, BUSY_BACKOFF_MAX)
                if time.monotonic() + wait < deadline:
                    busy_tries += 1
                    self._sleep(wait)
                    continue
            break
        if response.status_code >= 400:
            raise_for_status(response)
        if method != 'GET' and is_long_running(response):
            return self._wait(method, path, pipeline_response, deadline)
        return _body(response)

    def _wait(self, method, path, pipeline_response, deadline):
        polling_module = importlib.import_module('azure.core.polling')
        arm_polling = importlib.import_module('azure.mgmt.core.polling.arm_polling')
        polling = arm_polling.ARMPolling(POLLING_INTERVAL)
        poller = polling_module.LROPoller(self.arm_pipeline(), pipeline_response, _final_body, polling)
        result = poller.result(timeout=max(deadline - time.monotonic(), 1))
        if poller.done():
            return result
        message = ('%s %s did not finish within %d seconds (timeout); last status %s; status monitor %s. It may still '
                   'finish in Azure: the next run reads the resource as it is then.'
                   % (method, path.split('?')[0], self.timeout, _safe(polling.status),
                      _monitor_url(polling, pipeline_response)))
        raise operation_timeout(message)  # pylint: disable=raising-non-exception  # an AzureError subclass


def operation_timeout(message):
    """An ``OperationTimeout`` error (an azure-core ``AzureError``, so it is reported like any Azure error)."""
    exceptions = importlib.import_module('azure.core.exceptions')
    error_class = type('OperationTimeout', (exceptions.AzureError,), {})
    return error_class(message)


def error_code_of(response):
    """Azure's error code of an error response (None when the body has none)."""
    try:
        doc = json.loads(response.text() or '{}')
    except (ValueError, TypeError):
        return None
    error = doc.get('error') if isinstance(doc, dict) else None
    return error.get('code') if isinstance(error, dict) else None


def _retry_after(response):
    try:
        return max(float(response.headers.get('Retry-After')), 0.0) if response.headers.get('Retry-After') else None
    except ValueError:
        return None


def _safe(fn):
    try:
        return fn()
    except Exception:  # pylint: disable=broad-except  # a status we cannot read is reported as unknown
        return 'unknown'


def _monitor_url(polling, pipeline_response):
    """The URL the poller watches (Azure-AsyncOperation or Location), else the resource URL."""
    operation = getattr(polling, '_operation', None)
    for name in ('get_polling_url',):
        getter = getattr(operation, name, None)
        if getter is not None:
            url = _safe(getter)
            if url and url != 'unknown':
                return url
    headers = pipeline_response.http_response.headers
    return headers.get('Azure-AsyncOperation') or headers.get('Location') or pipeline_response.http_request.url


def raise_for_status(response):
    """Raise the azure-core error for an ARM error response (status >= 400)."""
    exceptions = importlib.import_module('azure.core.exceptions')
    mgmt_exceptions = importlib.import_module('azure.mgmt.core.exceptions')
    error_map = {401: exceptions.ClientAuthenticationError, 404: exceptions.ResourceNotFoundError,
                 409: exceptions.ResourceExistsError}
    exceptions.map_error(status_code=response.status_code, response=response, error_map=error_map)
    raise exceptions.HttpResponseError(response=response, error_format=mgmt_exceptions.ARMErrorFormat)


TERMINAL_STATES = ('succeeded', 'failed', 'canceled', 'cancelled')


def is_long_running(response):
    """A write Azure carries on asynchronously, in any of ARM's three styles: 201/202 with ``Azure-AsyncOperation``
    or ``Location``, or a body whose ``provisioningState`` is not terminal yet."""
    headers = response.headers
    if response.status_code in (201, 202) and (headers.get('Azure-AsyncOperation') or headers.get('Location')):
        return True
    body = _body(response)
    state = ((body or {}).get('properties') or {}).get('provisioningState') if isinstance(body, dict) else None
    return bool(state) and state.lower() not in TERMINAL_STATES


def _body(response):
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _final_body(pipeline_response):
    return _body(pipeline_response.http_response)
