build-san/tests/unit/test_cuda_load.o: tests/unit/test_cuda_load.c \
 tests/unit/check.h libcommon/model/nn_backend.h libcommon/model/params.h \
 libcommon/util.h
tests/unit/check.h:
libcommon/model/nn_backend.h:
libcommon/model/params.h:
libcommon/util.h:
