build-san/tests/unit/test_modelfile.o: tests/unit/test_modelfile.c \
 tests/unit/check.h libcommon/io/modelfile.h libcommon/io/datafile.h \
 libcommon/util.h
tests/unit/check.h:
libcommon/io/modelfile.h:
libcommon/io/datafile.h:
libcommon/util.h:
