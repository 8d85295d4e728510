build-san/libcommon/eval/inception.o: libcommon/eval/inception.c \
 libcommon/eval/inception.h libcommon/nn/nn_layers.h libcommon/io/pth.h \
 libcommon/util.h
libcommon/eval/inception.h:
libcommon/nn/nn_layers.h:
libcommon/io/pth.h:
libcommon/util.h:
