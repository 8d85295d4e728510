build-san/libcommon/io/manifest.o: libcommon/io/manifest.c \
 libcommon/io/manifest.h libcommon/util.h
libcommon/io/manifest.h:
libcommon/util.h:
