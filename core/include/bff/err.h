/* core/include/bff/err.h — error codes shared by every core module */
#ifndef BFF_ERR_H
#define BFF_ERR_H

/* 0 is success; every failure is a negative enum bff_err. */
enum bff_err {
    BFF_OK = 0,
    BFF_ENOMEM = -1,    /* allocation failed */
    BFF_EINVAL = -2,    /* malformed input */
    BFF_ERANGE = -3,    /* value or size out of bounds */
    BFF_ENOENT = -4,    /* no such thing (route, key, file) */
    BFF_EIO = -5,       /* system call failed */
    BFF_EAUTH = -6,     /* signature or token refused */
    BFF_ETIMEDOUT = -7, /* deadline passed */
    BFF_EBUSY = -8,     /* bulkhead full, circuit open */
};

/* A short English name for @err ("invalid input"); never NULL. */
const char *bff_strerror(int err);

#endif
