build-san/tools/pcnn-info.o: tools/pcnn-info.c libcommon/io/datafile.h \
 libcommon/model/model.h libcommon/io/modelfile.h \
 libcommon/model/params.h libcommon/io/scoretsv.h libcommon/util.h
libcommon/io/datafile.h:
libcommon/model/model.h:
libcommon/io/modelfile.h:
libcommon/model/params.h:
libcommon/io/scoretsv.h:
libcommon/util.h:
