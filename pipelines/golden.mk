# pipelines/golden.mk — the PyTorch reference (tests/reference/, docs/REFERENCE.md).
#
#   make golden            self-check the reference, rewrite tests/fixtures/golden/*.model
#   make golden-check      the self-checks only (gradcheck, causality, layer definitions)
#   make import-fixtures   rewrite tests/fixtures/import/ (pcnn-import/-export's tests)
#
# Needs Debian's python3-torch as /usr/bin/python3; CI uses the committed fixtures.

TORCH_PY ?= /usr/bin/python3

.PHONY: golden golden-check import-fixtures

golden:
	$(TORCH_PY) tests/reference/make_golden.py

golden-check:
	$(TORCH_PY) tests/reference/make_golden.py --checks-only

import-fixtures:
	$(TORCH_PY) tests/reference/make_import_fixtures.py
