// The MPI-free face of MPI for Swift: communicators are small integer handles
// (0 is MPI_COMM_WORLD), every call returns an MPI error code (0 = success),
// and MPI_ERRORS_RETURN is set so errors come back instead of aborting.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define PS_ANY_SOURCE (-1)
#define PS_ANY_TAG (-1)

int ps_init(int *threadLevelProvided);   // MPI_Init_thread(MULTIPLE requested)
int ps_initialized(void);
int ps_finalize(void);
double ps_wtime(void);
void ps_error_string(int code, char *buf, int len);
int ps_abort(int comm, int code);

int ps_comm_rank(int comm, int *rank);
int ps_comm_size(int comm, int *size);
int ps_comm_split(int comm, int color, int key, int *newComm);
int ps_comm_free(int comm);
int ps_processor_name(char *buf, int len);

int ps_barrier(int comm);
int ps_allreduce_sum_float(int comm, float *buf, int64_t count);
int ps_allreduce_sum_double(int comm, double *buf, int64_t count);
int ps_bcast_bytes(int comm, void *buf, int64_t count, int root);
// Gathers int64 values (one per rank) to root.
int ps_gather_int64(int comm, int64_t value, int64_t *out, int root);
// Gathers variable-sized byte blocks to root; counts/displs as from ps_gather_int64.
int ps_gatherv_bytes(int comm, const void *buf, int64_t count, void *out,
                     const int64_t *counts, int root);

int ps_send_bytes(int comm, const void *buf, int64_t count, int dest, int tag);
// Blocks until a message matching (source, tag) is available; reports its envelope.
int ps_probe(int comm, int source, int tag, int *outSource, int *outTag, int64_t *outCount);
// Non-blocking probe: *flag is 1 when a message is waiting.
int ps_iprobe(int comm, int source, int tag, int *flag, int *outSource, int *outTag, int64_t *outCount);
int ps_recv_bytes(int comm, void *buf, int64_t count, int source, int tag);
