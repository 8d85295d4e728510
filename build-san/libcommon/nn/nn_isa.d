build-san/libcommon/nn/nn_isa.o: libcommon/nn/nn_isa.c \
 libcommon/nn/nn_isa.h libcommon/util.h
libcommon/nn/nn_isa.h:
libcommon/util.h:
