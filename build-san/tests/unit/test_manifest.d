build-san/tests/unit/test_manifest.o: tests/unit/test_manifest.c \
 tests/unit/check.h libcommon/io/idx.h libcommon/io/manifest.h \
 libcommon/util.h
tests/unit/check.h:
libcommon/io/idx.h:
libcommon/io/manifest.h:
libcommon/util.h:
