build-san/libcommon/io/image.o: libcommon/io/image.c libcommon/io/image.h \
 libcommon/util.h
libcommon/io/image.h:
libcommon/util.h:
