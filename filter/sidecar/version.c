/* version.c - the sidecar's build identification (Server header, logs, /metrics). */
#include "sidecar/sidecar.h"

const char *wr_sidecar_server_name(void) { return "weir/" WR_SIDECAR_VERSION; }
