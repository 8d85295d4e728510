# pipelines/golden.mk — the PyTorch reference (tests/reference/, docs/REFERENCE.md).
#
#   make golden            self-check the reference, rewrite tests/fixtures/golden/*.model
#   make golden-check      the self-checks only (gradcheck, causality, layer definitions)
#   make modelfile-sync    paste tests/reference/modelfile.py into tools/pcnn-import, -export
#
# Needs Debian's python3-torch as /usr/bin/python3; CI uses the committed fixtures.

TORCH_PY ?= /usr/bin/python3

.PHONY: golden golden-check modelfile-sync

golden:
	$(TORCH_PY) tests/reference/make_golden.py

golden-check:
	$(TORCH_PY) tests/reference/make_golden.py --checks-only

modelfile-sync:
	$(TORCH_PY) tests/reference/sync_tools.py
