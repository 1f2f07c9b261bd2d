"""The demo estate: emulator/seeds/demo-estate.yml, one seed in the emulator's documented seed format.

`load(emu)` loads it into an in-process `azemu.Emulator` (running or stopped; after `reset()` call it again).
The same file works on the command line:

    PYTHONPATH=emulator python -m azemu --state-dir DIR --seed emulator/seeds/demo-estate.yml
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = os.path.join(ROOT, 'emulator', 'seeds', 'demo-estate.yml')
if os.path.join(ROOT, 'emulator') not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, 'emulator'))


def load(emu):
    """Load the whole demo estate into `emu` (an azemu.Emulator)."""
    emu.load_seed(SEED)
    return emu
