build-san/tests/tools/pcnn-modeldiff.o: tests/tools/pcnn-modeldiff.c \
 libcommon/io/modelfile.h libcommon/io/datafile.h libcommon/util.h
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/util.h:
