# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is private to the sovereign.cmk collection: it may change without notice.

"""The recovery journal: what the next run needs to finish a destructive or multi-step change, on disk first.

Before a container group is deleted to be recreated with its key, or a VM is deallocated to change its disks, the
module writes one entry per resource: a JSON file ``<directory>/<sha256 of the lower-cased resource id>.json``,
written to a temporary file, fsynced, renamed over the entry and the directory fsynced (so a crash leaves either the
old entry or the new one, never half of one), readable only by the owner (0600 in a 0700 directory). The entry is
removed only after the change is confirmed. A run that finds an entry finishes the change (recreates the group from
the entry, starts the VM again) and says so.

The directory is the module option ``journal_dir``, else ``$SOVEREIGN_CMK_JOURNAL_DIR``, else
``~/.ansible/sovereign_cmk/journal`` on the host that runs the module (the controller, for tasks on localhost).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import hashlib
import json
import os
import socket
import tempfile

ENV_DIR = 'SOVEREIGN_CMK_JOURNAL_DIR'
DEFAULT_DIR = os.path.join('~', '.ansible', 'sovereign_cmk', 'journal')
VERSION = 1


def journal_dir(option=None):
    """The journal directory: the option, else the environment variable, else the default (user expanded)."""
    return os.path.abspath(os.path.expanduser(option or os.environ.get(ENV_DIR) or DEFAULT_DIR))


def entry_name(resource_id):
    return hashlib.sha256(resource_id.strip().rstrip('/').lower().encode('utf-8')).hexdigest() + '.json'


class Journal:
    """Entries keyed by resource id (case-insensitive)."""

    def __init__(self, directory=None):
        self.directory = journal_dir(directory)

    def path(self, resource_id):
        return os.path.join(self.directory, entry_name(resource_id))

    def read(self, resource_id):
        """The entry for ``resource_id`` (a dict), or None."""
        try:
            with open(self.path(resource_id), encoding='utf-8') as handle:
                entry = json.load(handle)
        except (IOError, OSError):
            return None
        except ValueError as exc:
            raise JournalError('journal entry %s for %s is not valid JSON (%s): inspect it, then remove it'
                               % (self.path(resource_id), resource_id, exc))
        return entry if isinstance(entry, dict) else None

    def write(self, resource_id, kind, **data):
        """Write the entry atomically and durably; returns its path."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        entry = dict(data, version=VERSION, kind=kind, resource_id=resource_id,
                     written=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))
        target = self.path(resource_id)
        handle, temporary = tempfile.mkstemp(prefix='.tmp-', suffix='.json', dir=self.directory)
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, 'w', encoding='utf-8') as stream:
                json.dump(entry, stream, indent=2, sort_keys=True)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        _fsync_dir(self.directory)
        return target

    def lock(self, resource_id):
        """Take the lock of a destructive change of ``resource_id`` for this process (False when another live
        process on this host holds it). A lock left by a process that no longer runs (kill -9) is taken over."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        path = self.path(resource_id) + '.lock'
        mine = {'pid': os.getpid(), 'host': socket.gethostname()}
        for _attempt in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
                holder = _read_json(path) or {}
                if holder.get('host') == mine['host'] and not _alive(holder.get('pid')):
                    os.unlink(path)     # stale: its process is gone
                    continue
                return False
            with os.fdopen(fd, 'w', encoding='utf-8') as stream:
                json.dump(mine, stream)
            return True
        return False

    def unlock(self, resource_id):
        try:
            os.unlink(self.path(resource_id) + '.lock')
        except OSError:
            pass

    def remove(self, resource_id):
        """Remove the entry (a missing entry is fine)."""
        try:
            os.unlink(self.path(resource_id))
        except OSError:
            return False
        _fsync_dir(self.directory)
        return True


class JournalError(Exception):
    """A journal entry that cannot be used."""


def _read_json(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def _alive(pid):
    """Whether process ``pid`` runs on this host."""
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError):
        return False
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
