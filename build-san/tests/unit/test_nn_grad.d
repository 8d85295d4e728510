build-san/tests/unit/test_nn_grad.o: tests/unit/test_nn_grad.c \
 tests/unit/check.h libcommon/model/model.h libcommon/io/modelfile.h \
 libcommon/io/datafile.h libcommon/model/params.h libcommon/model/net.h \
 libcommon/nn/nn_isa.h libcommon/model/nn_backend.h \
 libcommon/model/net_hooks.h libcommon/nn/nn_dmol.h \
 libcommon/nn/nn_layers.h libcommon/rng.h libcommon/util.h
tests/unit/check.h:
libcommon/model/model.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/model/params.h:
libcommon/model/net.h:
libcommon/nn/nn_isa.h:
libcommon/model/nn_backend.h:
libcommon/model/net_hooks.h:
libcommon/nn/nn_dmol.h:
libcommon/nn/nn_layers.h:
libcommon/rng.h:
libcommon/util.h:
