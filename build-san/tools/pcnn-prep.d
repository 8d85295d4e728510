build-san/tools/pcnn-prep.o: tools/pcnn-prep.c libcommon/io/datafile.h \
 libcommon/io/prep.h libcommon/util.h
libcommon/io/datafile.h:
libcommon/io/prep.h:
libcommon/util.h:
