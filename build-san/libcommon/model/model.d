build-san/libcommon/model/model.o: libcommon/model/model.c \
 libcommon/model/model.h libcommon/io/modelfile.h libcommon/io/datafile.h \
 libcommon/model/params.h libcommon/rng.h libcommon/util.h
libcommon/model/model.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/model/params.h:
libcommon/rng.h:
libcommon/util.h:
