#!/usr/bin/env bash
# ansible-test sanity and units for the collection (make sanity).
#
# ansible-test refuses a collection reached through a symbolic link, so the working tree is
# copied (rsync) to a real .../ansible_collections/convox/volumes path outside the checkout
# first: $CONVOX_SANITY_WORK, default /var/tmp/convox-sanity.
# `--python 3.11` keeps it away from pyenv's shims; `--venv` lets it build the virtual
# environments it pins for each test from PyPI (cached under ~/.ansible/test between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
bin=$checkout/.venv/bin

# A fixed place, so that ansible-test's own virtual environment (tests/output/.tmp) survives
# between runs; the copy is brought up to date with rsync --delete.
work=${CONVOX_SANITY_WORK:-/var/tmp/convox-sanity}
collection=$work/ansible_collections/convox/volumes
mkdir -p "$collection"

# The files a built collection would hold, plus tests: no venv, no caches, no test output,
# no .git (without it ansible-test checks every file in the copy).
rsync -a --delete --filter='P /tests/output/' \
  --exclude=/.venv --exclude=/.collections --exclude=/.cache --exclude=/.git \
  --exclude=/.pytest_cache --exclude=__pycache__ --exclude='*.pyc' \
  --exclude=/tests/output --exclude=/tests/testbed/work --exclude=/build \
  --exclude='/*.tar.gz' --exclude=/extensions/molecule/.cache \
  "$checkout/" "$collection/"

# ansible-test units installs tests/unit/requirements.txt into its environment: the AWS tests
# need botocore there. Written into the copy from requirements.txt, where every pin lives.
grep -E '^(boto3|botocore)==' "$checkout/requirements.txt" > "$collection/tests/unit/requirements.txt"

cd "$collection"
export PATH=$bin:$PATH
unset ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH

# ansible-test creates its virtual environments without pip and bootstraps pip with a script it
# downloads from ci-files.testing.ansible.com, which cannot be reached here (only PyPI can). It
# looks for that script in its cache first, so give it one that does the same job: run pip from
# the wheel that Python's own ensurepip ships and let it install the pinned pip from PyPI.
ansible_test_dir=$("$bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',\$/\1/p" "$ansible_test_dir/_internal/python_requirements.py")
[[ -n $pip_version ]] || { echo "sanity: cannot read ansible-test's pip version"; exit 1; }
bootstrap_cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
bootstrap_marker='Stand-in for the pip bootstrap script of ansible-test'
if [[ ! -s $bootstrap_cache ]] || grep -q "$bootstrap_marker" "$bootstrap_cache"; then
  mkdir -p "$(dirname "$bootstrap_cache")"
  cat > "$bootstrap_cache" <<PY
"""$bootstrap_marker: pip from ensurepip's wheel, then PyPI."""
import glob
import os
import sys

import ensurepip

# CPython keeps the wheel in ensurepip/_bundled; Debian's python3-venv in /usr/share/python-wheels.
places = [os.path.join(os.path.dirname(ensurepip.__file__), "_bundled"),
          "/usr/share/python-wheels"]
wheels = [sorted(glob.glob(os.path.join(place, "pip-*.whl"))) for place in places]
wheels = [found[-1] for found in wheels if found]
if not wheels:
    sys.exit("no pip wheel in " + " or ".join(places) + ": install python3-venv")
sys.path.insert(0, wheels[0])

from pip._internal.cli.main import main  # noqa: E402  (pip is importable only from here on)

# --no-setuptools and --no-wheel are options of the bootstrap script, not of pip: dropping them
# is what they ask for (pip installs neither unless told to).
arguments = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--upgrade", "--force-reinstall"] + arguments))
PY
fi

status=0
echo "sanity: ansible-test sanity --python 3.11 in $collection"
started=$SECONDS
if ! "$bin/ansible-test" sanity --python 3.11 --venv --color no "$@"; then
  status=1
fi
echo "sanity: ansible-test sanity took $((SECONDS - started)) s"

started=$SECONDS
echo "sanity: ansible-test units --python 3.11"
if ! "$bin/ansible-test" units --python 3.11 --venv --color no "$@"; then
  status=1
fi
echo "sanity: ansible-test units took $((SECONDS - started)) s"

if ((status != 0)); then
  echo "sanity: FAILED; reports in $collection/tests/output/"
fi
exit "$status"
