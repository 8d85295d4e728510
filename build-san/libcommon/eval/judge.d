build-san/libcommon/eval/judge.o: libcommon/eval/judge.c \
 libcommon/eval/judge.h libcommon/io/datafile.h libcommon/io/modelfile.h \
 libcommon/eval/knn.h libcommon/io/sampledir.h libcommon/util.h
libcommon/eval/judge.h:
libcommon/io/datafile.h:
libcommon/io/modelfile.h:
libcommon/eval/knn.h:
libcommon/io/sampledir.h:
libcommon/util.h:
