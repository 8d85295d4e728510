build-san/tools/pcnn-score.o: tools/pcnn-score.c libcommon/dist.h \
 libcommon/eval/metrics.h libcommon/io/scoretsv.h libcommon/model/model.h \
 libcommon/io/modelfile.h libcommon/io/datafile.h \
 libcommon/model/params.h libcommon/model/net.h libcommon/nn/nn_isa.h \
 libcommon/util.h
libcommon/dist.h:
libcommon/eval/metrics.h:
libcommon/io/scoretsv.h:
libcommon/model/model.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/model/params.h:
libcommon/model/net.h:
libcommon/nn/nn_isa.h:
libcommon/util.h:
