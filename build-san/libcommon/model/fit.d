build-san/libcommon/model/fit.o: libcommon/model/fit.c \
 libcommon/model/fit.h libcommon/io/datafile.h libcommon/io/modelfile.h \
 libcommon/dist.h libcommon/eval/metrics.h libcommon/model/model.h \
 libcommon/model/params.h libcommon/model/net.h libcommon/nn/nn_isa.h \
 libcommon/rng.h libcommon/util.h
libcommon/model/fit.h:
libcommon/io/datafile.h:
libcommon/io/modelfile.h:
libcommon/dist.h:
libcommon/eval/metrics.h:
libcommon/model/model.h:
libcommon/model/params.h:
libcommon/model/net.h:
libcommon/nn/nn_isa.h:
libcommon/rng.h:
libcommon/util.h:
