# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""The one key-chain workflow: verify, plan, grant, apply, report.

``azure_cmk_target`` and ``azure_des`` are thin: they pick an adapter (``_targets.adapters``; the Disk Encryption Set
is an adapter like the others) and call ``run``. The bulk scanner reuses ``verify`` and ``report``.

1. **validate** - pure checks of the options (no Azure call); bad input fails before any request.
2. **verify** - read the resource, resolve the key chain (the key directly, or the DES's key) and check every link:
   key, vault or HSM, identities. Each broken link is a finding named in ``_report.FINDINGS``.
3. **plan** - the adapter compares the resource with the request: ``changes``, ``recreate`` and its own findings.
4. **grant** - with ``grant_access``, the missing identity grants (before the resource write: services check the
   identity's access when the key changes).
5. **apply** - the adapter's writes (never in check mode), then a read-back.
6. **report** - ``status``, ``compliant``, ``findings`` (the estate as it is now in check mode, as it is at the end
   after a real run), ``changes``, ``before``/``after``, ``chain``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sovereign.cmk.plugins.module_utils import _access, _des, _identities, _journal, _report, _services
from ansible_collections.sovereign.cmk.plugins.module_utils._errors import CMKError
from ansible_collections.sovereign.cmk.plugins.module_utils import _chain
from ansible_collections.sovereign.cmk.plugins.module_utils._targets._base import check_resource_id


def validate(adapter, params, rules, all_options=()):
    """Errors that need no Azure call: key vs DES per service, options of other services, the adapter's own checks."""
    errors = []
    service = adapter.service
    if rules['key_reference'] == 'key':
        if not params.get('key'):
            errors.append('service=%s needs key (the key URI)' % service)
        if params.get('disk_encryption_set'):
            errors.append('service=%s takes the key directly: disk_encryption_set does not apply' % service)
    else:
        if params.get('key'):
            errors.append('service=%s uses a disk encryption set: set disk_encryption_set instead of key (the DES holds '
                          'the key)' % service)
        if not params.get('disk_encryption_set') and not rules.get('disk_encryption_set_optional'):
            errors.append('service=%s needs disk_encryption_set' % service)
        if params.get('disk_encryption_set'):
            errors.extend(check_resource_id(params['disk_encryption_set'], 'Microsoft.Compute', 'diskEncryptionSets',
                                            'disk_encryption_set'))
    for option in all_options:
        if option not in adapter.options and params.get(option) not in (None, False):
            errors.append('%s does not apply to service=%s' % (option, service))
    if params.get('create_identity') and not params.get('grant_access'):
        errors.append('create_identity=true needs grant_access=true: an identity the task creates has no access to the '
                      'key until the task grants it')
    if params.get('resource_id'):
        errors.extend(check_resource_id(params['resource_id'], adapter.namespace, adapter.resource_types[0]))
    errors.extend(adapter.validate(params, rules))
    return errors


def verify_key(azmod, adapter, rules, params, current):
    """(chain, des): the key half of the chain, from the key option or from the DES."""
    if rules['key_reference'] == 'key':
        chain = _chain.resolve_chain_key(azmod, rules, params['key'], params.get('vault'),
                                         federated=_identities.is_federated(params.get('federated_client_id')))
        return chain, None
    des_id = params.get('disk_encryption_set') or adapter.current_disk_encryption_set(current)
    if not des_id:
        return None, None
    des = _des.read_des(azmod, des_id)
    if des is None:
        raise CMKError('Disk encryption set %s does not exist' % des_id)
    if not des.get('key_url'):
        raise CMKError('Disk encryption set %s has no active key' % des_id)
    chain = _chain.resolve_chain_key(azmod, rules, des['key_url'], params.get('vault'),
                                     federated=_identities.is_federated(des.get('federated_client_id')))
    return chain, des


def plan_and_verify(azmod, adapter, params, current, ctx, findings):
    """The adapter's plan, then the identity link of the chain; adds every finding to ``findings``.

    The identity link is checked whenever the key itself is sound, even when the adapter found another blocking
    problem (a running VM, ...), so that one run reports every broken link. Returns the plan.
    """
    chain = ctx['chain']
    planned = adapter.plan(current, params, ctx)
    key_broken = bool(_report.blocking(findings))
    findings.extend(planned['findings'])
    if chain is not None and not key_broken:
        chain['findings'] = []
        _chain.check_identities(azmod, chain, adapter.principals(azmod, current, planned, ctx), params['grant_access'])
        findings.extend(chain['findings'])
    return planned


def grant_new_principals(azmod, adapter, chain, params, state, planned, findings):
    """Identities the apply creates (a DES's new system-assigned identity): granted with ``grant_access``, else a
    finding. Returns (changed, access entries, change names)."""
    access, changes, changed = [], [], False
    if chain is None or chain.get('vault') is None:
        return changed, access, changes
    for entry in adapter.created_principals(azmod, state, planned, params):
        if not params['grant_access']:
            findings.append(_report.finding(
                'identity_access', '%s has no access to key %s yet.' % (entry['what'], chain['parsed']['versionless_id']),
                'Set grant_access=true, or run sovereign.cmk.azure_hsm_role with principal=%s.' % entry['principal_ref'],
                _report.DRIFT))
            continue
        if entry.get('principal_id'):
            did, _b, _a, details = _access.ensure_key_access(azmod, chain['parsed']['versionless_id'],
                                                             entry['principal_id'], info=chain['vault'])
            scope, role_name = details.get('scope'), details.get('role_name')
        else:   # check mode: the identity does not exist yet, its grant is certain
            did, scope, role_name = True, None, None
        changed = changed or did
        if did:
            changes.append('access:%s' % (entry.get('principal_id') or 'new system-assigned identity'))
        access.append({'principal_id': entry.get('principal_id'), 'what': entry['what'], 'changed': did,
                       'scope': scope, 'role_name': role_name, 'grant': None})
    return changed, access, changes


def create_identities(azmod, adapter, chain, current, params):
    """The user-assigned identities ``create_identity`` asks for: created (real run) and queued for a grant before
    the key is set; in check mode the predicted changes. Returns the change names."""
    changes = []
    for entry in (chain or {}).get('to_create') or []:
        uai = entry['create']
        changes.append('identity_created:%s' % uai)
        if azmod.check_mode:
            changes.append('access:new identity %s' % uai.rstrip('/').split('/')[-1])
            continue
        location = ((current or {}).get('resource') or {}).get('location') or (params.get('create') or {}).get('location') \
            or (current or {}).get('location') or params.get('location')
        principal = _identities.create_user_identity(azmod, uai, location)
        chain['findings'] = [f for f in chain['findings'] if f is not entry['finding']]
        chain['grants'].append({'principal_id': principal, 'what': entry['what']})
    return changes


def run(azmod, adapter, params, all_options=()):
    """The whole workflow for one resource; exits the module (``AzureCMKModule.exit``) or raises ``CMKError``."""
    rules = adapter.rules(params)
    errors = validate(adapter, params, rules, all_options)
    if errors:
        raise CMKError('; '.join(errors))
    resource_id = adapter.resource_id(params, azmod.subscription_id)
    journal = _journal.Journal(params.get('journal_dir'))
    current = adapter.read(azmod, resource_id)
    current, resumed, resumed_findings = adapter.resume(azmod, journal, resource_id, current, params)
    if current is None and resumed:
        # check mode: the resource was lost by an interrupted run and a real run recreates it from the journal
        azmod.exit(True, None, None, findings=resumed_findings, changes=resumed, compliant=False, id=resource_id,
                   service=adapter.service, access=[], chain=None, journal=journal.path(resource_id))
        return
    if current is None and not (adapter.creates or adapter.can_create(params)):
        raise CMKError('%s %s does not exist (this module configures existing resources)' % (rules['title'], resource_id))
    name = adapter.display_name(current, params)

    chain, des = verify_key(azmod, adapter, rules, params, current)
    findings = list(chain['findings']) if chain else []
    if chain and not _report.blocking(findings) and chain['key'] is None and not chain['parsed']['version'] \
            and _services.needs_key_version(rules):
        raise CMKError('The current version of key %s could not be read (%s): give the versioned key URI'
                       % (chain['parsed']['id'], _report.summarize(findings) or 'no version'), findings=findings)
    ctx = {'chain': chain, 'des': des, 'create_identity': params.get('create_identity')}
    adapter.prepare(azmod, params, current, ctx)
    planned = plan_and_verify(azmod, adapter, params, current, ctx, findings)
    findings.extend(resumed_findings)
    if chain is not None:
        chain['findings'] = findings
    if _report.blocking(findings):
        raise CMKError('%s %s: the key chain is broken or the change is not possible: %s'
                       % (rules['title'], name, _report.summarize(_report.blocking(findings))),
                       findings=findings, compliant=False, chain=_chain.chain_result(chain),
                       requires_recreate=bool(planned['recreate']), before=planned['before'], changes=[])

    for reason in planned['recreate']:
        findings.append(_report.finding('requires_recreate', reason, adapter.recreate_fix, _report.DRIFT))
        azmod.warn('Requires recreate (not applied): %s' % reason)
    identity_changes = create_identities(azmod, adapter, chain, current, params)
    access_changed, access, access_changes = _chain.apply_grants(azmod, chain) if chain else (False, [], [])
    if chain is not None:
        findings = chain['findings']
    changes = list(planned['changes'])
    # nothing to change: the settings stay as read (a --diff shows only real changes, never a respelling)
    after = planned['after'] if changes else planned['before']
    state = current
    if changes:
        if azmod.check_mode:
            findings.append(_report.finding('encryption_settings', '%s %s %s: %s.' % (
                rules['title'], name, 'does not exist' if current is None else 'differs', ', '.join(changes)),
                'Run the task without check mode.', _report.DRIFT))
        else:
            planned['journal'] = journal
            for entry in adapter.pre_apply(azmod, resource_id, current, planned, params):
                # an identity enabled on the resource for the key (storage system-assigned): granted before the key
                sub = dict(chain, grants=[entry])
                pre_changed, pre_access, pre_changes = _chain.apply_grants(azmod, sub)
                findings = chain['findings'] = sub['findings']
                access.extend(pre_access)
                access_changes.extend(pre_changes)
                access_changed = access_changed or pre_changed
            adapter.apply(azmod, resource_id, current, planned, params)
            if planned.get('already_done'):     # another run made the change meanwhile: nothing was written
                changes = []
            # findings the applied changes fixed describe the past, not the end state
            findings = [f for f in findings if f.get('fixed_by') not in changes]
            state = adapter.read(azmod, resource_id)
            after = adapter.plan(state, params, ctx)['before'] if state is not None else None
    new_changed, new_access, new_changes = grant_new_principals(azmod, adapter, chain, params, state, planned, findings)
    access.extend(new_access)
    changes = resumed + identity_changes + changes + access_changes + new_changes
    for item in findings:
        item.pop('fixed_by', None)
    if chain is not None:
        chain['findings'] = findings
    result = dict(
        id=adapter.result_id(state, resource_id),
        service=adapter.service,
        access=access,
        chain=_chain.chain_result(chain),
    )
    if des is not None:
        fields = ('id', 'key_url', 'key_version', 'auto_key_rotation', 'encryption_type')
        result['disk_encryption_set'] = dict((k, des.get(k)) for k in fields)
    result.update(adapter.result_extras(current, dict(planned, after=after), state))
    azmod.exit(access_changed or new_changed or bool(changes), planned['before'], after,
               findings=findings, changes=changes, requires_recreate=bool(planned['recreate']),
               **result)
