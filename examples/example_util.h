/* What the examples share: stop with the library's message when a call
 * fails. Every sharesnet call returns an sn_status; sn_last_error() says
 * which operation, file or shape went wrong. The library itself never
 * prints or exits: that is the program's choice, made here. */
#ifndef SN_EXAMPLE_UTIL_H
#define SN_EXAMPLE_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include <sharesnet.h>

#define CHECK(call)                                                                        \
    do {                                                                                   \
        sn_status check_status_ = (call);                                                  \
        if (check_status_ != SN_OK) {                                                      \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #call,             \
                    sn_last_error(), sn_status_name(check_status_));                       \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#endif
