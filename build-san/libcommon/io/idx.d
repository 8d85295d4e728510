build-san/libcommon/io/idx.o: libcommon/io/idx.c libcommon/io/idx.h \
 libcommon/util.h
libcommon/io/idx.h:
libcommon/util.h:
