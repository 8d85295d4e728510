build-san/tools/pcnn-fit.o: tools/pcnn-fit.c libcommon/dist.h \
 libcommon/model/fit.h libcommon/io/datafile.h libcommon/io/modelfile.h \
 libcommon/model/model.h libcommon/model/params.h libcommon/model/net.h \
 libcommon/nn/nn_isa.h libcommon/util.h
libcommon/dist.h:
libcommon/model/fit.h:
libcommon/io/datafile.h:
libcommon/io/modelfile.h:
libcommon/model/model.h:
libcommon/model/params.h:
libcommon/model/net.h:
libcommon/nn/nn_isa.h:
libcommon/util.h:
