build-san/libcommon/model/net.o: libcommon/model/net.c \
 libcommon/model/net.h libcommon/io/modelfile.h libcommon/io/datafile.h \
 libcommon/nn/nn_isa.h libcommon/model/net_internal.h \
 libcommon/model/nn_backend.h libcommon/model/params.h \
 libcommon/model/model.h libcommon/nn/nn_dmol.h \
 libcommon/model/net_hooks.h libcommon/util.h
libcommon/model/net.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/nn/nn_isa.h:
libcommon/model/net_internal.h:
libcommon/model/nn_backend.h:
libcommon/model/params.h:
libcommon/model/model.h:
libcommon/nn/nn_dmol.h:
libcommon/model/net_hooks.h:
libcommon/util.h:
