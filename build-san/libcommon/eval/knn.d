build-san/libcommon/eval/knn.o: libcommon/eval/knn.c libcommon/eval/knn.h \
 libcommon/threads.h libcommon/util.h
libcommon/eval/knn.h:
libcommon/threads.h:
libcommon/util.h:
