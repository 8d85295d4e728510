build-san/libcommon/io/prep.o: libcommon/io/prep.c libcommon/io/prep.h \
 libcommon/io/datafile.h libcommon/io/idx.h libcommon/io/image.h \
 libcommon/io/manifest.h libcommon/io/resize.h libcommon/rng.h \
 libcommon/util.h
libcommon/io/prep.h:
libcommon/io/datafile.h:
libcommon/io/idx.h:
libcommon/io/image.h:
libcommon/io/manifest.h:
libcommon/io/resize.h:
libcommon/rng.h:
libcommon/util.h:
