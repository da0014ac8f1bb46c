#include "mpishim.h"
#include <limits.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>

// Handle table: index 0 is MPI_COMM_WORLD, the rest come from splits.
enum { MAX_COMMS = 256 };
static MPI_Comm comms[MAX_COMMS];
static int commCount = 0;

static int lookup(int h, MPI_Comm *out) {
    if (h < 0 || h >= commCount || comms[h] == MPI_COMM_NULL) return MPI_ERR_COMM;
    *out = comms[h];
    return MPI_SUCCESS;
}

#define COMM(h)                                  \
    MPI_Comm c;                                  \
    do { int e_ = lookup((h), &c); if (e_) return e_; } while (0)

// Large buffers go in chunks because MPI counts are ints.
#define CHUNK (1 << 30)

int ps_init(int *provided) {
    int e = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, provided);
    if (e) return e;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    comms[0] = MPI_COMM_WORLD;
    commCount = 1;
    return MPI_SUCCESS;
}

int ps_initialized(void) {
    int flag = 0;
    MPI_Initialized(&flag);
    return flag;
}

int ps_finalize(void) { return MPI_Finalize(); }
double ps_wtime(void) { return MPI_Wtime(); }

void ps_error_string(int code, char *buf, int len) {
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(code, s, &n) != MPI_SUCCESS) n = 0;
    int i = 0;
    for (; i < n && i < len - 1; i++) buf[i] = s[i];
    if (len > 0) buf[i] = 0;
}

int ps_abort(int h, int code) { COMM(h); return MPI_Abort(c, code); }
int ps_comm_rank(int h, int *rank) { COMM(h); return MPI_Comm_rank(c, rank); }
int ps_comm_size(int h, int *size) { COMM(h); return MPI_Comm_size(c, size); }

int ps_comm_split(int h, int color, int key, int *newComm) {
    COMM(h);
    if (commCount >= MAX_COMMS) return MPI_ERR_NO_MEM;
    MPI_Comm out;
    int e = MPI_Comm_split(c, color < 0 ? MPI_UNDEFINED : color, key, &out);
    if (e) return e;
    if (out == MPI_COMM_NULL) { *newComm = -1; return MPI_SUCCESS; }
    MPI_Comm_set_errhandler(out, MPI_ERRORS_RETURN);
    comms[commCount] = out;
    *newComm = commCount++;
    return MPI_SUCCESS;
}

int ps_comm_free(int h) {
    if (h == 0) return MPI_SUCCESS;
    COMM(h);
    int e = MPI_Comm_free(&c);
    comms[h] = MPI_COMM_NULL;
    return e;
}

int ps_processor_name(char *buf, int len) {
    char s[MPI_MAX_PROCESSOR_NAME];
    int n = 0;
    int e = MPI_Get_processor_name(s, &n);
    if (e) return e;
    int i = 0;
    for (; i < n && i < len - 1; i++) buf[i] = s[i];
    if (len > 0) buf[i] = 0;
    return MPI_SUCCESS;
}

int ps_barrier(int h) { COMM(h); return MPI_Barrier(c); }

static int allreduce(MPI_Comm c, void *buf, int64_t count, MPI_Datatype t, size_t width) {
    for (int64_t off = 0; off < count; off += CHUNK) {
        int n = (int)(count - off < CHUNK ? count - off : CHUNK);
        int e = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * width, n, t, MPI_SUM, c);
        if (e) return e;
    }
    return MPI_SUCCESS;
}

int ps_allreduce_sum_float(int h, float *buf, int64_t count) {
    COMM(h);
    return allreduce(c, buf, count, MPI_FLOAT, sizeof(float));
}

int ps_allreduce_sum_double(int h, double *buf, int64_t count) {
    COMM(h);
    return allreduce(c, buf, count, MPI_DOUBLE, sizeof(double));
}

int ps_bcast_bytes(int h, void *buf, int64_t count, int root) {
    COMM(h);
    for (int64_t off = 0; off < count; off += CHUNK) {
        int n = (int)(count - off < CHUNK ? count - off : CHUNK);
        int e = MPI_Bcast((char *)buf + off, n, MPI_BYTE, root, c);
        if (e) return e;
    }
    return MPI_SUCCESS;
}

int ps_gather_int64(int h, int64_t value, int64_t *out, int root) {
    COMM(h);
    return MPI_Gather(&value, 1, MPI_INT64_T, out, 1, MPI_INT64_T, root, c);
}

int ps_gatherv_bytes(int h, const void *buf, int64_t count, void *out,
                     const int64_t *counts, int root) {
    COMM(h);
    int rank, size;
    MPI_Comm_rank(c, &rank);
    MPI_Comm_size(c, &size);
    if (count > INT_MAX) return MPI_ERR_COUNT;
    int *rc = NULL, *displs = NULL;
    if (rank == root) {
        rc = malloc(sizeof(int) * size);
        displs = malloc(sizeof(int) * size);
        if (!rc || !displs) { free(rc); free(displs); return MPI_ERR_NO_MEM; }
        int64_t d = 0;
        for (int i = 0; i < size; i++) {
            if (counts[i] > INT_MAX || d > INT_MAX) { free(rc); free(displs); return MPI_ERR_COUNT; }
            rc[i] = (int)counts[i];
            displs[i] = (int)d;
            d += counts[i];
        }
    }
    int e = MPI_Gatherv(buf, (int)count, MPI_BYTE, out, rc, displs, MPI_BYTE, root, c);
    free(rc);
    free(displs);
    return e;
}

int ps_send_bytes(int h, const void *buf, int64_t count, int dest, int tag) {
    COMM(h);
    if (count > INT_MAX) return MPI_ERR_COUNT;
    return MPI_Send(buf, (int)count, MPI_BYTE, dest, tag, c);
}

static void envelope(MPI_Status *st, int *src, int *tag, int64_t *count) {
    int n = 0;
    MPI_Get_count(st, MPI_BYTE, &n);
    *src = st->MPI_SOURCE;
    *tag = st->MPI_TAG;
    *count = n;
}

static int src_of(int s) { return s == PS_ANY_SOURCE ? MPI_ANY_SOURCE : s; }
static int tag_of(int t) { return t == PS_ANY_TAG ? MPI_ANY_TAG : t; }

int ps_probe(int h, int source, int tag, int *outSource, int *outTag, int64_t *outCount) {
    COMM(h);
    MPI_Status st;
    int e = MPI_Probe(src_of(source), tag_of(tag), c, &st);
    if (e) return e;
    envelope(&st, outSource, outTag, outCount);
    return MPI_SUCCESS;
}

int ps_iprobe(int h, int source, int tag, int *flag, int *outSource, int *outTag, int64_t *outCount) {
    COMM(h);
    MPI_Status st;
    int e = MPI_Iprobe(src_of(source), tag_of(tag), c, flag, &st);
    if (e) return e;
    if (*flag) envelope(&st, outSource, outTag, outCount);
    return MPI_SUCCESS;
}

int ps_recv_bytes(int h, void *buf, int64_t count, int source, int tag) {
    COMM(h);
    if (count > INT_MAX) return MPI_ERR_COUNT;
    return MPI_Recv(buf, (int)count, MPI_BYTE, src_of(source), tag_of(tag), c, MPI_STATUS_IGNORE);
}
