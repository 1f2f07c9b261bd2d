# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ``policy_violations`` filter: checks the inventory's key/DES policy (documented in policy_violations.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError


def _shareable(item, allow_shared):
    return allow_shared or bool((item or {}).get('shared_across_environments'))


def _key_problem(where, env, key_name, keys, allow_shared):
    """A violation text for a reference from ``where`` (environment ``env``) to key ``key_name``, or None."""
    if not key_name or key_name not in keys:
        return "%s: key '%s' is not in cmk_keys" % (where, key_name or '')
    key = keys[key_name]
    if key.get('environment') != env and not _shareable(key, allow_shared):
        return ("%s: key '%s' belongs to environment '%s', not '%s' (shared keys need shared_across_environments: true)"
                % (where, key_name, key.get('environment'), env))
    return None


def _same_key(a, b):
    return (str(a.get('vault_uri', '')).lower().rstrip('/') == str(b.get('vault_uri', '')).lower().rstrip('/')
            and str(a.get('name', '')).lower() == str(b.get('name', '')).lower())


def policy_violations(policy, keys, disk_encryption_sets=None, allow_shared=False):
    """Every violation of the environment isolation rule and every dangling reference, one text each.

    ``policy``: environment -> classification -> {key, disk_encryption_set, services: {service: {key}}};
    ``keys``: the key catalog (name -> {vault_uri, name, environment, shared_across_environments});
    ``disk_encryption_sets``: the DES catalog (name -> {key, environment, shared_across_environments}).
    A key or DES may serve another environment only when it says ``shared_across_environments: true`` or
    ``allow_shared`` is set; two catalog entries of different environments may never be the same key.
    """
    if not isinstance(policy, dict) or not isinstance(keys, dict):
        raise AnsibleFilterError('policy_violations needs the policy (cmk_policy) and the key catalog (cmk_keys) as mappings')
    sets = disk_encryption_sets or {}
    found = []
    for env, classes in policy.items():
        for cls, rule in (classes or {}).items():
            rule = rule or {}
            for service, override in (rule.get('services') or {}).items():
                if (override or {}).get('key') is not None:
                    found.append(_key_problem('policy %s/%s/%s' % (env, cls, service), env, override['key'], keys, allow_shared))
            found.append(_key_problem('policy %s/%s' % (env, cls), env, rule.get('key'), keys, allow_shared))
            des_name = rule.get('disk_encryption_set')
            if des_name is not None:
                des = sets.get(des_name)
                if des is None:
                    found.append("policy %s/%s: disk encryption set '%s' is not in cmk_disk_encryption_sets" % (env, cls, des_name))
                elif des.get('environment') != env and not _shareable(des, allow_shared):
                    found.append("policy %s/%s: disk encryption set '%s' belongs to environment '%s', not '%s' (shared sets need "
                                 "shared_across_environments: true)" % (env, cls, des_name, des.get('environment'), env))
    for name, des in sets.items():
        found.append(_key_problem('disk encryption set %s (%s)' % (name, des.get('environment')), des.get('environment'),
                                  des.get('key'), keys, allow_shared))
    names = sorted(keys)
    for i, name in enumerate(names):
        for other in names[i + 1:]:
            a, b = keys[name], keys[other]
            if _same_key(a, b) and a.get('environment') != b.get('environment') and not allow_shared:
                found.append('keys %s (%s) and %s (%s) are the same key %s/keys/%s'
                             % (name, a.get('environment'), other, b.get('environment'), a.get('vault_uri'), a.get('name')))
    return [text for text in found if text]


class FilterModule:
    """sovereign.cmk policy filters."""

    def filters(self):
        return {'policy_violations': policy_violations}
