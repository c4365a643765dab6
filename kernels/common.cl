/* Shared definitions for every kernel file. Sizes arrive as int: tensors in
 * sharesnet stay below 2^31 elements per buffer (checked on the host). */
