# -*- coding: utf-8 -*-
# Copyright (c) sovereign.cmk contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This package is private to the sovereign.cmk collection: it may change without notice.

"""CMK target adapters (one module per service, registered in ``adapters``) and the key chain checks (``_chain``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type
