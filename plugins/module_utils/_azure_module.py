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
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import describe, is_not_found
from ansible_collections.sovereign.cmk.plugins.module_utils._ids import InvalidIdError


def load_cloud(cloud_environment, session_get):
    """Resolve ``cloud_environment`` to a cloud dict; ``session_get(url)`` fetches custom metadata."""
    cloud = _auth.builtin_cloud(cloud_environment)
    if cloud is not None:
        return cloud
    url = _auth.metadata_url(cloud_environment)
    return _auth.cloud_from_metadata(session_get(url), url)


class AzureCMKModule:
    """Wraps AnsibleModule; modules read ``params`` and call ``arm()``/``data()``/``run()``/``exit()``."""

    def __init__(self, argument_spec, supports_check_mode=True, **kwargs):
        spec = copy.deepcopy(_auth.AUTH_ARGUMENT_SPEC)
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **kwargs)
        self.params = self.module.params
        self._cloud = None
        self._factory = None

    # -- basics ---------------------------------------------------------------------------------
    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def diff_mode(self):
        return bool(self.module._diff)

    def fail(self, msg, **kwargs):
        self.module.fail_json(msg=msg, **kwargs)

    def warn(self, msg):
        self.module.warn(msg)

    # -- cloud, credential, clients ---------------------------------------------------------------
    @property
    def cloud(self):
        if self._cloud is None:
            self._cloud = self._guard('resolving the Azure cloud', load_cloud,
                                      self.params.get('cloud_environment'), self._fetch_json)
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
    def subscription_id(self):
        value = self.params.get('subscription_id')
        if not value:
            self.fail('subscription_id is required (or set AZURE_SUBSCRIPTION_ID)')
        return value

    def _get_factory(self):
        """The client factory, before its cloud is known (a custom cloud's metadata is read over its session)."""
        if self._factory is None:
            method = self._guard('choosing the authentication method', _auth.choose_auth_method, self.params)

            def builder(transport):
                return _auth.build_credential(method, self.params, self.cloud, transport)

            # The subscription is only required when a Resource Manager client is created.
            self._factory = ClientFactory(None, self.params.get('subscription_id'), builder)
        return self._factory

    @property
    def clients(self):
        factory = self._get_factory()
        if factory.cloud is None:
            factory.cloud = self.cloud
        return factory

    def arm(self, name):
        """A Resource Manager client by short name: keyvault, msi, authorization, compute, storage, ..."""
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

    # -- calling Azure ------------------------------------------------------------------------------
    def _guard(self, action, fn, *args, **kwargs):
        """Run local set-up code, turning configuration and import problems into clear failures."""
        try:
            return fn(*args, **kwargs)
        except MissingLibraryError as exc:
            self.fail(missing_required_lib(exc.pip_name), exception=str(exc))
        except (_auth.AuthConfigError, InvalidIdError, ValueError) as exc:
            self.fail('Failed %s: %s' % (action, exc))
        return None  # pragma: no cover - fail() exits

    def run(self, action, fn, *args, **kwargs):
        """Call the SDK; any Azure error fails the task with its code, message, request id and hint."""
        from azure.core.exceptions import AzureError  # pylint: disable=import-outside-toplevel
        try:
            return fn(*args, **kwargs)
        except AzureError as exc:
            self.fail(**describe(exc, action))
        except MissingLibraryError as exc:
            self.fail(missing_required_lib(exc.pip_name), exception=str(exc))
        return None  # pragma: no cover - fail() exits

    def get_or_none(self, action, fn, *args, **kwargs):
        """Like ``run`` but a not-found answer returns None ("absent")."""
        from azure.core.exceptions import AzureError  # pylint: disable=import-outside-toplevel
        try:
            return fn(*args, **kwargs)
        except AzureError as exc:
            if is_not_found(exc):
                return None
            self.fail(**describe(exc, action))
        return None  # pragma: no cover - fail() exits

    def wait(self, action, poller):
        """Wait for a long-running operation; the poller follows the service's Retry-After."""
        return self.run(action, poller.result)

    # -- results ------------------------------------------------------------------------------------
    def exit(self, changed, before=None, after=None, diff_hide=(), return_states=False, **result):
        """Exit with ``changed``; in diff mode add ``diff`` = before/after (None means absent).

        With ``return_states`` the result also carries ``before`` and ``after`` themselves (drift reports).
        """
        if return_states:
            result.update(before=before, after=after)
        if self.diff_mode:
            result['diff'] = build_diff(before, after, hide=diff_hide)
        self.module.exit_json(changed=bool(changed), **result)
