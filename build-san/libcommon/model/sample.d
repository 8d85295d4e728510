build-san/libcommon/model/sample.o: libcommon/model/sample.c \
 libcommon/model/sample.h libcommon/model/net.h libcommon/io/modelfile.h \
 libcommon/io/datafile.h libcommon/nn/nn_isa.h libcommon/util.h \
 libcommon/nn/nn_dmol.h
libcommon/model/sample.h:
libcommon/model/net.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/nn/nn_isa.h:
libcommon/util.h:
libcommon/nn/nn_dmol.h:
