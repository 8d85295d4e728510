build-san/libcommon/nn/nn_layers.o: libcommon/nn/nn_layers.c \
 libcommon/nn/nn_layers.h libcommon/nn/nn_prof.h libcommon/nn/nn_gemm.h \
 libcommon/nn/nn_isa.h libcommon/nn/nn_scratch.h libcommon/nn/nn_vmath.h \
 libcommon/rng.h libcommon/util.h
libcommon/nn/nn_layers.h:
libcommon/nn/nn_prof.h:
libcommon/nn/nn_gemm.h:
libcommon/nn/nn_isa.h:
libcommon/nn/nn_scratch.h:
libcommon/nn/nn_vmath.h:
libcommon/rng.h:
libcommon/util.h:
