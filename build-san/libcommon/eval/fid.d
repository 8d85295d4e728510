build-san/libcommon/eval/fid.o: libcommon/eval/fid.c libcommon/eval/fid.h \
 libcommon/eval/inception.h libcommon/io/datafile.h libcommon/io/image.h \
 libcommon/threads.h libcommon/util.h
libcommon/eval/fid.h:
libcommon/eval/inception.h:
libcommon/io/datafile.h:
libcommon/io/image.h:
libcommon/threads.h:
libcommon/util.h:
