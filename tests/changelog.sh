#!/usr/bin/env bash
# Changelog checks (called by tests/lint.sh), and the release step for maintainers.
#
#   tests/changelog.sh            lint the fragments and changelogs/changelog.yaml, then rehearse
#                                 the next release in a temporary copy; the CHANGELOG.rst it
#                                 generates is left in tests/output/CHANGELOG.rst for reading
#   tests/changelog.sh --release  the real release in the checkout: fragments become
#                                 changelogs/changelog.yaml and CHANGELOG.rst (maintainers only)
#
# Until a version is released, the changes live as fragments in changelogs/fragments/ and
# changelogs/changelog.yaml lists no releases, as antsibull-changelog expects.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
bin=$checkout/.venv/bin
version=$(sed -n 's/^version: *//p' galaxy.yml)

if [[ ${1:-} == --release ]]; then
  exec "$bin/antsibull-changelog" release --version "$version" --ansible-doc-bin "$bin/ansible-doc"
fi

"$bin/antsibull-changelog" lint
"$bin/antsibull-changelog" lint-changelog-yaml changelogs/changelog.yaml

# Rehearse the release at a real ansible_collections/convox/volumes path, where ansible-doc
# (which antsibull-changelog asks for the list of new plugins) finds the collection.
work=$(mktemp -d -t convox-changelog.XXXXXX)
trap 'rm -rf "$work"' EXIT
copy=$work/ansible_collections/convox/volumes
mkdir -p "$copy"
rsync -a --exclude=/.venv --exclude=/.collections --exclude=/.git --exclude=/tests \
  --exclude=/extensions --exclude=__pycache__ "$checkout/" "$copy/"
(
  cd "$copy"
  ANSIBLE_COLLECTIONS_PATH=$work ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    "$bin/antsibull-changelog" release --version "$version" \
      --ansible-doc-bin "$bin/ansible-doc" >/dev/null
)

# Every fragment and every module must appear in the generated changelog.
generated=$copy/CHANGELOG.rst
[[ -s $generated ]] || { echo "changelog: the release rehearsal wrote no CHANGELOG.rst"; exit 1; }
missing=0
for module in plugins/modules/*.py; do
  name=$(basename "$module" .py)
  [[ $name == __init__ ]] && continue
  if ! grep -q "convox\.volumes\.$name " "$generated"; then
    echo "changelog: module $name is missing from the generated changelog"
    missing=1
  fi
done
fragments=$(find changelogs/fragments -name '*.y*ml' | wc -l)
if ((fragments == 0)); then
  echo "changelog: no fragments in changelogs/fragments/ for the unreleased $version"
  missing=1
fi
((missing == 0)) || exit 1

mkdir -p tests/output
cp "$generated" tests/output/CHANGELOG.rst
echo "changelog: $fragments fragments lint clean; release $version rehearsed," \
  "see tests/output/CHANGELOG.rst"
