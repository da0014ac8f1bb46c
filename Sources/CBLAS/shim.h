#include <cblas.h>
// mallopt: the compute path tunes glibc so large buffers are reused, not re-mmapped.
#include <malloc.h>
