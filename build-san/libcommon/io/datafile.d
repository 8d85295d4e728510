build-san/libcommon/io/datafile.o: libcommon/io/datafile.c \
 libcommon/io/datafile.h libcommon/util.h
libcommon/io/datafile.h:
libcommon/util.h:
