/* device: being written. */
typedef int sn_placeholder_device;
