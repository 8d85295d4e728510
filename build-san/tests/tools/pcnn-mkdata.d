build-san/tests/tools/pcnn-mkdata.o: tests/tools/pcnn-mkdata.c \
 libcommon/io/datafile.h libcommon/io/modelfile.h libcommon/util.h
libcommon/io/datafile.h:
libcommon/io/modelfile.h:
libcommon/util.h:
