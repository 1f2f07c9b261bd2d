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


# Classifications that may share a key or DES with each other; every other classification is sensitive and never
# shares (the default of ``isolated_classifications``).
NON_SENSITIVE = ('general', 'public', 'internal', 'non-sensitive', 'nonsensitive', 'default')


def _uses(env, cls, rule):
    """[(where, kind, name)] the key and DES names one policy entry uses."""
    rule = rule or {}
    where = 'policy %s/%s' % (env, cls)
    used = []
    if rule.get('key') is not None:
        used.append((where, 'key', rule['key']))
    if rule.get('disk_encryption_set') is not None:
        used.append((where, 'disk encryption set', rule['disk_encryption_set']))
    for service, override in sorted((rule.get('services') or {}).items()):
        if (override or {}).get('key') is not None:
            used.append(('%s/%s' % (where, service), 'key', override['key']))
        if (override or {}).get('disk_encryption_set') is not None:
            used.append(('%s/%s' % (where, service), 'disk encryption set', override['disk_encryption_set']))
    return used


def _key_identity(keys, name):
    key = keys.get(name) or {}
    if key.get('vault_uri') and key.get('name'):
        return ('key', str(key['vault_uri']).lower().rstrip('/'), str(key['name']).lower())
    return ('key', name)


def classification_violations(policy, keys, disk_encryption_sets=None, isolated=None):
    """A sensitive classification never shares a key or DES with another classification (in any environment).

    ``isolated``: the classifications that must not share (None: every classification not in ``NON_SENSITIVE``).
    Two catalog names for the same key (vault URI and key name) count as the same key; a DES counts by name and by
    its key.
    """
    sets = disk_encryption_sets or {}
    owners = {}
    for env, classes in (policy or {}).items():
        for cls, rule in (classes or {}).items():
            for where, kind, name in _uses(env, cls, rule):
                identities = [_key_identity(keys, name)] if kind == 'key' else [('des', name)]
                if kind != 'key' and (sets.get(name) or {}).get('key'):
                    identities.append(_key_identity(keys, sets[name]['key']))
                for identity in identities:
                    owners.setdefault(identity, []).append((cls, where, kind, name))
    sensitive = set(isolated) if isolated is not None else None
    found = []
    for identity, users in sorted(owners.items(), key=lambda item: str(item[0])):
        classes = sorted(set(cls for cls, _where, _kind, _name in users))
        if len(classes) < 2:
            continue
        for cls in classes:
            if (cls in sensitive) if sensitive is not None else (cls.lower() not in NON_SENSITIVE):
                mine = [u for u in users if u[0] == cls][0]
                others = sorted(set(u[1] for u in users if u[0] != cls))
                found.append("%s: %s '%s' is also used by %s: classification '%s' never shares a key or disk encryption "
                             "set with another classification" % (mine[1], mine[2], mine[3], ', '.join(others), cls))
    return sorted(set(found))


def policy_violations(policy, keys, disk_encryption_sets=None, allow_shared=False, isolated_classifications=None):
    """Every violation of the environment isolation rule and every dangling reference, one text each.

    ``policy``: environment -> classification -> {key, disk_encryption_set, services: {service: {key}}};
    ``keys``: the key catalog (name -> {vault_uri, name, environment, shared_across_environments});
    ``disk_encryption_sets``: the DES catalog (name -> {key, environment, shared_across_environments}).
    A key or DES may serve another environment only when it says ``shared_across_environments: true`` or
    ``allow_shared`` is set; two catalog entries of different environments may never be the same key.
    A sensitive classification (``isolated_classifications``; by default every classification but general, public
    and internal) never shares a key or DES with another classification (``classification_violations``).
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
    found.extend(classification_violations(policy, keys, sets, isolated_classifications))
    return [text for text in found if text]


class FilterModule:
    """sovereign.cmk policy filters."""

    def filters(self):
        return {'policy_violations': policy_violations}
