# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""The one result vocabulary of the four modules (pure, no SDK imports).

Every module returns ``status``, ``compliant``, ``findings``, ``changes``, ``before`` and ``after``:

- ``findings`` describe the estate **as it is** when the result is built: in check mode, as it is now (before the
  changes a real run would make); after a real run, as it is at the end. A link the real run would fix (a missing
  grant with ``grant_access``) is still a finding in check mode, with severity ``drift``.
- ``changes`` and the diff say what the run changes (or, in check mode, would change).
- ``status`` sums both up: ``failed``, ``requires_recreate``, ``drift`` (check mode: something to fix; real run:
  something left that the run could not fix), ``changed`` (real run) or ``compliant``.

The finding codes are listed once, in ``FINDINGS`` (rendered in ``docs/findings.md``; a unit test keeps the two and
the code equal).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

ERROR = 'error'        # a broken link the task cannot fix: it fails before any write
DRIFT = 'drift'        # a difference or a broken link the task fixes (or would fix, in check mode)
WARNING = 'warning'    # worth knowing, not blocking

# A value only Azure knows after the change (a new key version, its creation time, ...): shown in check-mode
# results and diffs instead of a value invented from the controller's clock.
UNKNOWN = '(known after apply)'

STATUSES = ('compliant', 'changed', 'drift', 'requires_recreate', 'failed')

# code -> (part of the chain, what it means). ``chain`` codes are links of the key chain: any of them with severity
# error or drift makes ``chain.healthy`` false.
FINDINGS = {
    'key_not_found': ('chain', 'The key (or the version given) does not exist in its vault or HSM.'),
    'key_disabled': ('chain', 'The key is disabled: the service cannot unwrap its data key.'),
    'key_expired': ('chain', 'The key has expired.'),
    'key_expiring': ('chain', 'The key expires soon (warning).'),
    'key_not_yet_valid': ('chain', 'The key is not valid yet (not-before in the future).'),
    'key_type': ('chain', 'The key type is not one the service accepts (RSA or RSA-HSM).'),
    'key_size': ('chain', 'The key size is not one the service accepts.'),
    'key_operations': ('chain', 'The key does not allow wrapKey and unwrapKey.'),
    'key_store_unsupported': ('chain', 'The key is in a store the service does not support (ACI and Managed HSM).'),
    'key_unverified': ('chain', 'The key could not be read (no read access, or a cross-tenant key): not verified.'),
    'soft_delete': ('chain', 'The vault or HSM has soft delete disabled.'),
    'purge_protection': ('chain', 'The vault or HSM has no purge protection.'),
    'key_unreachable': ('chain', 'The service cannot reach the vault or HSM through its network rules (firewall, private '
                                 'endpoints only, no trusted-services bypass).'),
    'identity_access': ('chain', 'The identity lacks get, wrapKey or unwrapKey on the key.'),
    'identity_missing': ('chain', 'The identity the resource uses (or is to use) does not exist.'),
    'key_version': ('resource', 'The resource uses another version of the key than the current one (warning).'),
    'encryption_settings': ('resource', 'The resource\'s encryption settings differ from the request.'),
    'requires_recreate': ('resource', 'A create-time-only setting differs: the resource must be recreated.'),
    'vm_running': ('resource', 'The change needs the VM deallocated and deallocation was not allowed.'),
    'region': ('resource', 'The resource and its DES (or the DES and its key) are in different regions.'),
    'azure_disk_encryption': ('resource', 'The disk used Azure Disk Encryption and cannot switch to a CMK.'),
    'key_settings': ('resource', 'The key\'s attributes or rotation policy differ from the request.'),
    'disk_not_found': ('resource', 'A disk the VM lists does not exist.'),
    'des_encryption_type': ('resource', 'The DES\'s encryption type does not suit the disk (a confidential-VM DES).'),
    'node_pool': ('resource', 'The AKS node pool to create cannot be planned (no VM size to use).'),
    'recreate_body': ('resource', 'The container group cannot be redeployed from what Azure returns (not deleted).'),
    'recreate_secrets': ('resource', 'The container group holds secrets Azure never returns: it is not recreated.'),
    'resource_lost': ('resource', 'An earlier run deleted the resource to recreate it and did not finish; the recovery '
                                  'journal holds its definition and a real run recreates it.'),
    'des_reader': ('chain', 'The AKS cluster identity may not read its disk encryption set (needs Reader).'),
    'vm_left_deallocated': ('resource', 'An earlier run deallocated the VM and did not finish; a real run starts it.'),
}


def render_markdown():
    """The findings table of ``docs/findings.md`` (a unit test keeps the two equal)."""
    lines = ['| code | part | meaning |', '|---|---|---|']
    for code in sorted(FINDINGS):
        part, meaning = FINDINGS[code]
        lines.append('| `%s` | %s | %s |' % (code, 'key chain' if part == 'chain' else 'resource', meaning))
    return '\n'.join(lines) + '\n'


def finding(code, message, fix=None, severity=ERROR):
    """One finding: ``code`` (also ``link``, its former name) names the failed link, with the fix."""
    return {'code': code, 'link': code, 'severity': severity, 'message': message, 'fix': fix}


def blocking(findings):
    """The findings that stop the task before any write."""
    return [f for f in findings or [] if f['severity'] == ERROR]


def is_compliant(findings):
    """True when nothing is broken and nothing differs (warnings only)."""
    return not [f for f in findings or [] if f['severity'] in (ERROR, DRIFT)]


def chain_healthy(findings):
    """True when no link of the key chain is broken or missing (errors and drifts of ``chain`` codes)."""
    return not [f for f in findings or [] if f['severity'] in (ERROR, DRIFT)
                and FINDINGS.get(f['code'], ('chain',))[0] == 'chain']


def status(check_mode, changed, compliant, requires_recreate=False, failed=False):
    """The one-word summary of a result (see the module docstring)."""
    if failed:
        return 'failed'
    if requires_recreate:
        return 'requires_recreate'
    if check_mode:
        return 'drift' if (changed or not compliant) else 'compliant'
    if changed:
        return 'changed'
    return 'compliant' if compliant else 'drift'


def summarize(findings):
    """One line per finding for a failure message."""
    return '; '.join('[%s] %s%s' % (f['code'], f['message'], (' Fix: %s' % f['fix']) if f.get('fix') else '')
                     for f in findings)


def drop_fixed(findings, codes):
    """The findings a real run fixed (``codes``, severity drift) removed: the end state."""
    return [f for f in findings if not (f['severity'] == DRIFT and f['code'] in codes)]
