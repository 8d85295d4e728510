build-san/tests/unit/test_causality.o: tests/unit/test_causality.c \
 tests/unit/check.h libcommon/model/model.h libcommon/io/modelfile.h \
 libcommon/io/datafile.h libcommon/model/params.h libcommon/model/net.h \
 libcommon/nn/nn_isa.h libcommon/model/nn_backend.h \
 libcommon/model/net_hooks.h libcommon/rng.h libcommon/util.h
tests/unit/check.h:
libcommon/model/model.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/model/params.h:
libcommon/model/net.h:
libcommon/nn/nn_isa.h:
libcommon/model/nn_backend.h:
libcommon/model/net_hooks.h:
libcommon/rng.h:
libcommon/util.h:
