#!/usr/bin/env python
"""Run the project's quality gates:
`python scripts/test.py all|build|sanity|units|lint|awx|importer|docs|integration|lowest`.

`all` runs every gate (each one even when an earlier one failed), prints one line per gate and the
closing line `N passed, N failed`, and exits non-zero when any gate failed.
"""

import fcntl
import glob
import hashlib
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, 'build')
# `build` installs the tarball outside the checkout, in one directory per run so that concurrent runs do not
# remove each other's (sanity runs on a copy of the checkout instead: see checkout_copy).
BUILD_TMP = []


def collections_dir():
    if not BUILD_TMP:
        BUILD_TMP.append(tempfile.mkdtemp(prefix='sovereign-cmk-build-'))
    return os.path.join(BUILD_TMP[0], 'collections')


BIN = os.path.dirname(sys.executable)
PY_VERSION = '%d.%d' % sys.version_info[:2]


def sh(cmd, cwd=ROOT, env=None):
    print('+ ' + ' '.join(cmd), flush=True)
    full_env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    full_env.update(env or {})
    try:
        return subprocess.call(cmd, cwd=cwd, env=full_env)
    except OSError as exc:   # a tool that is missing or cannot start fails its gate, not the whole run
        print('cannot run %s: %s (run make setup)' % (cmd[0], exc), flush=True)
        return 127


def build():
    """Build the collection tarball into build/dist and check that it installs (what users get)."""
    dist = os.path.join(BUILD, 'dist')
    shutil.rmtree(dist, ignore_errors=True)
    shutil.rmtree(collections_dir(), ignore_errors=True)
    os.makedirs(dist)
    rc = sh([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--force', '--output-path', dist])
    if rc:
        return rc
    tarball = glob.glob(os.path.join(dist, 'sovereign-cmk-*.tar.gz'))[0]
    try:
        return sh([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--force', '-p', collections_dir(),
                   tarball])
    finally:
        shutil.rmtree(BUILD_TMP[0], ignore_errors=True)


def provide_pip_bootstrap():
    """Put scripts/ansible_test_get_pip.py where ansible-test looks for its cached pip bootstrap script."""
    setup = importlib.import_module('ansible_test._internal.python_requirements')
    venv_packages = setup.get_venv_packages
    version = venv_packages(types.SimpleNamespace(version=PY_VERSION))['pip']
    cache = os.path.expanduser('~/.ansible/test/cache/get_pip_%s.py' % version.replace('.', '_'))
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    shutil.copyfile(os.path.join(ROOT, 'scripts', 'ansible_test_get_pip.py'), cache)


def sanity():
    ignores = [p for p in glob.glob(os.path.join(ROOT, 'tests', 'sanity', 'ignore-*.txt'))
               if any(line.strip() and not line.startswith('#') for line in open(p, encoding='utf-8'))]
    if ignores:
        print('sanity ignore entries are not allowed: %s' % ', '.join(ignores))
        return 1
    provide_pip_bootstrap()
    # The usual way: ansible-test in the source tree, every file of the checkout (emulator/, scripts/,
    # benchmarks/ and tests/ included, which the tarball leaves out), on a copy (see checkout_copy).
    tree = checkout_copy()
    try:
        return sh([os.path.join(BIN, 'ansible-test'), 'sanity', '--color', 'no', '--python', PY_VERSION,
                   '--requirements'], cwd=tree)
    finally:
        shutil.rmtree(tree.rsplit(os.sep + 'ansible_collections' + os.sep, 1)[0], ignore_errors=True)


def checkout_files():
    """The checkout's files: tracked by git plus untracked-but-not-ignored ones (uncommitted work is tested too)."""
    listing = subprocess.check_output(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                                      cwd=ROOT)
    paths = sorted(set(p for p in listing.decode('utf-8').split('\0') if p))
    return [p for p in paths if os.path.lexists(os.path.join(ROOT, p))]  # a tracked file deleted in the work tree


def checkout_copy():
    """Copy the checkout's files to <tmp>/ansible_collections/sovereign/cmk: ansible-test wants that layout, in a
    git work tree it would test only the files git tracks, and it writes tests/output/ where it runs."""
    tree = os.path.join(tempfile.mkdtemp(prefix='sovereign-cmk-sanity-'), 'ansible_collections', 'sovereign', 'cmk')
    for path in checkout_files():
        source, target = os.path.join(ROOT, path), os.path.join(tree, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)  # keeps the mode: the shebang test checks executable bits
    return tree


def units():
    return sh([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests/unit'])


def lint():
    """ansible-lint the plain way, in the root without ANSIBLE_* variables: .ansible-lint has the settings (it
    installs sovereign.cmk from this tree into .ansible/collections/ so roles and playbooks resolve it)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith('ANSIBLE_')}
    env['PATH'] = BIN + os.pathsep + os.environ.get('PATH', '')
    cmd = [os.path.join(BIN, 'ansible-lint'), '--profile', 'production']
    print('+ ' + ' '.join(cmd) + '  (no ANSIBLE_* variables)', flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def awx():
    """AWX as code: ansible-playbook --syntax-check of the project playbooks (awx/) with sovereign.cmk from this tree
    and awx.awx from the venv (the lint gate runs ansible-lint --profile production over them), then
    `ansible-builder create` of the execution environment and a check of the generated build context."""
    work = tempfile.mkdtemp(prefix='sovereign-cmk-awx-')
    try:
        link = os.path.join(work, 'collections', 'ansible_collections', 'sovereign', 'cmk')
        os.makedirs(os.path.dirname(link))
        os.symlink(ROOT, link)
        # awx.awx: from the ansible package in the venv (site-packages/ansible_collections, on Python's path)
        env = {'ANSIBLE_COLLECTIONS_PATH': os.path.join(work, 'collections')}
        playbook = os.path.join(BIN, 'ansible-playbook')
        rc = sh([playbook, '--syntax-check', 'awx/configure.yml'], env=env)
        rc = rc or sh([playbook, '--syntax-check', '-i', 'examples/inventory', 'awx/drift.yml', 'awx/enforce.yml'],
                      env=env)
        return rc or execution_environment(os.path.join(work, 'context'))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def execution_environment(context):
    """`ansible-builder create` on execution-environment.yml (with the collection tarball it names) and a check of the
    Containerfile and the files it copies: the collection, requirements.txt and bindep.txt."""
    dist = os.path.join(BUILD, 'ee')
    shutil.rmtree(dist, ignore_errors=True)
    os.makedirs(dist)
    rc = sh([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--force', '--output-path', dist])
    rc = rc or sh([os.path.join(BIN, 'ansible-builder'), 'create', '-f', 'execution-environment.yml',
                   '-c', context, '--output-filename', 'Containerfile'])
    if rc:
        return rc
    with open(os.path.join(context, 'Containerfile'), encoding='utf-8') as handle:
        containerfile = handle.read()
    problems = ['Containerfile lacks %r' % text for text in (
        'COPY _build/collections/ /tmp/sovereign-cmk/', 'ansible-galaxy collection install',
        'COPY _build/requirements.txt requirements.txt', 'COPY _build/bindep.txt bindep.txt',
        '--user-pip=requirements.txt --user-bindep=bindep.txt') if text not in containerfile]
    build = os.path.join(context, '_build')
    for name in ('requirements.txt', 'bindep.txt'):
        with open(os.path.join(ROOT, name), 'rb') as mine, open(os.path.join(build, name), 'rb') as copied:
            if mine.read() != copied.read():
                problems.append('_build/%s is not the checkout\'s' % name)
    with open(os.path.join(build, 'requirements.yml'), encoding='utf-8') as handle:
        if '/tmp/sovereign-cmk/sovereign-cmk.tar.gz' not in handle.read():
            problems.append('_build/requirements.yml does not install the collection tarball')
    if os.listdir(os.path.join(build, 'collections')) != os.listdir(dist):
        problems.append('the collection tarball is not in the build context')
    print('execution environment context: %s' % ('OK' if not problems else ', '.join(problems)))
    return 1 if problems else 0


def integration():
    """The emulator's own tests, then the client layer and every integration target against it."""
    pytest = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider']
    emulator_rc = sh(pytest + ['emulator/tests'])
    harness_rc = sh(pytest + ['tests/harness'])
    return emulator_rc or harness_rc


# galaxy-importer's configuration for the importer gate: offline, no container runtime; ansible-test sanity is a gate of
# its own. flake8 is off as on Galaxy (galaxy-importer's default): its pycodestyle defaults contradict ansible-test's
# pep8 settings (W503/W504) and it parses the filters' .yml documentation as Python.
IMPORTER_CONFIG = """[galaxy-importer]
log_level_main = INFO
run_ansible_test = False
ansible_test_local_image = False
local_image_docker = False
infra_osd = False
run_ansible_doc = True
run_ansible_lint = True
offline_ansible_lint = True
run_flake8 = False
check_changelog = True
check_required_tags = True
require_v1_or_greater = False
tmp_root_dir = {tmp}
ansible_local_tmp = {tmp}/ansible-tmp
"""
# What galaxy-importer itself gets wrong, not the collection: it runs ansible-lint with ANSIBLE_COLLECTIONS_PATH set to
# the .../ansible_collections directory instead of its parent, so ansible-lint cannot resolve the awx/ playbooks'
# `import_playbook: sovereign.cmk.<playbook>` (it does with a correct path; ansible-lint only logs it, it passes).
IMPORTER_KNOWN = re.compile(r'^WARNING: ERROR +Failed to find sovereign\.cmk\.\w+ playbook\.$')


def importer():
    """galaxy-importer (the checks Galaxy runs on an upload) on the collection tarball, in a temporary directory. Fails
    on a non-zero exit and on any ERROR or WARNING line it prints (ansible-doc, ansible-lint, metadata,
    changelog...)."""
    work = tempfile.mkdtemp(prefix='sovereign-cmk-importer-')
    try:
        rc = sh([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', work])
        if rc:
            return rc
        tarball = glob.glob(os.path.join(work, 'sovereign-cmk-*.tar.gz'))[0]
        cfg = os.path.join(work, 'galaxy-importer.cfg')
        with open(cfg, 'w', encoding='utf-8') as handle:
            handle.write(IMPORTER_CONFIG.format(tmp=work))
        cmd = [sys.executable, '-m', 'galaxy_importer.main', tarball]
        print('+ ' + ' '.join(cmd), flush=True)
        env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), GALAXY_IMPORTER_CONFIG=cfg)
        proc = subprocess.run(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              encoding='utf-8', errors='replace', check=False)  # cwd: it writes importer_result.json
        print(proc.stdout, end='', flush=True)
        lines = [line.rstrip() for line in proc.stdout.splitlines()]
        problems = [line for line in lines if re.match(r'(ERROR|WARNING|CRITICAL)\b', line)
                    and not IMPORTER_KNOWN.match(line)]
        if 'Importer processing completed successfully' not in lines:
            problems.append('the importer did not complete')
        print('importer: %s' % ('OK (exit %d)' % proc.returncode if not (problems or proc.returncode)
                                else '%d problem(s), exit %d' % (len(problems), proc.returncode)))
        for line in problems:
            print('importer problem: ' + line)
        return proc.returncode or (1 if problems else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# Appended to the conf.py `antsibull-docs sphinx-init` writes: the build is offline, so no intersphinx inventories
# (their fetch fails, a warning); the labels of the Ansible docsite the generated pages point to (common_return_values,
# ansible_configuration_settings, ...) can then not be resolved and are not reported; every reference inside this site
# still is (nitpicky, -W), and lint-collection-docs checks references to other collections' plugins.
DOCS_OFFLINE_CONF = """
# scripts/test.py docs: offline build
intersphinx_mapping = {}
# ansible-core's own configuration variables (the inventory cache options) are documented in ansible-core's docs,
# which an offline build cannot reach
nitpick_ignore_regex = [('ref', r'(?!ansible_collections\\.sovereign\\.cmk\\.).*'), ('envvar', r'ANSIBLE_.*')]
"""


def docs():
    """The collection's docs site, built the way antsibull-docs documents it (`sphinx-init`, then its build.sh:
    `antsibull-docs collection --fail-on-error` and `sphinx-build -W`) from the tarball installed in a temporary
    directory, offline; before it `antsibull-docs lint-collection-docs --plugin-docs` on the installed collection.
    Fails on any error or warning."""
    work = tempfile.mkdtemp(prefix='sovereign-cmk-docs-')
    try:
        galaxy = os.path.join(BIN, 'ansible-galaxy')
        collections = os.path.join(work, 'collections')
        rc = sh([galaxy, 'collection', 'build', '--output-path', work])
        if rc:
            return rc
        tarball = glob.glob(os.path.join(work, 'sovereign-cmk-*.tar.gz'))[0]
        env = {'ANSIBLE_COLLECTIONS_PATH': collections}
        rc = sh([galaxy, 'collection', 'install', '-p', collections, tarball], env=env)
        if rc:
            return rc
        antsibull_docs = os.path.join(BIN, 'antsibull-docs')
        installed = os.path.join(collections, 'ansible_collections', 'sovereign', 'cmk')
        # references to ansible.builtin and this collection (it has no dependencies) are checked, others refused
        lint_rc = sh([antsibull_docs, 'lint-collection-docs', '--plugin-docs',
                      '--validate-collection-refs', 'dependent', '--disallow-unknown-collection-refs', installed],
                     env=env)
        site = os.path.join(work, 'site')
        os.mkdir(site, 0o700)  # antsibull-docs wants it writable by its owner only
        rc = sh([antsibull_docs, 'sphinx-init', '--use-current', '--fail-on-error', '--dest-dir', site,
                 'sovereign.cmk'], env=env)
        if rc:
            return rc
        with open(os.path.join(site, 'conf.py'), 'a', encoding='utf-8') as handle:
            handle.write(DOCS_OFFLINE_CONF)
        cmd = ['bash', os.path.join(site, 'build.sh')]
        print('+ ' + ' '.join(cmd), flush=True)
        full_env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), **env)
        proc = subprocess.run(cmd, cwd=site, env=full_env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding='utf-8', errors='replace',
                              check=False)
        print(proc.stdout, end='', flush=True)
        warnings = [line for line in proc.stdout.splitlines() if re.search(r'\b(WARNING|ERROR|CRITICAL)\b', line)]
        built = os.path.exists(os.path.join(site, 'build', 'html', 'collections', 'sovereign', 'cmk', 'index.html'))
        print('docs: lint-collection-docs exit %d, build exit %d, %d warning(s)%s' % (
            lint_rc, proc.returncode, len(warnings), '' if built else ', no sovereign.cmk index page'))
        return lint_rc or proc.returncode or (1 if warnings or not built else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


LOWEST_CONSTRAINTS = os.path.join(ROOT, 'tests', 'constraints-lowest.txt')
# What the unit and client-layer tests need besides requirements.txt (ranges from requirements-dev.txt;
# cryptography and PyYAML are also the emulator's needs; jsonschema checks the report schema).
LOWEST_TOOLS = ('ansible-core', 'pytest', 'PyYAML', 'cryptography', 'jsonschema')


def _dev_requirements(names):
    wanted = set(n.lower() for n in names)
    with open(os.path.join(ROOT, 'requirements-dev.txt'), encoding='utf-8') as handle:
        lines = [line.split('#')[0].strip() for line in handle]
    found = [line for line in lines if line and line.replace('>', '=').replace('<', '=').split('=')[0].strip().lower() in wanted]
    assert len(found) == len(wanted), 'requirements-dev.txt lacks one of %s' % ', '.join(names)
    return found


def lowest_venv():
    """build/lowest-<hash>/: requirements.txt installed at its lower bounds (tests/constraints-lowest.txt).

    Created once and reused while the constraints, requirements.txt, the tool ranges and the Python version
    stay the same (a warm run needs no network); a lock keeps concurrent runs from building it twice.
    Returns (python of the venv, exit code of the set-up).
    """
    tools = _dev_requirements(LOWEST_TOOLS)
    digest = hashlib.sha256()
    for path in (LOWEST_CONSTRAINTS, os.path.join(ROOT, 'requirements.txt')):
        with open(path, 'rb') as handle:
            digest.update(handle.read())
    digest.update('\n'.join(tools + [sys.version]).encode())
    key = digest.hexdigest()[:16]
    venv = os.path.join(BUILD, 'lowest-' + key)
    python = os.path.join(venv, 'bin', 'python')
    stamp = os.path.join(venv, '.installed')
    os.makedirs(BUILD, exist_ok=True)
    with open(venv + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(stamp):
            print('lowest: reusing %s' % os.path.relpath(venv, ROOT), flush=True)
            return python, 0
        for stale in glob.glob(os.path.join(BUILD, 'lowest-*.lock')):  # venvs of older constraints
            if stale != venv + '.lock':
                with open(stale, 'w') as other:
                    try:
                        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        continue  # in use by another run
                    shutil.rmtree(stale[:-len('.lock')], ignore_errors=True)
                    os.remove(stale)
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one
        pip = [python, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--prefer-binary']
        rc = (sh([sys.executable, '-m', 'venv', venv])
              or sh(pip + ['-r', 'requirements.txt', '-c', LOWEST_CONSTRAINTS] + tools))
        if rc:
            return python, rc
        open(stamp, 'w').close()
    return python, 0


def lowest():
    """The unit and client-layer tests on the lowest versions requirements.txt allows."""
    python, rc = lowest_venv()
    if rc:
        print('lowest: could not install the lowest allowed versions (exit %s)' % rc)
        return rc
    env = {'PATH': os.path.dirname(python) + os.pathsep + os.environ.get('PATH', ''),
           'VIRTUAL_ENV': os.path.dirname(os.path.dirname(python))}
    sh([python, '-c', 'import importlib.metadata as m, sys; print("lowest: " + ", ".join('
        '"%s %s" % (n, m.version(n)) for n in sys.argv[1:]))']
       + [line.split('==')[0] for line in open(LOWEST_CONSTRAINTS, encoding='utf-8')
          if '==' in line and not line.startswith('#')], env=env)
    pytest = [python, '-m', 'pytest', '-q', '-p', 'no:cacheprovider']
    units_rc = sh(pytest + ['tests/unit'], env=env)
    client_rc = sh(pytest + ['tests/harness/test_client_layer.py'], env=env)
    return units_rc or client_rc


GATES = {'build': build, 'sanity': sanity, 'units': units, 'lint': lint, 'awx': awx, 'importer': importer,
         'docs': docs, 'integration': integration, 'lowest': lowest}


def main(argv):
    what = argv[1] if len(argv) > 1 else 'all'
    if what != 'all':
        return GATES[what]()
    results = []
    for name in ('sanity', 'units', 'lint', 'awx', 'importer', 'docs', 'integration', 'lowest'):
        start = time.time()
        rc = GATES[name]()
        results.append((name, rc, time.time() - start))
    print('\n== quality gates ==')
    for name, rc, secs in results:
        print('%-12s %s (%.0f s)' % (name, 'PASSED' if rc == 0 else 'FAILED (exit %s)' % rc, secs))
    failed = sum(1 for _n, rc, _s in results if rc)
    print('gates: %d passed, %d failed' % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
