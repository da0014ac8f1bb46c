#include "rados.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct ps_rados_api ps_rados;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char problem[512];

// Ceph 16's soname; "librados.so" as well for a client built from source.
static void load(void) {
    const char *names[] = {"librados.so.2", "librados.so"};
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(problem, sizeof problem, "%s", dlerror());
        return;
    }
#define PS_RADOS_LOOKUP(ret, name, params, args) \
    if (!problem[0] && !(*(void **)&ps_rados.name = dlsym(lib, #name))) \
        snprintf(problem, sizeof problem, "librados has no %s (Ceph 16 or newer is needed)", #name);
    PS_RADOS_FUNCTIONS(PS_RADOS_LOOKUP)
}

int ps_rados_load(char *error, size_t error_size) {
    pthread_once(&once, load);
    if (!problem[0]) return 0;
    snprintf(error, error_size, "%s", problem);
    return -1;
}
