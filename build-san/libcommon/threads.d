build-san/libcommon/threads.o: libcommon/threads.c libcommon/threads.h \
 libcommon/util.h
libcommon/threads.h:
libcommon/util.h:
