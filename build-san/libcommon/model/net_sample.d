build-san/libcommon/model/net_sample.o: libcommon/model/net_sample.c \
 libcommon/model/net_internal.h libcommon/model/net.h \
 libcommon/io/modelfile.h libcommon/io/datafile.h libcommon/nn/nn_isa.h \
 libcommon/model/nn_backend.h libcommon/model/params.h \
 libcommon/nn/nn_dmol.h libcommon/model/sample.h libcommon/util.h
libcommon/model/net_internal.h:
libcommon/model/net.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/nn/nn_isa.h:
libcommon/model/nn_backend.h:
libcommon/model/params.h:
libcommon/nn/nn_dmol.h:
libcommon/model/sample.h:
libcommon/util.h:
