build-san/libcommon/model/params.o: libcommon/model/params.c \
 libcommon/model/params.h libcommon/util.h
libcommon/model/params.h:
libcommon/util.h:
