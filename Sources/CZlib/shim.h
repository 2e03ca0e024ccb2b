#ifndef USERSYNC_CZLIB_SHIM_H
#define USERSYNC_CZLIB_SHIM_H
#include <zlib.h>

/* deflateInit2/inflateInit2 are macros over deflateInit2_/inflateInit2_ (they pass the
   library version and the stream size): Swift cannot import them. */
static inline int czlib_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

static inline int czlib_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 15 + 16);
}
#endif
