/* shortcut: being written. */
typedef int sn_placeholder_shortcut;
