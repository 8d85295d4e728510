build-san/libcommon/io/modelfile.o: libcommon/io/modelfile.c \
 libcommon/io/modelfile.h libcommon/io/datafile.h libcommon/util.h
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/util.h:
