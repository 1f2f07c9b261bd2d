"""`python -m azemu --state-dir DIR [--port N] [--seed FILE] [--host 127.0.0.1]`;
`python -m azemu generate --resources N [--subscriptions S] [--break-share F] [--seed K] --out DIR` (azemu.generate)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .emulator import LOOPBACK, Emulator


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m azemu", description="Local Azure emulator (HTTPS proxy).")
    parser.add_argument("--state-dir", required=True, help="writes ca.pem and emulator.json here")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--seed", help="YAML or JSON seed file")
    parser.add_argument("--extra-host", action="append", default=[], help="more TLS names (e.g. *.blob.core.windows.net)")
    arguments = parser.parse_args(argv)
    if arguments.host not in LOOPBACK:
        parser.error(f"--host must be a loopback address, not {arguments.host}")
    return arguments


def main(argv: list[str]) -> int:
    if argv[:1] == ["generate"]:
        from .generate import main as generate_main
        return generate_main(argv[1:])
    arguments = _arguments(argv)
    emulator = Emulator(seed=arguments.seed, state_dir=arguments.state_dir, port=arguments.port,
                        host=arguments.host, extra_hosts=arguments.extra_host)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    emulator.start()
    info = emulator.write_info()
    print(f"azemu listening on {emulator.url} (state: {info})", flush=True)
    stopped.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
