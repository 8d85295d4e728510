build-san/libcommon/nn/nn_dmol.o: libcommon/nn/nn_dmol.c \
 libcommon/nn/nn_dmol.h libcommon/rng.h
libcommon/nn/nn_dmol.h:
libcommon/rng.h:
