/*
 * A C11 host of libferry_c, using nothing but ferry.h and pthreads: built and run by capi/tests/capi.rs.
 *
 * Arguments are key=value:
 *   bundle=PATH          the credit-risk bundle
 *   tampered=PATH        a copy of it with one byte flipped
 *   policy=PATH          a release policy requiring a signature (the bundle is unsigned)
 *   missing=PATH         a path that does not exist
 *   goldens=DIR          goldens.txt ("name rows cols out_cols rtol atol" per line) and, per set,
 *                        NAME.in.f32 and NAME.expected.f32 (raw little-endian float32)
 *   threads=N calls=M    the concurrency check: N threads x M calls on one model
 *   records_bundle=PATH  the credit-application bundle (optional: records checks skipped without it)
 *   records=FILE         a JSON array of records for it
 *   decisions_out=FILE   where the decisions JSON is written, for the Rust side to compare
 *
 * Prints one line per check ("ok ..." or "FAIL ..."), then "all checks passed" and exits 0, or exits 1.
 */
#include "ferry.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

static void check(int ok, const char *what, const char *detail) {
    if (ok) {
        printf("ok %s\n", what);
    } else {
        printf("FAIL %s: %s\n", what, detail ? detail : "");
        failures++;
    }
    fflush(stdout);
}

/* A call must fail with `code` and a message containing `needle` (NULL: any). */
static void check_error(int32_t status, int32_t code, const char *needle, const char *what) {
    char detail[2048];
    const char *msg = ferry_last_error_message();
    int ok = status == code && ferry_last_error_code() == code && msg != NULL &&
             (needle == NULL || strstr(msg, needle) != NULL);
    snprintf(detail, sizeof detail, "status %d (last %d), want %d; message: %s", (int)status,
             (int)ferry_last_error_code(), (int)code, msg ? msg : "(null)");
    check(ok, what, detail);
    if (ok) printf("   -> %s\n", msg);
}

static const char *arg(int argc, char **argv, const char *key) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
    }
    return NULL;
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    char *buf = malloc((size_t)size + 1);
    if (!buf) { fclose(f); return NULL; }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) { free(buf); fclose(f); return NULL; }
    buf[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static FerryTensorIn features(const float *rows, int64_t *shape, size_t n_rows) {
    shape[0] = (int64_t)n_rows;
    shape[1] = 14;
    FerryTensorIn t = {"features", FERRY_DTYPE_FLOAT, shape, 2, rows, n_rows * 14 * sizeof(float)};
    return t;
}

/* Runs one request and returns its probabilities (malloc'd copy) or NULL. */
static float *run(const FerryModel *model, const float *rows, size_t n_rows) {
    int64_t shape[2];
    FerryTensorIn in = features(rows, shape, n_rows);
    FerryOutputs *out = NULL;
    if (ferry_model_infer(model, &in, 1, &out) != FERRY_STATUS_OK) return NULL;
    FerryTensorOut p;
    float *copy = NULL;
    if (ferry_outputs_find(out, "probability", &p) == FERRY_STATUS_OK && p.dtype == FERRY_DTYPE_FLOAT &&
        p.rank == 2 && p.shape[0] == (int64_t)n_rows && p.shape[1] == 1 && p.byte_len == n_rows * sizeof(float)) {
        copy = malloc(p.byte_len);
        if (copy) memcpy(copy, p.data, p.byte_len);
    }
    ferry_outputs_free(out);
    return copy;
}

/* One applicant, valid under the contract. */
static const float APPLICANT[14] = {35.0f, 60000.0f, 0.3f, 0.4f, 5.0f, 0.0f, 24.0f,
                                    15000.0f, 36.0f, 6.0f, 1.0f, 1.0f, 1.0f, 8000.0f};

static void check_goldens(const FerryModel *model, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/goldens.txt", dir);
    FILE *list = fopen(path, "r");
    check(list != NULL, "golden list readable", path);
    if (!list) return;
    char name[256];
    size_t rows, cols, out_cols;
    double rtol, atol;
    int sets = 0;
    while (fscanf(list, "%255s %zu %zu %zu %lf %lf", name, &rows, &cols, &out_cols, &rtol, &atol) == 6) {
        char what[512], detail[512];
        size_t in_len = 0, want_len = 0;
        snprintf(path, sizeof path, "%s/%s.in.f32", dir, name);
        float *in = read_file(path, &in_len);
        snprintf(path, sizeof path, "%s/%s.expected.f32", dir, name);
        float *want = read_file(path, &want_len);
        snprintf(what, sizeof what, "golden %s (%zu rows)", name, rows);
        if (!in || !want || cols != 14 || out_cols != 1 || in_len != rows * cols * sizeof(float) ||
            want_len != rows * sizeof(float)) {
            check(0, what, "golden files unreadable or of the wrong size");
        } else {
            float *got = run(model, in, rows);
            int ok = got != NULL;
            detail[0] = '\0';
            for (size_t i = 0; ok && i < rows; i++) {
                double g = got[i], w = want[i];
                if (!(fabs(g - w) <= atol + rtol * fabs(w))) {
                    snprintf(detail, sizeof detail, "row %zu: got %.9g, want %.9g (rtol %g, atol %g)", i, g, w,
                             rtol, atol);
                    ok = 0;
                }
            }
            if (!got) snprintf(detail, sizeof detail, "infer failed: %s", ferry_last_error_message());
            check(ok, what, detail);
            free(got);
        }
        free(in);
        free(want);
        sets++;
    }
    fclose(list);
    check(sets > 0, "at least one golden set", "goldens.txt is empty");
}

static void check_bad_requests(const FerryModel *model) {
    int64_t shape[33];
    FerryOutputs *out = (FerryOutputs *)&shape; /* must be overwritten with NULL */
    FerryTensorIn in = features(APPLICANT, shape, 1);

    in.dtype = 8; /* STRING */
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_INVALID_ARGUMENT, "features",
                "string dtype refused");
    check(out == NULL, "out set to NULL on error", "out was left as it was");
    in.dtype = 99;
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_INVALID_ARGUMENT, "dtype code 99",
                "unknown dtype code refused");
    in = features(APPLICANT, shape, 1);
    in.byte_len -= 4;
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_INVALID_ARGUMENT, "byte_len is 52",
                "byte_len mismatch refused");
    in = features(APPLICANT, shape, 1);
    for (int i = 0; i < 33; i++) shape[i] = 1;
    in.rank = 33;
    in.byte_len = 4;
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_INVALID_ARGUMENT, "rank 33",
                "rank 33 refused");
    in = features(APPLICANT, shape, 1);
    in.data = NULL;
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_INVALID_ARGUMENT, "data is NULL",
                "NULL data refused");
    in = features(APPLICANT, shape, 1);
    shape[0] = -1;
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_INVALID_ARGUMENT, "dim 0 is -1",
                "negative dim refused");
    in = features(APPLICANT, shape, 1);
    shape[0] = INT64_MAX;
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_INVALID_ARGUMENT, "features",
                "overflowing shape refused");
    in = features(APPLICANT, shape, 1);
    FerryTensorIn twice[2] = {in, in};
    check_error(ferry_model_infer(model, twice, 2, &out), FERRY_STATUS_INVALID_ARGUMENT, "given twice",
                "duplicate input refused");
    twice[1].name = "extra";
    check_error(ferry_model_infer(model, twice, 2, &out), FERRY_STATUS_CONTRACT, "extra",
                "unknown input name refused by the contract");
    check_error(ferry_model_infer(model, NULL, 0, &out), FERRY_STATUS_CONTRACT, "features",
                "missing input refused by the contract");
    in = features(APPLICANT, shape, 1);
    double doubles[14];
    for (int i = 0; i < 14; i++) doubles[i] = APPLICANT[i];
    in.dtype = FERRY_DTYPE_DOUBLE;
    in.data = doubles;
    in.byte_len = sizeof doubles;
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_CONTRACT, "features",
                "wrong dtype refused by the contract");
    float young[14];
    memcpy(young, APPLICANT, sizeof young);
    young[0] = -1.0f;
    in = features(young, shape, 1);
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_CONTRACT, "age",
                "age = -1 refused by the contract, naming age");
    in = features(APPLICANT, shape, 1);
    check_error(ferry_model_infer(NULL, &in, 1, &out), FERRY_STATUS_INVALID_ARGUMENT, "model is NULL",
                "NULL model refused");
    check_error(ferry_model_infer(model, &in, 1, NULL), FERRY_STATUS_INVALID_ARGUMENT, "out is NULL",
                "NULL out refused");
    in.name = NULL;
    check_error(ferry_model_infer(model, &in, 1, &out), FERRY_STATUS_INVALID_ARGUMENT, "name is NULL",
                "NULL name refused");
    check(ferry_model_input_name(model, 7) == NULL &&
              ferry_last_error_code() == FERRY_STATUS_INVALID_ARGUMENT,
          "input index out of range", ferry_last_error_message());
    check(ferry_model_input_count(NULL) == 0 && ferry_last_error_code() == FERRY_STATUS_INVALID_ARGUMENT,
          "input count of NULL model", ferry_last_error_message());

    /* Success clears the thread's last error. */
    in = features(APPLICANT, shape, 1);
    int32_t s = ferry_model_infer(model, &in, 1, &out);
    check(s == FERRY_STATUS_OK && ferry_last_error_code() == FERRY_STATUS_OK &&
              strcmp(ferry_last_error_message(), "") == 0 && ferry_outputs_count(out) == 1,
          "success clears the last error", ferry_last_error_message());
    FerryTensorOut view;
    check_error(ferry_outputs_get(out, 1, &view), FERRY_STATUS_INVALID_ARGUMENT, "out of range",
                "output index out of range refused");
    check_error(ferry_outputs_find(out, "nope", &view), FERRY_STATUS_INVALID_ARGUMENT, "probability",
                "unknown output name refused");
    check(ferry_outputs_get(out, 0, &view) == FERRY_STATUS_OK && strcmp(view.name, "probability") == 0 &&
              view.rank == 2 && view.shape[0] == 1 && view.shape[1] == 1 && view.byte_len == 4,
          "outputs_get", ferry_last_error_message());
    ferry_outputs_free(out);
    ferry_outputs_free(NULL);
    ferry_model_free(NULL);
    ferry_string_free(NULL);
}

struct worker {
    const FerryModel *model;
    const float *reference;
    int calls;
    int mismatches;
};

static void *work(void *p) {
    struct worker *w = p;
    for (int i = 0; i < w->calls; i++) {
        float *got = run(w->model, APPLICANT, 1);
        if (!got || memcmp(got, w->reference, sizeof(float)) != 0) w->mismatches++;
        free(got);
    }
    return NULL;
}

static void check_threads(const FerryModel *model, int threads, int calls) {
    float *reference = run(model, APPLICANT, 1);
    check(reference != NULL, "single-threaded reference", ferry_last_error_message());
    if (!reference) return;
    pthread_t ids[64];
    struct worker ws[64];
    if (threads > 64) threads = 64;
    int started = 0;
    for (int i = 0; i < threads; i++) {
        ws[i] = (struct worker){model, reference, calls, 0};
        if (pthread_create(&ids[i], NULL, work, &ws[i]) != 0) break;
        started++;
    }
    int mismatches = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(ids[i], NULL);
        mismatches += ws[i].mismatches;
    }
    char what[128], detail[128];
    snprintf(what, sizeof what, "%d threads x %d calls on one model equal the single-threaded result", threads,
             calls);
    snprintf(detail, sizeof detail, "%d threads started, %d calls differed or failed", started, mismatches);
    check(started == threads && mismatches == 0, what, detail);
    free(reference);
}

static void check_records(const char *bundle, const char *records_path, const char *out_path,
                          const FerryModel *no_transforms) {
    char *decisions = (char *)"sentinel";
    check_error(ferry_model_infer_records(no_transforms, "[{}]", &decisions), FERRY_STATUS_NO_TRANSFORM,
                "transform", "records on a bundle without transforms");
    check(decisions == NULL, "decisions set to NULL on error", "left as it was");
    if (!bundle || !records_path || !out_path) {
        printf("skip records (no records_bundle=, records= and decisions_out=)\n");
        return;
    }
    FerryModel *model = ferry_model_open(bundle, NULL);
    check(model != NULL, "open credit-application", ferry_last_error_message());
    if (!model) return;
    size_t len = 0;
    char *records = read_file(records_path, &len);
    check(records != NULL, "records file readable", records_path);
    if (records) {
        int32_t s = ferry_model_infer_records(model, records, &decisions);
        check(s == FERRY_STATUS_OK && decisions != NULL, "records in, decisions out", ferry_last_error_message());
        if (s == FERRY_STATUS_OK && decisions) {
            FILE *f = fopen(out_path, "wb");
            int written = f && fwrite(decisions, 1, strlen(decisions), f) == strlen(decisions);
            if (f) fclose(f);
            check(written, "decisions written", out_path);
            ferry_string_free(decisions);
        }
        free(records);
    }
    check_error(ferry_model_infer_records(model, "{\"a\": 1}", &decisions), FERRY_STATUS_INVALID_ARGUMENT,
                "array", "records that are not an array refused");
    check_error(ferry_model_infer_records(model, "[42]", &decisions), FERRY_STATUS_RECORD, "record 0",
                "a record that is not an object refused");
    check_error(ferry_model_infer_records(model, NULL, &decisions), FERRY_STATUS_INVALID_ARGUMENT, "NULL",
                "NULL records refused");
    char *contract = ferry_model_contract_json(model);
    check(contract && strstr(contract, "\"takes_records\":true"), "credit-application takes records",
          contract ? contract : ferry_last_error_message());
    ferry_string_free(contract);
    ferry_model_free(model);
}

static void check_verify(const char *bundle, const char *tampered, const char *missing) {
    char *report = (char *)"sentinel";
    int32_t s = ferry_verify(bundle, NULL, NULL, 0, &report);
    check(s == FERRY_STATUS_OK && report && strstr(report, "\"passed\": true"), "verify good bundle: passed",
          report ? report : ferry_last_error_message());
    ferry_string_free(report);
    s = ferry_verify(tampered, NULL, NULL, 0, &report);
    check_error(s, FERRY_STATUS_CHECK_FAILED, "failed", "verify tampered bundle: CHECK_FAILED");
    check(report && strstr(report, "\"passed\": false"), "tampered report says failed", report);
    ferry_string_free(report);
    check_error(ferry_verify(missing, NULL, NULL, 0, &report), FERRY_STATUS_IO, "cannot read",
                "verify missing bundle: IO");
    check(report == NULL, "no report when verify could not run", "report set");
}

int main(int argc, char **argv) {
    const char *bundle = arg(argc, argv, "bundle"), *tampered = arg(argc, argv, "tampered"),
               *policy = arg(argc, argv, "policy"), *missing = arg(argc, argv, "missing"),
               *goldens = arg(argc, argv, "goldens"), *threads = arg(argc, argv, "threads"),
               *calls = arg(argc, argv, "calls");
    if (!bundle || !tampered || !policy || !missing || !goldens || !threads || !calls) {
        fprintf(stderr, "usage: host bundle= tampered= policy= missing= goldens= threads= calls= "
                        "[records_bundle= records= decisions_out=]\n");
        return 2;
    }

    check(ferry_abi_version() == FERRY_ABI_VERSION, "abi version", "header and library disagree");
    printf("   ferry %s, abi %u\n", ferry_version(), (unsigned)ferry_abi_version());

    FerryModel *model = ferry_model_open(bundle, NULL);
    check(model != NULL, "open credit-risk", ferry_last_error_message());
    if (!model) return 1;
    for (size_t i = 0; i < ferry_model_input_count(model); i++) printf("   input: %s\n", ferry_model_input_name(model, i));
    for (size_t i = 0; i < ferry_model_output_count(model); i++)
        printf("   output: %s\n", ferry_model_output_name(model, i));
    check(ferry_model_input_count(model) == 1 && strcmp(ferry_model_input_name(model, 0), "features") == 0 &&
              ferry_model_output_count(model) == 1 && strcmp(ferry_model_output_name(model, 0), "probability") == 0,
          "input and output names", NULL);
    char *contract = ferry_model_contract_json(model);
    check(contract && strstr(contract, "\"name\":\"age\"") && strstr(contract, "\"batch\"") &&
              strstr(contract, "\"takes_records\":false"),
          "contract json", contract ? contract : ferry_last_error_message());
    ferry_string_free(contract);

    check_goldens(model, goldens);
    check_bad_requests(model);

    FerryModel *none = ferry_model_open(missing, NULL);
    check_error(none == NULL ? ferry_last_error_code() : 0, FERRY_STATUS_IO, "No such file", "open missing file: IO");
    none = ferry_model_open(tampered, NULL);
    check_error(none == NULL ? ferry_last_error_code() : 0, FERRY_STATUS_BUNDLE, "bundle", "open tampered bundle: BUNDLE");
    none = ferry_model_open(bundle, policy);
    check_error(none == NULL ? ferry_last_error_code() : 0, FERRY_STATUS_UNTRUSTED, "min_signatures",
                "open unsigned bundle under a signing policy: UNTRUSTED");
    none = ferry_model_open(NULL, NULL);
    check_error(none == NULL ? ferry_last_error_code() : 0, FERRY_STATUS_INVALID_ARGUMENT, "path is NULL",
                "open NULL path refused");

    check_threads(model, atoi(threads), atoi(calls));
    check_records(arg(argc, argv, "records_bundle"), arg(argc, argv, "records"), arg(argc, argv, "decisions_out"),
                  model);
    check_verify(bundle, tampered, missing);

    ferry_model_free(model);
    if (failures) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
