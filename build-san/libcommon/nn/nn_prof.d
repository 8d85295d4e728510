build-san/libcommon/nn/nn_prof.o: libcommon/nn/nn_prof.c \
 libcommon/nn/nn_prof.h libcommon/nn/nn_isa.h libcommon/threads.h
libcommon/nn/nn_prof.h:
libcommon/nn/nn_isa.h:
libcommon/threads.h:
