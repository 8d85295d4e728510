build-san/libcommon/io/scoretsv.o: libcommon/io/scoretsv.c \
 libcommon/io/scoretsv.h libcommon/io/datafile.h libcommon/util.h
libcommon/io/scoretsv.h:
libcommon/io/datafile.h:
libcommon/util.h:
