"""azemu: a local Azure emulator (Entra ID, ARM, Key Vault, Managed HSM) reached through an HTTPS proxy."""
from .emulator import Emulator

__all__ = ["Emulator"]
