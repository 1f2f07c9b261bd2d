"""Resource providers. Every module in this package is imported once and registers itself with
`azemu.arm.registry`; adding a provider is adding a file here (see docs/emulator.md)."""
from __future__ import annotations

import importlib
import pkgutil

_loaded = False


def load_all() -> None:
    global _loaded
    if _loaded:
        return
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{module.name}")
    _loaded = True
