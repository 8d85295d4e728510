build-san/libcommon/io/pth.o: libcommon/io/pth.c libcommon/io/pth.h \
 libcommon/util.h
libcommon/io/pth.h:
libcommon/util.h:
