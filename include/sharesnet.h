/* sharesnet — weight-shared residual networks (ShaResNet) on OpenCL.
 *
 * One include for the whole public API. Every public name starts with sn_
 * (types, functions) or SN_ (constants). Every call that can fail returns an
 * sn_status; sn_last_error() then holds a message naming the operation, the
 * file or the shapes involved. The library never prints and never exits.
 *
 *   error.h        status codes, sn_last_error()
 *   runtime.h      devices, contexts (program build/cache/binaries), tensors, memory
 *   ops.h          every layer's forward and backward on the device
 *   graph.h        the model zoo as graphs (ResNet / ShaResNet families, sharing)
 *   model.h        a graph on a device: parameters, activations, training step
 *   data.h         datasets (IDX, CIFAR, PNG folders) and the prefetching loader
 *   train.h        schedules, the trainer, evaluation, checkpoints
 *   dist.h         data-parallel training over MPI
 *   safetensors.h  the checkpoint file format
 *   selftest.h     device self-test cases
 */
#ifndef SHARESNET_H
#define SHARESNET_H

#include "sharesnet/error.h"
#include "sharesnet/runtime.h"
#include "sharesnet/ops.h"
#include "sharesnet/graph.h"
#include "sharesnet/model.h"
#include "sharesnet/data.h"
#include "sharesnet/train.h"
#include "sharesnet/dist.h"
#include "sharesnet/safetensors.h"
#include "sharesnet/interop.h"
#include "sharesnet/selftest.h"

#endif
