build-san/tools/pcnn-gen.o: tools/pcnn-gen.c libcommon/dist.h \
 libcommon/eval/fid.h libcommon/eval/inception.h libcommon/eval/judge.h \
 libcommon/io/datafile.h libcommon/io/modelfile.h \
 libcommon/eval/metrics.h libcommon/io/sampledir.h \
 libcommon/model/model.h libcommon/model/params.h libcommon/model/net.h \
 libcommon/nn/nn_isa.h libcommon/model/sample.h libcommon/util.h
libcommon/dist.h:
libcommon/eval/fid.h:
libcommon/eval/inception.h:
libcommon/eval/judge.h:
libcommon/io/datafile.h:
libcommon/io/modelfile.h:
libcommon/eval/metrics.h:
libcommon/io/sampledir.h:
libcommon/model/model.h:
libcommon/model/params.h:
libcommon/model/net.h:
libcommon/nn/nn_isa.h:
libcommon/model/sample.h:
libcommon/util.h:
