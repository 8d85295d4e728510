build-san/tests/unit/test_sampler.o: tests/unit/test_sampler.c \
 tests/unit/check.h libcommon/model/model.h libcommon/io/modelfile.h \
 libcommon/io/datafile.h libcommon/model/params.h libcommon/model/net.h \
 libcommon/nn/nn_isa.h libcommon/model/nn_backend.h libcommon/rng.h \
 libcommon/model/sample.h libcommon/util.h libcommon/model/net_hooks.h
tests/unit/check.h:
libcommon/model/model.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/model/params.h:
libcommon/model/net.h:
libcommon/nn/nn_isa.h:
libcommon/model/nn_backend.h:
libcommon/rng.h:
libcommon/model/sample.h:
libcommon/util.h:
libcommon/model/net_hooks.h:
