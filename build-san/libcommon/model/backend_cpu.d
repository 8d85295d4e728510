build-san/libcommon/model/backend_cpu.o: libcommon/model/backend_cpu.c \
 libcommon/model/nn_backend.h libcommon/model/params.h \
 libcommon/nn/nn_dmol.h libcommon/nn/nn_prof.h libcommon/nn/nn_layers.h \
 libcommon/nn/nn_isa.h libcommon/threads.h libcommon/util.h
libcommon/model/nn_backend.h:
libcommon/model/params.h:
libcommon/nn/nn_dmol.h:
libcommon/nn/nn_prof.h:
libcommon/nn/nn_layers.h:
libcommon/nn/nn_isa.h:
libcommon/threads.h:
libcommon/util.h:
