build-san/tests/unit/test_kernel_math.o: tests/unit/test_kernel_math.c \
 tests/unit/../../cuda/kernel_math.h libcommon/rng.h tests/unit/check.h \
 libcommon/model/nn_backend.h libcommon/model/params.h \
 libcommon/nn/nn_dmol.h libcommon/nn/nn_layers.h libcommon/util.h
tests/unit/../../cuda/kernel_math.h:
libcommon/rng.h:
tests/unit/check.h:
libcommon/model/nn_backend.h:
libcommon/model/params.h:
libcommon/nn/nn_dmol.h:
libcommon/nn/nn_layers.h:
libcommon/util.h:
