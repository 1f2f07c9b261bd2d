# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""``AzureCMKModule``: the one wrapper around AnsibleModule that every sovereign.cmk module uses.

It adds the shared authentication options, resolves the cloud and credential lazily, hands out SDK
clients (importing only the SDKs asked for), turns Azure errors into one clear failure (code,
message, request id, hint) and builds check/diff results.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.sovereign.cmk.plugins.module_utils import _auth
from ansible_collections.sovereign.cmk.plugins.module_utils._clients import ClientFactory, MissingLibraryError
from ansible_collections.sovereign.cmk.plugins.module_utils._diff import build_diff
from ansible_collections.sovereign.cmk.plugins.module_utils import _report
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError, is_not_found
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import InvalidIdError


def load_cloud(cloud_environment, session_get):
    """Resolve ``cloud_environment`` to a cloud dict; ``session_get(url)`` fetches custom metadata."""
    cloud = _auth.builtin_cloud(cloud_environment)
    if cloud is not None:
        return cloud
    url = _auth.metadata_url(cloud_environment)
    return _auth.cloud_from_metadata(session_get(url), url)


def _poller_status(poller):
    try:
        return poller.status()
    except Exception:  # pylint: disable=broad-except  # a status we cannot read is reported as unknown
        return 'unknown'


def _vault_host(fn):
    """The vault or HSM host of a data-plane client method (None for other calls)."""
    url = getattr(getattr(fn, '__self__', None), 'vault_url', None)
    if not isinstance(url, str):
        return None
    return url.split('://', 1)[-1].split('/', 1)[0]


class AzureCMKModule:
    """Wraps AnsibleModule; modules read ``params`` and call ``arm()``/``data()``/``run()``/``exit()``."""

    def __init__(self, argument_spec, supports_check_mode=True, **kwargs):
        spec = copy.deepcopy(_auth.AUTH_ARGUMENT_SPEC)
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **kwargs)
        self.params = self.module.params
        self._cloud = None
        self._factory = None
        self._auth = None
        self._method = None
        for warning in _auth.ignored_option_warnings(self.params):
            self.module.warn(warning)

    # -- basics ---------------------------------------------------------------------------------
    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def diff_mode(self):
        return bool(self.module._diff)

    def fail(self, msg, **result):
        """Stop the task with ``msg``: raises the one error type, which ``execute`` reports."""
        raise CMKError(msg, **result)

    def warn(self, msg):
        self.module.warn(msg)

    # -- cloud, credential, clients ---------------------------------------------------------------
    @property
    def cloud(self):
        if self._cloud is None:
            self._cloud = self._guard('resolving the Azure cloud', load_cloud,
                                      self.auth_params.get('cloud_environment'), self._fetch_json)
        return self._cloud

    def _fetch_json(self, url):
        """GET a custom cloud's metadata over the module's one HTTP session (proxy and CA bundle apply)."""
        import requests  # pylint: disable=import-outside-toplevel
        session = self._get_factory().transport.session
        try:
            response = session.get(url, timeout=30)
        except requests.RequestException as exc:
            raise _auth.AuthConfigError('could not read the cloud metadata from %s: %s' % (url, exc))
        if response.status_code != 200:
            raise _auth.AuthConfigError('the cloud metadata endpoint %s answered HTTP %s'
                                        % (url, response.status_code))
        try:
            return response.json()
        except ValueError:
            raise _auth.AuthConfigError('the cloud metadata endpoint %s did not answer JSON' % url)

    @property
    def auth_params(self):
        """The effective authentication options (azure.azcollection's names and credential file resolved)."""
        if self._auth is None:
            self._auth = self._guard('reading the authentication options', _auth.resolve_params, self.params)
            for name in ('secret', 'password', 'certificate_password'):
                if self._auth.get(name) and self._auth[name] != self.params.get(name):
                    self.module.no_log_values.add(self._auth[name])  # read from the credential file
        return self._auth

    @property
    def auth_method(self):
        if self._method is None:
            self._method = self._guard('choosing the authentication method', _auth.choose_auth_method,
                                       self.auth_params)
        return self._method

    @property
    def subscription_id(self):
        value = self.auth_params.get('subscription_id')
        if not value and self.auth_method in ('cli', 'default_chain'):
            # Like azure.azcollection: the Azure CLI's current subscription (az account set).
            value, _path = self._guard('reading the Azure CLI profile', _auth.load_cli_subscription)
            self._auth['subscription_id'] = value
        if not value:
            self.fail('subscription_id is required (or set AZURE_SUBSCRIPTION_ID%s)'
                      % (', or choose a default subscription with az account set' if self.auth_method == 'cli' else ''))
        return value

    def _get_factory(self):
        """The client factory, before its cloud is known (a custom cloud's metadata is read over its session)."""
        if self._factory is None:
            method = self.auth_method
            params = self.auth_params

            def builder(transport):
                return _auth.build_credential(method, params, self.cloud, transport)

            # The subscription is only required when a Resource Manager client is created.
            self._factory = ClientFactory(None, params.get('subscription_id'), builder,
                                          timeout=self.params.get('timeout'))
        return self._factory

    @property
    def clients(self):
        factory = self._get_factory()
        if factory.cloud is None:
            factory.cloud = self.cloud
        return factory

    def arm(self, name):
        """A Resource Manager client by short name (``authorization``); other resources go through ``arm_request``."""
        factory = self.clients
        if not factory.subscription_id:
            factory.subscription_id = self.subscription_id
        return self._guard('creating the %s client' % name, factory.arm, name)

    def data(self, name, vault_url):
        """A data-plane client: ``keys`` (KeyClient) or ``hsm_access`` (Managed HSM local RBAC)."""
        return self._guard('creating the %s client' % name, self.clients.data, name, vault_url)

    def arm_request(self, action, method, path, api_version, body=None):
        factory = self.clients
        return self.run(action, factory.arm_request, method, path, api_version, body)

    # -- reads shared by a bulk scan (a single task reads each one once) -----------------------------------------
    shares_reads = False

    def cached(self, key, loader):
        """``loader()``; the bulk scan (``_scan``) returns one shared answer per ``key`` for all its resources."""
        return loader()

    def known_vault(self, resource_type, name):
        """The id of the ``vaults``/``managedHSMs`` named ``name`` when already known (the bulk scan), else None."""
        return None

    # -- calling Azure ------------------------------------------------------------------------------
    def _guard(self, action, fn, *args, **kwargs):
        """Run local set-up code, turning configuration and import problems into clear failures."""
        try:
            return fn(*args, **kwargs)
        except (_auth.AuthConfigError, InvalidIdError, ValueError) as exc:
            raise CMKError('Failed %s: %s' % (action, exc))

    def run(self, action, fn, *args, **kwargs):
        """Call the SDK; an Azure error becomes the one ``CMKError`` (code, message, request id, hint)."""
        from azure.core.exceptions import AzureError  # pylint: disable=import-outside-toplevel
        try:
            return fn(*args, **kwargs)
        except AzureError as exc:
            raise CMKError.from_azure(exc, action, host=_vault_host(fn))

    def get_or_none(self, action, fn, *args, **kwargs):
        """Like ``run`` but a not-found answer returns None ("absent")."""
        from azure.core.exceptions import AzureError  # pylint: disable=import-outside-toplevel
        try:
            return fn(*args, **kwargs)
        except AzureError as exc:
            if is_not_found(exc):
                return None
            raise CMKError.from_azure(exc, action, host=_vault_host(fn))

    def attempt(self, action, fn, *args, **kwargs):
        """Run an SDK call (waiting for it when long-running) without stopping the task.

        Returns (result, None), or (None, the ``CMKError``) on an Azure error, so that the caller can decide: a
        tolerated answer (404, 409 exists), or an undo before failing. The error's ``result['error']`` has the
        ``code`` and ``status``.
        """
        from azure.core.exceptions import AzureError  # pylint: disable=import-outside-toplevel
        try:
            result = fn(*args, **kwargs)
            if hasattr(result, 'result') and hasattr(result, 'done'):
                result = self.wait(action, result)      # bounded by the timeout option
            return result, None
        except AzureError as exc:
            return None, CMKError.from_azure(exc, action, host=_vault_host(fn))
        except CMKError as exc:
            return None, exc

    def wait(self, action, poller):
        """Wait for a long-running operation, bounded by the ``timeout`` option (the poller follows Retry-After)."""
        timeout = self.params.get('timeout') or 1800
        self.run(action, poller.wait, timeout)
        if hasattr(poller, 'done') and not poller.done():
            raise CMKError('Failed %s: the operation did not finish within %d seconds (timeout); last status %s. It may '
                           'still finish in Azure: run the task again (it reads the state then), or raise timeout.'
                           % (action, timeout, _poller_status(poller)),
                           error={'code': 'OperationTimeout', 'message': 'not finished within %d seconds' % timeout,
                                  'status': None, 'request_id': None, 'correlation_id': None,
                                  'hint': 'Run the task again, or raise the timeout option.'})
        return self.run(action, poller.result)

    # -- the one error path -----------------------------------------------------------------------------
    def execute(self, fn, *args, **kwargs):
        """Run the module body; every failure leaves through here, once, as ``fail_json``.

        ``CMKError`` (raised by the backends and by ``fail``), an Azure SDK error nobody handled and a missing SDK
        package each become one failure with ``status: failed`` and, for Azure errors, ``error`` (code, message,
        status, request id, hint).
        """
        from azure.core.exceptions import AzureError  # pylint: disable=import-outside-toplevel
        try:
            return fn(*args, **kwargs)
        except CMKError as exc:
            self._fail_json(exc.msg, exc.result)
        except AzureError as exc:
            error = CMKError.from_azure(exc)
            self._fail_json(error.msg, error.result)
        except MissingLibraryError as exc:
            self._fail_json(missing_required_lib(exc.pip_name), {'exception': str(exc)})
        return None  # pragma: no cover - fail_json exits

    def _fail_json(self, msg, result):
        result = dict(result or {})
        result['status'] = 'failed'
        if 'findings' in result and 'compliant' not in result:
            result['compliant'] = False
        self.module.fail_json(msg=msg, **result)

    # -- results ------------------------------------------------------------------------------------
    def exit(self, changed, before=None, after=None, findings=None, changes=None, compliant=None,
             requires_recreate=False, diff_hide=(), **result):
        """Exit with the one result shape: ``status``, ``compliant``, ``findings``, ``changes``, ``before``, ``after``
        (and in diff mode ``diff`` = before/after; None means absent).

        ``compliant`` defaults to "no error or drift finding". ``status`` is derived (``_report.status``).
        """
        findings = list(findings or [])
        if compliant is None:
            compliant = _report.is_compliant(findings)
        result.update(before=before, after=after, findings=findings, changes=list(changes or []),
                      compliant=bool(compliant), requires_recreate=bool(requires_recreate),
                      status=_report.status(self.check_mode, changed, compliant, requires_recreate))
        if self.diff_mode:
            result['diff'] = build_diff(before, after, hide=diff_hide)
        self.module.exit_json(changed=bool(changed), **result)
