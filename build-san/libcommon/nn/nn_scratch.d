build-san/libcommon/nn/nn_scratch.o: libcommon/nn/nn_scratch.c \
 libcommon/nn/nn_scratch.h libcommon/util.h
libcommon/nn/nn_scratch.h:
libcommon/util.h:
