# Plain entry points. `make provision` runs the main job, `make test` runs every test.
# Both install what they need first (a venv from requirements.txt, Debian packages for tests).

PYTHON ?= python3.11
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/.collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/convox/volumes
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)

.PHONY: help venv link system-deps provision test check lint docs unit integration testbed \
	testbed-up testbed-down molecule sanity build-check bench clean

help:
	@echo "make provision   lay out the example apps on localhost (no AWS account needed)"
	@echo "make test        install what the tests need, then run every test"
	@echo "make bench       benchmarks (not part of make test)"

# A venv with exactly the pins of requirements.txt; rebuilt when that file changes.
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

# Make the checkout importable as ansible_collections.convox.volumes.
link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@ln -sfn $(CURDIR) $(COLLECTION_LINK)

system-deps:
	bash tests/system-deps.sh

provision: venv link
	$(BIN)/ansible-playbook -i examples/inventory.yml playbooks/provision.yml $(ARGS)

# Fast checks first: a failure here stops the run before the slow parts start.
check: lint docs unit

lint: venv link
	bash tests/lint.sh

docs: venv link
	bash tests/docs.sh

unit: venv link
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: venv link
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

testbed-up: venv link system-deps
	bash tests/testbed/bed.sh up

testbed-down:
	bash tests/testbed/bed.sh down

testbed: venv link system-deps
	bash tests/testbed/run-tests.sh

molecule: venv link system-deps
	bash extensions/molecule/run.sh

sanity: venv
	bash tests/sanity.sh

build-check: venv
	bash tests/build-check.sh

test: system-deps venv link
	bash tests/run-all.sh

bench: venv link
	bash tests/bench/run.sh

clean:
	rm -rf $(COLLECTIONS) tests/output build *.tar.gz
