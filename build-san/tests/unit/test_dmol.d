build-san/tests/unit/test_dmol.o: tests/unit/test_dmol.c \
 tests/unit/check.h libcommon/nn/nn_dmol.h
tests/unit/check.h:
libcommon/nn/nn_dmol.h:
