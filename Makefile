# The two commands of the README. Both set up what they need on a fresh machine.
#   make demo  - install the runtime (CPU) and upscale docs/sample.jpg to sample-2x.jpg
#   make test  - install everything the tests use (system packages, torch, GIMP 3 root) and run them
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test setup-test
demo:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) -e ".[cpu]"
	$(VENV)/bin/sr-scale docs/sample.jpg sample-2x.jpg
	@echo "wrote sample-2x.jpg"

setup-test:
	bash tests/setup.sh $(VENV)

test: setup-test
	$(PY) -m pytest -q -p no:cacheprovider
