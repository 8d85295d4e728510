/*
 * replay_main.c — a main() for the fuzz harnesses without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named (folders: every file in them).
 * Built with any C compiler and ASan/UBSan (make fuzz-replay), it replays the
 * committed corpus and regressions where clang's libFuzzer is missing.
 *
 *   build-fuzz/replay/fuzz_datafile tests/fuzz/corpus/fuzz_datafile tests/fuzz/regressions/fuzz_datafile
 *
 * Exit 0 when every input ran (a finding aborts through the sanitizer), 1 when a
 * file cannot be read.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static FILE *msg;   /* stderr as it was: the harness may point stderr at /dev/null */

static int run_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(msg, "replay: %s: cannot open\n", path);
        return 1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    int bad = !buf || ferror(fp);
    fclose(fp);
    if (bad) {
        fprintf(msg, "replay: %s: read error\n", path);
        free(buf);
        return 1;
    }
    /* an exact-size copy, so ASan sees reads past the input's end */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    msg = stderr;
    LLVMFuzzerInitialize(&argc, &argv);
    int bad = 0, runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            if (!d) {
                bad = 1;
                continue;
            }
            char **names = NULL;
            size_t nn = 0;
            struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                names = realloc(names, (nn + 1) * sizeof *names);
                size_t l = strlen(argv[i]) + strlen(e->d_name) + 2;
                names[nn] = malloc(l);
                snprintf(names[nn++], l, "%s/%s", argv[i], e->d_name);
            }
            closedir(d);
            if (nn) qsort(names, nn, sizeof *names, cmp_names);
            for (size_t j = 0; j < nn; j++) {
                bad |= run_file(names[j]);
                runs++;
                free(names[j]);
            }
            free(names);
        } else {
            bad |= run_file(argv[i]);
            runs++;
        }
    }
    fprintf(msg, "replay: %s: %d inputs run\n", argv[0], runs);
    return bad;
}
