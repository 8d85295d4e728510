build-san/libcommon/nn/nn_vmath.o: libcommon/nn/nn_vmath.c \
 libcommon/nn/nn_vmath.h libcommon/nn/nn_isa.h
libcommon/nn/nn_vmath.h:
libcommon/nn/nn_isa.h:
