build-san/libcommon/io/sampledir.o: libcommon/io/sampledir.c \
 libcommon/io/sampledir.h libcommon/io/image.h libcommon/util.h
libcommon/io/sampledir.h:
libcommon/io/image.h:
libcommon/util.h:
