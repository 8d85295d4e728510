build-san/tests/unit/test_knn.o: tests/unit/test_knn.c tests/unit/check.h \
 libcommon/eval/knn.h
tests/unit/check.h:
libcommon/eval/knn.h:
