"""Stand-in for the pip bootstrap script (get-pip.py) that ansible-test downloads on first use.

ansible-test fetches that script from a host outside the package registries, which this project's
machines cannot reach. `scripts/test.py` puts this file where ansible-test caches the script. It does
what get-pip.py does: put pip into the empty virtual environment (with the interpreter's bundled
ensurepip), then install the exact infrastructure versions ansible-test asked for from PyPI.
"""

import configparser
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {'--no-setuptools', '--no-wheel'}
PIP_CONFIG_FILES = ['/etc/pip.conf', '/etc/xdg/pip/pip.conf', '~/.config/pip/pip.conf', '~/.pip/pip.conf']


def configured_cert():
    """The CA bundle named by the machine's pip configuration (the bundled pip may not apply it)."""
    cert = ''
    for path in PIP_CONFIG_FILES:
        parser = configparser.ConfigParser()
        try:
            parser.read(os.path.expanduser(path))
        except configparser.Error:
            continue
        cert = parser.get('global', 'cert', fallback=cert)
    return cert if cert and os.path.exists(cert) else ''


ensurepip.bootstrap(upgrade=True)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
cert = configured_cert()
if cert:
    args = ['--cert', cert] + args
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--quiet'] + args))
