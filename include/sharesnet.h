/* sharesnet — weight-shared residual networks (ShaResNet) on OpenCL.
 *
 * One include for the whole public API. Every public name starts with sn_
 * (types, functions) or SN_ (constants). Every call that can fail returns an
 * sn_status; sn_last_error() then holds a message naming the operation, the
 * file or the shapes involved. The library never prints and never exits.
 */
#ifndef SHARESNET_H
#define SHARESNET_H

#include "sharesnet/error.h"
#include "sharesnet/runtime.h"
#include "sharesnet/selftest.h"

#endif
