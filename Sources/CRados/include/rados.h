// librados, loaded at run time: the toolkit builds and runs with file stores
// where no Ceph client is installed; only a rados:// store needs librados.so.2.
// The types and signatures are librados' own (rados/librados.h, Ceph 16+);
// each call goes through a pointer that ps_rados_load() fills with dlsym.
#ifndef PRUNESWEEP_RADOS_H
#define PRUNESWEEP_RADOS_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef void *rados_t;
typedef void *rados_ioctx_t;
typedef void *rados_list_ctx_t;
typedef void *rados_write_op_t;
typedef void *rados_completion_t;
typedef void (*rados_callback_t)(rados_completion_t cb, void *arg);

// X(return type, name, (parameters), (arguments)): every librados function the store calls.
#define PS_RADOS_FUNCTIONS(X) \
    X(int, rados_create, (rados_t *cluster, const char *const id), (cluster, id)) \
    X(int, rados_conf_read_file, (rados_t cluster, const char *path), (cluster, path)) \
    X(int, rados_conf_set, (rados_t cluster, const char *option, const char *value), (cluster, option, value)) \
    X(int, rados_conf_get, (rados_t cluster, const char *option, char *buf, size_t len), (cluster, option, buf, len)) \
    X(int, rados_connect, (rados_t cluster), (cluster)) \
    X(void, rados_shutdown, (rados_t cluster), (cluster)) \
    X(int, rados_ioctx_create, (rados_t cluster, const char *pool_name, rados_ioctx_t *ioctx), (cluster, pool_name, ioctx)) \
    X(void, rados_ioctx_destroy, (rados_ioctx_t io), (io)) \
    X(int, rados_mon_command, (rados_t cluster, const char **cmd, size_t cmdlen, const char *inbuf, size_t inbuflen, \
                               char **outbuf, size_t *outbuflen, char **outs, size_t *outslen), \
      (cluster, cmd, cmdlen, inbuf, inbuflen, outbuf, outbuflen, outs, outslen)) \
    X(void, rados_buffer_free, (char *buf), (buf)) \
    X(rados_write_op_t, rados_create_write_op, (void), ()) \
    X(void, rados_write_op_write_full, (rados_write_op_t op, const char *buffer, size_t len), (op, buffer, len)) \
    X(void, rados_write_op_append, (rados_write_op_t op, const char *buffer, size_t len), (op, buffer, len)) \
    X(int, rados_aio_write_op_operate, (rados_write_op_t op, rados_ioctx_t io, rados_completion_t completion, const char *oid, \
                                        time_t *mtime, int flags), (op, io, completion, oid, mtime, flags)) \
    X(void, rados_release_write_op, (rados_write_op_t op), (op)) \
    X(int, rados_aio_read, (rados_ioctx_t io, const char *oid, rados_completion_t completion, char *buf, size_t len, uint64_t off), \
      (io, oid, completion, buf, len, off)) \
    X(int, rados_stat, (rados_ioctx_t io, const char *o, uint64_t *psize, time_t *pmtime), (io, o, psize, pmtime)) \
    X(int, rados_remove, (rados_ioctx_t io, const char *oid), (io, oid)) \
    X(int, rados_write_full, (rados_ioctx_t io, const char *oid, const char *buf, size_t len), (io, oid, buf, len)) \
    X(int, rados_trunc, (rados_ioctx_t io, const char *oid, uint64_t size), (io, oid, size)) \
    X(int, rados_nobjects_list_open, (rados_ioctx_t io, rados_list_ctx_t *ctx), (io, ctx)) \
    X(int, rados_nobjects_list_next, (rados_list_ctx_t ctx, const char **entry, const char **key, const char **nspace), \
      (ctx, entry, key, nspace)) \
    X(void, rados_nobjects_list_close, (rados_list_ctx_t ctx), (ctx)) \
    X(int, rados_aio_create_completion2, (void *cb_arg, rados_callback_t cb_complete, rados_completion_t *pc), (cb_arg, cb_complete, pc)) \
    X(int, rados_aio_is_complete, (rados_completion_t c), (c)) \
    X(int, rados_aio_wait_for_complete_and_cb, (rados_completion_t c), (c)) \
    X(int, rados_aio_get_return_value, (rados_completion_t c), (c)) \
    X(void, rados_aio_release, (rados_completion_t c), (c))

// The pointers, filled by ps_rados_load.
#define PS_RADOS_POINTER(ret, name, params, args) ret (*name) params;
struct ps_rados_api { PS_RADOS_FUNCTIONS(PS_RADOS_POINTER) };
extern struct ps_rados_api ps_rados;

// Loads librados once (thread-safe). 0 on success; otherwise -1 and `error`
// holds what dlopen or dlsym said.
int ps_rados_load(char *error, size_t error_size);

// The calls under their librados names (static: nothing here can interpose
// on librados' own symbols).
#define PS_RADOS_WRAPPER(ret, name, params, args) static inline ret name params { return ps_rados.name args; }
PS_RADOS_FUNCTIONS(PS_RADOS_WRAPPER)

#endif
