"""Fixtures of the integration harness (the code lives in harness_lib.py)."""

from harness_lib import emu_env, emulator, fresh_emulator, in_process_env  # noqa: F401  (pytest fixtures)
