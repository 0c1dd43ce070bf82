/*
 * sidecar.h - `weir serve`: runs the sidecar described by a configuration until SIGTERM.
 */
#ifndef WEIR_SIDECAR_SIDECAR_H
#define WEIR_SIDECAR_SIDECAR_H

#define WR_SIDECAR_VERSION "0.1.0"

/** "weir/0.1.0" for the Server header and logs. Static. */
const char *wr_sidecar_server_name(void);

#endif
