build-san/libcommon/io/resize.o: libcommon/io/resize.c \
 libcommon/io/resize.h libcommon/util.h
libcommon/io/resize.h:
libcommon/util.h:
