/*
 * routes.h - which operation a request is, from the upstream kind, the method and the
 * request target (and, for OpenAI-style bodies, the body's `model` and `stream`).
 */
#ifndef WEIR_SIDECAR_ROUTES_H
#define WEIR_SIDECAR_ROUTES_H

#include "internal.h"
#include "providers/codec.h"
#include "sidecar/config.h"
#include "sidecar/metrics.h"

#define WR_ROUTE_MAX_ID 2048

typedef struct wr_route {
    wr_op op;
    const wr_codec *codec;    /**< NULL for ApplyGuardrail's answer codec: see guardrail */
    int stream;               /**< 1: the response is streamed (path or body says so) */
    int model_in_body;        /**< 1: the model / deployment comes from the body's `model` */
    char model[WR_ROUTE_MAX_ID];      /**< URL-decoded model id / deployment name; "" if in body */
    char deployment[WR_ROUTE_MAX_ID]; /**< Azure deployment name (path or body), else "" */
} wr_route;

/**
 * Fills r for method + target on an upstream of kind k. Returns 0; or an HTTP status with
 * err's text: 404 unknown route (text says which paths this listener serves), 405 method,
 * 400 bad percent-encoding or a model id weir cannot read.
 */
int wr_route_match(wr_route *r, wr_up_kind k, const char *method, const char *target,
                   weir_error *err);

/**
 * For routes with model_in_body: reads `model` (required, a string) and `stream` (bool)
 * from the parsed body root. 0, or 400 with err's text.
 */
int wr_route_from_body(wr_route *r, const json_t *root, weir_error *err);

/** Decodes %XX in s[0..n) into out (size cap). -1 on a bad escape, NUL or overflow. */
int wr_url_decode(char *out, size_t cap, const char *s, size_t n);

#endif
