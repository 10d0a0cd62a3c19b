/* core/src/http/mhd_shim.h — libmicrohttpd functions wrapped (mhd_shim.c) */
#ifndef BFF_HTTP_MHD_SHIM_H
#define BFF_HTTP_MHD_SHIM_H

/* Resolves the libmicrohttpd functions mhd_shim.c wraps; 0 or -1. */
int mhd_shim_init(void);

#endif
