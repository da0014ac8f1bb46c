#include <cblas.h>
// mallopt: Compute.keepFreedMemory tunes glibc so large buffers are reused, not re-mmapped.
#include <malloc.h>
