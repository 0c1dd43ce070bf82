/*
 * jwt.c - JWK Sets, compact JWS verification (cjose), claims, principal mapping, and the
 * JWK Set source with its refresh thread. See jwt.h and docs/identity.md.
 */
#include "identity/jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjose/cjose.h>
#include <jansson.h>

#define JWT_SRC "jwt"
#define JWKS_SRC "jwks"
#define JWT_JSON_DEPTH 16
#define JWT_MAX_NAME 64 /* shown in messages */
#define JWT_MAX_VALUE 128

/* ------------------------------------------------------------------ small helpers */

/* Copies s into a message-safe form: printable ASCII, at most JWT_MAX_NAME bytes. */
static const char *jwt_show(char *buf, size_t cap, const char *s)
{
    size_t j = 0;
    for (size_t i = 0; s && s[i] && j + 4 < cap; i++) {
        if (i >= JWT_MAX_NAME) {
            memcpy(buf + j, "...", 3);
            j += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        buf[j++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    buf[j] = '\0';
    return buf;
}

static unsigned char *b64url_decode_dup(const char *in, size_t n, size_t *out_len)
{
    unsigned char *out = wr_malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    long got = wr_b64url_decode(in, n, out);
    if (got < 0) {
        free(out);
        return NULL;
    }
    out[got] = '\0';
    *out_len = (size_t)got;
    return out;
}

static int jwt_parse_object(json_t **out, const char *s, size_t n)
{
    json_t *j = NULL;
    if (wr_json_fast_parse(&j, s, n, JWT_JSON_DEPTH, NULL, NULL, NULL, 0) != 0)
        return -1;
    if (!json_is_object(j)) {
        json_decref(j);
        return -1;
    }
    *out = j;
    return 0;
}

/* ------------------------------------------------------------------ algorithms */

static const struct {
    unsigned bit;
    const char *name;
    int kty; /* CJOSE_JWK_KTY_RSA / _EC */
} jwt_algs[] = {
    {WR_JWT_RS256, "RS256", CJOSE_JWK_KTY_RSA}, {WR_JWT_RS384, "RS384", CJOSE_JWK_KTY_RSA},
    {WR_JWT_RS512, "RS512", CJOSE_JWK_KTY_RSA}, {WR_JWT_PS256, "PS256", CJOSE_JWK_KTY_RSA},
    {WR_JWT_ES256, "ES256", CJOSE_JWK_KTY_EC},
};

unsigned wr_jwt_alg_from_name(const char *name)
{
    for (size_t i = 0; name && i < WR_ARRAY_LEN(jwt_algs); i++)
        if (strcmp(name, jwt_algs[i].name) == 0)
            return jwt_algs[i].bit;
    return 0;
}

const char *wr_jwt_alg_name(unsigned alg)
{
    for (size_t i = 0; i < WR_ARRAY_LEN(jwt_algs); i++)
        if (alg == jwt_algs[i].bit)
            return jwt_algs[i].name;
    return "?";
}

static int jwt_alg_kty(unsigned alg)
{
    for (size_t i = 0; i < WR_ARRAY_LEN(jwt_algs); i++)
        if (alg == jwt_algs[i].bit)
            return jwt_algs[i].kty;
    return -1;
}

/* ------------------------------------------------------------------ JWK Set */

typedef struct jwks_key {
    cjose_jwk_t *jwk;
    int kty;       /* CJOSE_JWK_KTY_RSA / _EC */
    unsigned algs; /* algorithms the key may verify */
    size_t sig_len;
    char *kid;     /* NULL: none */
} jwks_key;

struct wr_jwks {
    atomic_long refs;
    jwks_key *keys;
    size_t n, skipped;
};

wr_jwks *wr_jwks_ref(wr_jwks *k)
{
    if (k)
        atomic_fetch_add(&k->refs, 1);
    return k;
}

void wr_jwks_unref(wr_jwks *k)
{
    if (!k || atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    for (size_t i = 0; i < k->n; i++) {
        cjose_jwk_release(k->keys[i].jwk);
        free(k->keys[i].kid);
    }
    free(k->keys);
    free(k);
}

size_t wr_jwks_count(const wr_jwks *k) { return k ? k->n : 0; }
size_t wr_jwks_skipped(const wr_jwks *k) { return k ? k->skipped : 0; }

int wr_jwks_has_kid(const wr_jwks *k, const char *kid)
{
    for (size_t i = 0; k && kid && i < k->n; i++)
        if (k->keys[i].kid && strcmp(k->keys[i].kid, kid) == 0)
            return 1;
    return 0;
}

static const char *const jwks_private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

/* 1 when s[0..n) is strict unpadded base64url (cjose's decoder asserts on some bad input). */
static int b64url_ok(const char *s, size_t n)
{
    unsigned char *tmp = wr_malloc(n / 4 * 3 + 4);
    long got = tmp ? wr_b64url_decode(s, n, tmp) : -1;
    free(tmp);
    return got >= 0;
}

/*
 * Imports members into a fresh object holding only what cjose needs; every member but the
 * first two ("kty" and, for EC, "crv") must be strict base64url before cjose sees it.
 */
static cjose_jwk_t *jwks_import(json_t *key, const char *const *members, size_t n)
{
    json_t *min = json_object();
    if (!min)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(key, members[i]);
        int b64 = strcmp(members[i], "kty") != 0 && strcmp(members[i], "crv") != 0;
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            (b64 && !b64url_ok(json_string_value(v), json_string_length(v))) ||
            json_object_set(min, members[i], v) != 0) {
            json_decref(min);
            return NULL;
        }
    }
    char *text = json_dumps(min, JSON_COMPACT);
    json_decref(min);
    if (!text)
        return NULL;
    cjose_err cerr;
    cjose_jwk_t *jwk = cjose_jwk_import(text, strlen(text), &cerr);
    free(text);
    return jwk;
}

/* 1 = kept into *k, 0 = skipped (not understood), <0 = error (err filled). */
static int jwks_key_parse(jwks_key *k, json_t *key, size_t idx, weir_error *err)
{
    if (!json_is_object(key))
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0, "keys[%zu] is not an object",
                            idx);
    for (size_t i = 0; i < WR_ARRAY_LEN(jwks_private_members); i++)
        if (json_object_get(key, jwks_private_members[i]))
            return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                                "keys[%zu] holds private or symmetric key material (\"%s\"): "
                                "a JWK Set for verification must hold public keys only",
                                idx, jwks_private_members[i]);
    const char *kty = json_string_value(json_object_get(key, "kty"));
    const char *use = json_string_value(json_object_get(key, "use"));
    json_t *jalg = json_object_get(key, "alg");
    json_t *jkid = json_object_get(key, "kid");
    if (!kty)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0, "keys[%zu] has no kty", idx);
    if (jkid && (!json_is_string(jkid) || json_string_length(jkid) == 0 ||
                 json_string_length(jkid) > WR_JWT_MAX_KID ||
                 strlen(json_string_value(jkid)) != json_string_length(jkid)))
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "keys[%zu]: kid must be a string of 1..%d bytes", idx,
                            WR_JWT_MAX_KID);
    if (use && strcmp(use, "sig") != 0)
        return 0;
    int is_rsa = strcmp(kty, "RSA") == 0, is_ec = strcmp(kty, "EC") == 0;
    if (!is_rsa && !is_ec)
        return 0;
    if (is_ec) {
        const char *crv = json_string_value(json_object_get(key, "crv"));
        if (!crv || strcmp(crv, "P-256") != 0)
            return 0;
    }
    unsigned family = is_rsa ? (WR_JWT_RS256 | WR_JWT_RS384 | WR_JWT_RS512 | WR_JWT_PS256)
                             : WR_JWT_ES256;
    unsigned algs = family;
    if (jalg) {
        algs = wr_jwt_alg_from_name(json_string_value(jalg)) & family;
        if (!algs)
            return 0;
    }
    static const char *const rsa_m[] = {"kty", "n", "e"};
    static const char *const ec_m[] = {"kty", "crv", "x", "y"};
    cjose_jwk_t *jwk = is_rsa ? jwks_import(key, rsa_m, 3) : jwks_import(key, ec_m, 4);
    if (!jwk)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "keys[%zu]: invalid %s public key", idx, kty);
    cjose_err cerr;
    size_t bits = cjose_jwk_get_keysize(jwk, &cerr);
    if (is_rsa && bits < 2048) {
        cjose_jwk_release(jwk);
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "keys[%zu]: RSA key of %zu bits (at least 2048 needed)", idx, bits);
    }
    if (is_ec && bits != 256) {
        cjose_jwk_release(jwk);
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "keys[%zu]: invalid P-256 key", idx);
    }
    k->jwk = jwk;
    k->kty = is_rsa ? CJOSE_JWK_KTY_RSA : CJOSE_JWK_KTY_EC;
    k->algs = algs;
    k->sig_len = is_rsa ? (bits + 7) / 8 : 64;
    k->kid = jkid ? wr_strdup(json_string_value(jkid)) : NULL;
    if (jkid && !k->kid) {
        cjose_jwk_release(jwk);
        return wr_error_set(err, WEIR_ENOMEM, JWKS_SRC, 0, 0, "out of memory");
    }
    return 1;
}

int wr_jwks_parse(wr_jwks **out, const char *json, size_t len, weir_error *err)
{
    if (!out || (!json && len))
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0, "invalid argument");
    *out = NULL;
    if (len > WR_JWKS_MAX_BYTES)
        return wr_error_set(err, WEIR_ELIMIT, JWKS_SRC, 0, 0,
                            "JWK Set of %zu bytes is larger than the %zu byte limit", len,
                            WR_JWKS_MAX_BYTES);
    json_t *doc = NULL;
    int line = 0, col = 0;
    char msg[128] = "";
    int rc = wr_json_fast_parse(&doc, json ? json : "", len, JWT_JSON_DEPTH, &line, &col, msg,
                                sizeof msg);
    if (rc == WEIR_ENOMEM)
        return wr_error_set(err, rc, JWKS_SRC, 0, 0, "out of memory");
    if (rc != 0)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, line, col, "JWK Set is not JSON: %s",
                            msg);
    json_t *arr = json_object_get(doc, "keys");
    if (!json_is_array(arr)) {
        json_decref(doc);
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "JWK Set must be an object with a \"keys\" array");
    }
    size_t n = json_array_size(arr);
    if (n > WR_JWKS_MAX_KEYS) {
        json_decref(doc);
        return wr_error_set(err, WEIR_ELIMIT, JWKS_SRC, 0, 0,
                            "JWK Set has %zu keys, more than the limit of %d", n,
                            WR_JWKS_MAX_KEYS);
    }
    wr_jwks *k = wr_calloc(1, sizeof *k);
    if (k)
        k->keys = wr_calloc(n ? n : 1, sizeof *k->keys);
    if (!k || !k->keys) {
        free(k);
        json_decref(doc);
        return wr_error_set(err, WEIR_ENOMEM, JWKS_SRC, 0, 0, "out of memory");
    }
    atomic_init(&k->refs, 1);
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int r = jwks_key_parse(&k->keys[k->n], json_array_get(arr, i), i, err);
        if (r < 0)
            rc = r;
        else if (r == 0)
            k->skipped++;
        else
            k->n++;
    }
    json_decref(doc);
    if (rc == 0 && k->n == 0)
        rc = wr_error_set(err, WEIR_ENOTFOUND, JWKS_SRC, 0, 0,
                          "JWK Set has no usable signing key (RSA >= 2048 bits or EC P-256; "
                          "%zu skipped)", k->skipped);
    if (rc != 0) {
        wr_jwks_unref(k);
        return rc;
    }
    *out = k;
    return 0;
}

/* ------------------------------------------------------------------ verification */

typedef struct jwt_parts {
    const char *seg[3];
    size_t len[3];
} jwt_parts;

#define B64URL_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

static int jwt_split(jwt_parts *p, const char *t, size_t len, weir_error *err)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && t[i] != '.') {
            if (!strchr(B64URL_ALPHABET, t[i]) || t[i] == '\0')
                return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                                    "token is not a compact JWS (a character outside "
                                    "base64url)");
            continue;
        }
        if (n == 3)
            return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                                "token has more than three segments (JWE or garbage?)");
        p->seg[n] = t + start;
        p->len[n] = i - start;
        n++;
        start = i + 1;
    }
    if (n != 3)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token has %d segment%s, a compact JWS has three", n,
                            n == 1 ? "" : "s");
    if (p->len[0] == 0 || p->len[1] == 0)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token has an empty header or payload");
    if (p->len[2] == 0)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token has no signature (unsigned tokens are refused)");
    static const char *const what[] = {"header", "payload", "signature"};
    for (int i = 0; i < 3; i++) /* before cjose, whose decoder asserts on some of these */
        if (p->len[i] % 4 == 1 || !b64url_ok(p->seg[i], p->len[i]))
            return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                                "token %s is not valid base64url", what[i]);
    return 0;
}

typedef struct jwt_header {
    unsigned alg;
    char kid[WR_JWT_MAX_KID + 1];
    int has_kid;
} jwt_header;

static int jwt_header_parse(jwt_header *h, const jwt_parts *p, unsigned allowed,
                            weir_error *err)
{
    char show[JWT_MAX_NAME + 8];
    size_t n = 0;
    unsigned char *raw = b64url_decode_dup(p->seg[0], p->len[0], &n);
    if (!raw)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token header is not valid base64url");
    json_t *hdr = NULL;
    int bad = jwt_parse_object(&hdr, (const char *)raw, n);
    free(raw);
    if (bad)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token header is not a JSON object");
    int rc = 0;
    json_t *jalg = json_object_get(hdr, "alg");
    json_t *jkid = json_object_get(hdr, "kid");
    const char *alg = json_string_value(jalg);
    h->alg = wr_jwt_alg_from_name(alg);
    if (!alg)
        rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "token header has no alg");
    else if (strcmp(alg, "none") == 0)
        rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                          "token alg \"none\" is refused: tokens must be signed");
    else if (strncmp(alg, "HS", 2) == 0)
        rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                          "token alg \"%s\" is refused: symmetric (HMAC) algorithms are never "
                          "accepted", jwt_show(show, sizeof show, alg));
    else if (!h->alg)
        rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                          "token alg \"%s\" is not supported (RS256, RS384, RS512, PS256, "
                          "ES256)", jwt_show(show, sizeof show, alg));
    else if (!(h->alg & allowed))
        rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                          "token alg \"%s\" is not allowed by the configuration", alg);
    else if (json_object_get(hdr, "crit"))
        rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                          "token header has \"crit\" extensions, which are not supported");
    else if (jkid && (!json_is_string(jkid) || json_string_length(jkid) == 0 ||
                      json_string_length(jkid) > WR_JWT_MAX_KID ||
                      strlen(json_string_value(jkid)) != json_string_length(jkid)))
        rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                          "token kid must be a string of 1..%d bytes", WR_JWT_MAX_KID);
    if (rc == 0) {
        h->has_kid = jkid != NULL;
        snprintf(h->kid, sizeof h->kid, "%s", jkid ? json_string_value(jkid) : "");
    }
    json_decref(hdr);
    return rc;
}

static int jwt_pick_key(const jwks_key **out, const wr_jwks *keys, const jwt_header *h,
                        weir_error *err)
{
    char show[JWT_MAX_NAME + 8];
    const char *alg = wr_jwt_alg_name(h->alg);
    const jwks_key *named = NULL;
    if (!h->has_kid) {
        if (keys->n != 1)
            return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                                "token has no kid and the JWK Set has %zu keys", keys->n);
        named = &keys->keys[0];
        if (named->kty == jwt_alg_kty(h->alg) && (named->algs & h->alg)) {
            *out = named;
            return 0;
        }
    } else {
        for (size_t i = 0; i < keys->n; i++) {
            const jwks_key *k = &keys->keys[i];
            if (!k->kid || strcmp(k->kid, h->kid) != 0)
                continue;
            named = k;
            if (k->kty == jwt_alg_kty(h->alg) && (k->algs & h->alg)) {
                *out = k;
                return 0;
            }
        }
        if (!named)
            return wr_error_set(err, WEIR_ENOTFOUND, JWT_SRC, 0, 0,
                                "token kid \"%s\" is not in the JWK Set",
                                jwt_show(show, sizeof show, h->kid));
    }
    return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                        "token alg %s does not fit the %s key \"%s\" (key type or key alg "
                        "differs)", alg, named->kty == CJOSE_JWK_KTY_RSA ? "RSA" : "EC",
                        jwt_show(show, sizeof show, named->kid ? named->kid : ""));
}

/* Signature check by cjose; on success *payload = the verified payload (malloc'd). */
static int jwt_check_sig(const jwks_key *key, const jwt_header *h, const jwt_parts *p,
                         const char *token, size_t len, char **payload, size_t *plen,
                         weir_error *err)
{
    unsigned char *sig = NULL;
    size_t slen = 0;
    if (!(sig = b64url_decode_dup(p->seg[2], p->len[2], &slen)))
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token signature is not valid base64url");
    free(sig);
    if (slen != key->sig_len)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token signature has the wrong length for %s with this key",
                            wr_jwt_alg_name(h->alg));
    cjose_err cerr;
    cjose_jws_t *jws = cjose_jws_import(token, len, &cerr);
    if (!jws)
        return wr_error_set(err, cerr.code == CJOSE_ERR_NO_MEMORY ? WEIR_ENOMEM : WEIR_EINVAL,
                            JWT_SRC, 0, 0, "token is not a valid JWS");
    int rc = 0;
    const char *calg = cjose_header_get(cjose_jws_get_protected(jws), CJOSE_HDR_ALG, &cerr);
    uint8_t *pt = NULL;
    size_t ptn = 0;
    if (!calg || strcmp(calg, wr_jwt_alg_name(h->alg)) != 0)
        rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "token header is ambiguous");
    else if (!cjose_jws_verify(jws, key->jwk, &cerr))
        rc = wr_error_set(err, cerr.code == CJOSE_ERR_NO_MEMORY ? WEIR_ENOMEM : WEIR_EINVAL,
                          JWT_SRC, 0, 0, "token signature does not verify (%s)",
                          wr_jwt_alg_name(h->alg));
    else if (!cjose_jws_get_plaintext(jws, &pt, &ptn, &cerr) ||
             !(*payload = wr_strndup((const char *)pt, ptn)))
        rc = wr_error_set(err, WEIR_ENOMEM, JWT_SRC, 0, 0, "out of memory");
    *plen = ptn;
    cjose_jws_release(jws);
    return rc;
}

/* -1 missing, 0 ok, 1 present but not a number. */
static int jwt_time_claim(const json_t *claims, const char *name, double *out)
{
    json_t *v = json_object_get(claims, name);
    if (!v)
        return -1;
    if (!json_is_number(v))
        return 1;
    *out = json_number_value(v);
    return 0;
}

static int jwt_check_times(const json_t *c, const wr_jwt_rules *r, weir_error *err)
{
    double now = (double)(r->now ? r->now : time(NULL)), lw = r->leeway_seconds, t = 0;
    int st = jwt_time_claim(c, "exp", &t);
    if (st == 1)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "token exp is not a number");
    if (st == -1 && !r->exp_optional)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "token has no exp claim");
    if (st == 0 && now > t + lw)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token has expired (beyond the %d s leeway)", r->leeway_seconds);
    if ((st = jwt_time_claim(c, "nbf", &t)) == 1)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "token nbf is not a number");
    if (st == 0 && t > now + lw)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token is not valid yet (nbf is beyond the %d s leeway)",
                            r->leeway_seconds);
    if ((st = jwt_time_claim(c, "iat", &t)) == 1)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "token iat is not a number");
    if (st == 0 && t > now + lw)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token was issued in the future (iat beyond the %d s leeway)",
                            r->leeway_seconds);
    return 0;
}

static int jwt_aud_ok(const json_t *aud, const char *const *want)
{
    for (size_t w = 0; want[w]; w++) {
        if (json_is_string(aud) && strcmp(json_string_value(aud), want[w]) == 0)
            return 1;
        for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud); i++) {
            const char *a = json_string_value(json_array_get(aud, i));
            if (a && strcmp(a, want[w]) == 0)
                return 1;
        }
    }
    return 0;
}

static int jwt_check_claims(const json_t *c, const wr_jwt_rules *r, weir_error *err)
{
    char show[JWT_MAX_NAME + 8];
    int rc = jwt_check_times(c, r, err);
    if (rc != 0)
        return rc;
    json_t *iss = json_object_get(c, "iss");
    if (!json_is_string(iss))
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "token has no iss claim");
    if (strlen(json_string_value(iss)) != json_string_length(iss) ||
        strcmp(json_string_value(iss), r->issuer) != 0)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token issuer \"%s\" is not the configured issuer",
                            jwt_show(show, sizeof show, json_string_value(iss)));
    json_t *aud = json_object_get(c, "aud");
    if (!aud)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "token has no aud claim");
    if (!jwt_aud_ok(aud, r->audiences))
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token audience is not one of the configured audiences");
    return 0;
}

static int jwt_rules_check(const wr_jwt_rules *r, weir_error *err)
{
    if (!r || r->version != WR_JWT_RULES_VERSION)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "JWT rules missing or of another version");
    if (!r->issuer || !r->issuer[0])
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "JWT rules need an issuer");
    if (!r->audiences || !r->audiences[0] || !r->audiences[0][0])
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "JWT rules need at least one audience");
    if (r->leeway_seconds < 0 || r->leeway_seconds > WR_JWT_MAX_LEEWAY)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "JWT leeway must be 0..%d seconds", WR_JWT_MAX_LEEWAY);
    if (r->algs & ~(unsigned)WR_JWT_ALGS_ALL)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "JWT rules name unknown algs");
    return 0;
}

int wr_jwt_verify(const wr_jwks *keys, const char *token, size_t len, const wr_jwt_rules *rules,
                  json_t **claims_out, weir_error *err)
{
    if (claims_out)
        *claims_out = NULL;
    int rc = jwt_rules_check(rules, err);
    if (rc != 0)
        return rc;
    if (!keys || (!token && len))
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "invalid argument");
    if (len > WR_JWT_MAX_TOKEN)
        return wr_error_set(err, WEIR_ELIMIT, JWT_SRC, 0, 0,
                            "token of %zu bytes is larger than the %zu byte limit", len,
                            WR_JWT_MAX_TOKEN);
    jwt_parts parts;
    jwt_header h;
    const jwks_key *key = NULL;
    unsigned allowed = rules->algs ? rules->algs : (unsigned)WR_JWT_ALGS_ALL;
    if ((rc = jwt_split(&parts, token, len, err)) != 0 ||
        (rc = jwt_header_parse(&h, &parts, allowed, err)) != 0 ||
        (rc = jwt_pick_key(&key, keys, &h, err)) != 0)
        return rc;
    char *payload = NULL;
    size_t plen = 0;
    if ((rc = jwt_check_sig(key, &h, &parts, token, len, &payload, &plen, err)) != 0)
        return rc;
    json_t *claims = NULL;
    int bad = jwt_parse_object(&claims, payload, plen);
    free(payload);
    if (bad)
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                            "token payload is not a JSON object");
    if ((rc = jwt_check_claims(claims, rules, err)) != 0) {
        json_decref(claims);
        return rc;
    }
    if (claims_out)
        *claims_out = claims;
    else
        json_decref(claims);
    return 0;
}

/* ------------------------------------------------------------------ principal */

static int jwt_value_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > JWT_MAX_VALUE)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("+=,.@_-", c)))
            return 0;
    }
    return 1;
}

static const char *jwt_claim_name(wr_jwt_claim c)
{
    switch (c) {
    case WR_JWT_CLAIM_SUB: return "sub";
    case WR_JWT_CLAIM_OID: return "oid";
    case WR_JWT_CLAIM_APPID: return "appid";
    case WR_JWT_CLAIM_ROLES: return "roles";
    }
    return "?";
}

static const char *jwt_table_find(const wr_jwt_map *m, const char *v)
{
    for (size_t i = 0; m->table && i < m->table_len; i++)
        if (m->table[i].value && strcmp(m->table[i].value, v) == 0)
            return m->table[i].principal;
    return NULL;
}

/* Splits "system:serviceaccount:NS:NAME"; 0 when v has that form. */
static int jwt_sa_split(const char *v, char *ns, char *name, size_t cap)
{
    static const char pfx[] = "system:serviceaccount:";
    if (strncmp(v, pfx, sizeof pfx - 1) != 0)
        return -1;
    const char *a = v + sizeof pfx - 1, *colon = strchr(a, ':');
    if (!colon || (size_t)(colon - a) >= cap || strlen(colon + 1) >= cap ||
        strchr(colon + 1, ':'))
        return -1;
    memcpy(ns, a, (size_t)(colon - a));
    ns[colon - a] = '\0';
    strcpy(name, colon + 1);
    return 0;
}

static int jwt_template(const wr_jwt_map *m, const char *v, char *out, size_t cap,
                        weir_error *err)
{
    const char *claim = jwt_claim_name(m->claim);
    char ns[JWT_MAX_VALUE + 1] = "", name[JWT_MAX_VALUE + 1] = "";
    int is_sa = m->claim == WR_JWT_CLAIM_SUB && jwt_sa_split(v, ns, name, sizeof ns) == 0;
    wr_buf b;
    wr_buf_init(&b);
    int rc = 0;
    for (const char *t = m->tmpl; *t && rc == 0;) {
        if (*t != '{' && *t != '}') {
            size_t run = strcspn(t, "{}");
            wr_buf_append(&b, t, run);
            t += run;
            continue;
        }
        const char *sub = NULL;
        size_t skip = 0;
        if (strncmp(t, "{value}", 7) == 0)
            sub = v, skip = 7;
        else if (strncmp(t, "{namespace}", 11) == 0)
            sub = is_sa ? ns : NULL, skip = 11;
        else if (strncmp(t, "{name}", 6) == 0)
            sub = is_sa ? name : NULL, skip = 6;
        if (!skip)
            rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                              "principal template has a brace that is not {value}, "
                              "{namespace} or {name}");
        else if (!sub)
            rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                              "claim %s is not a service-account subject, so the template's "
                              "{namespace}/{name} cannot be filled", claim);
        else if (!jwt_value_ok(sub))
            rc = wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0,
                              "claim %s has characters outside [A-Za-z0-9+=,.@_-] (or is "
                              "empty or longer than %d bytes): refused for the principal "
                              "template", claim, JWT_MAX_VALUE);
        else
            wr_buf_puts(&b, sub);
        t += skip;
    }
    if (rc == 0 && b.oom)
        rc = wr_error_set(err, WEIR_ENOMEM, JWT_SRC, 0, 0, "out of memory");
    if (rc == 0 && b.len + 1 > cap)
        rc = wr_error_set(err, WEIR_ELIMIT, JWT_SRC, 0, 0,
                          "principal of %zu bytes does not fit in %zu", b.len, cap);
    if (rc == 0) {
        memcpy(out, b.data ? b.data : "", b.len);
        out[b.len] = '\0';
    }
    wr_buf_free(&b);
    return rc;
}

static int jwt_emit(const char *p, char *out, size_t cap, weir_error *err)
{
    size_t n = strlen(p);
    if (n + 1 > cap)
        return wr_error_set(err, WEIR_ELIMIT, JWT_SRC, 0, 0,
                            "principal of %zu bytes does not fit in %zu", n, cap);
    memcpy(out, p, n + 1);
    return 0;
}

int wr_jwt_principal(const json_t *claims, const wr_jwt_map *map, char *out, size_t cap,
                     weir_error *err)
{
    if (out && cap)
        out[0] = '\0';
    if (!claims || !map || !out || !cap || (!map->table && !map->tmpl) ||
        (map->table_len && !map->table))
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "invalid argument");
    const char *name = jwt_claim_name(map->claim);
    if (map->claim == WR_JWT_CLAIM_ROLES) {
        json_t *roles = json_object_get(claims, "roles");
        size_t n = json_is_array(roles) ? json_array_size(roles) : 0;
        for (size_t i = 0; i < n; i++) {
            const char *r = json_string_value(json_array_get(roles, i));
            const char *p = r ? jwt_table_find(map, r) : NULL;
            if (p)
                return jwt_emit(p, out, cap, err);
        }
        for (size_t i = 0; map->tmpl && i < n; i++) {
            const char *r = json_string_value(json_array_get(roles, i));
            if (r)
                return jwt_template(map, r, out, cap, err);
        }
        return wr_error_set(err, WEIR_ENOTFOUND, JWT_SRC, 0, 0,
                            n ? "no role in the token's roles claim is mapped to a principal"
                              : "token has no roles claim (array of strings)");
    }
    json_t *jv = json_object_get(claims, name);
    if (!jv && map->claim == WR_JWT_CLAIM_APPID)
        jv = json_object_get(claims, name = "azp");
    const char *v = json_string_value(jv);
    if (!v || strlen(v) != json_string_length(jv))
        return wr_error_set(err, WEIR_ENOTFOUND, JWT_SRC, 0, 0,
                            "token has no %s claim (string)", name);
    const char *p = jwt_table_find(map, v);
    if (p)
        return jwt_emit(p, out, cap, err);
    if (map->tmpl)
        return jwt_template(map, v, out, cap, err);
    return wr_error_set(err, WEIR_ENOTFOUND, JWT_SRC, 0, 0,
                        "the token's %s is not mapped to a principal", name);
}

/* ------------------------------------------------------------------ JWK Set source */

struct wr_jwks_source {
    char *path, *url;
    wr_jwks_fetch_fn fetch;
    void *fetch_ctx;
    int refresh_s, kid_s, poll_s, timeout_s;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    wr_jwks *cur;            /* under mu */
    int stop, kick;          /* under mu */
    double last_kick;        /* under mu: monotonic seconds */
    unsigned long ok, failed;
    struct stat seen;        /* the file as last loaded (thread only) */
};

static double jwks_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int jwks_read_file(const char *path, wr_buf *b, struct stat *st, weir_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wr_error_set(err, WEIR_EIO, path, 0, 0, "cannot open JWK Set file: %s",
                            strerror(errno));
    int rc = 0;
    if (fstat(fd, st) != 0)
        rc = wr_error_set(err, WEIR_EIO, path, 0, 0, "cannot stat: %s", strerror(errno));
    else if (!S_ISREG(st->st_mode))
        rc = wr_error_set(err, WEIR_EIO, path, 0, 0, "not a regular file");
    else if ((size_t)st->st_size > WR_JWKS_MAX_BYTES)
        rc = wr_error_set(err, WEIR_ELIMIT, path, 0, 0,
                          "JWK Set file is larger than %zu bytes", WR_JWKS_MAX_BYTES);
    char chunk[8192];
    while (rc == 0) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = wr_error_set(err, WEIR_EIO, path, 0, 0, "read failed: %s", strerror(errno));
        else if (n == 0)
            break;
        else if (b->len + (size_t)n > WR_JWKS_MAX_BYTES)
            rc = wr_error_set(err, WEIR_ELIMIT, path, 0, 0,
                              "JWK Set file is larger than %zu bytes", WR_JWKS_MAX_BYTES);
        else if (wr_buf_append(b, chunk, (size_t)n) != 0)
            rc = wr_error_set(err, WEIR_ENOMEM, path, 0, 0, "out of memory");
    }
    close(fd);
    return rc;
}

/* One load: file or URL -> parsed set. */
static int jwks_load(wr_jwks_source *s, wr_jwks **out, struct stat *st, weir_error *err)
{
    wr_buf b;
    wr_buf_init(&b);
    int rc;
    if (s->path) {
        rc = jwks_read_file(s->path, &b, st, err);
    } else {
        rc = s->fetch(s->fetch_ctx, s->url, WR_JWKS_MAX_BYTES, s->timeout_s, &b, err);
        if (rc == 0 && b.len > WR_JWKS_MAX_BYTES)
            rc = wr_error_set(err, WEIR_ELIMIT, s->url, 0, 0,
                              "JWK Set is larger than %zu bytes", WR_JWKS_MAX_BYTES);
    }
    if (rc == 0) {
        rc = wr_jwks_parse(out, b.data, b.len, err);
        if (rc != 0 && err)
            snprintf(err->source, sizeof err->source, "%s", s->path ? s->path : s->url);
    }
    wr_buf_free(&b);
    return rc;
}

static int jwks_file_changed(const wr_jwks_source *s)
{
    struct stat st;
    if (stat(s->path, &st) != 0)
        return 0; /* gone: keep what we have, the refresh will report it */
    return st.st_ino != s->seen.st_ino || st.st_dev != s->seen.st_dev ||
           st.st_size != s->seen.st_size || st.st_mtim.tv_sec != s->seen.st_mtim.tv_sec ||
           st.st_mtim.tv_nsec != s->seen.st_mtim.tv_nsec;
}

static void jwks_cond_wait_until(wr_jwks_source *s, double deadline)
{
    struct timespec ts;
    double whole = (double)(long long)deadline;
    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)((deadline - whole) * 1e9);
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

static void *jwks_thread(void *arg)
{
    wr_jwks_source *s = arg;
    double next = jwks_mono() + s->refresh_s;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        double now = jwks_mono();
        double wake = next;
        if (s->path && now + s->poll_s < wake)
            wake = now + s->poll_s;
        while (!s->stop && !s->kick && now < wake) {
            jwks_cond_wait_until(s, wake);
            now = jwks_mono();
        }
        if (s->stop)
            break;
        int due = s->kick || now >= next;
        s->kick = 0;
        pthread_mutex_unlock(&s->mu);
        if (!due && !(s->path && jwks_file_changed(s))) {
            pthread_mutex_lock(&s->mu);
            continue;
        }
        wr_jwks *fresh = NULL;
        struct stat st;
        weir_error e;
        int rc = jwks_load(s, &fresh, &st, &e);
        pthread_mutex_lock(&s->mu);
        if (rc == 0) {
            wr_jwks *old = s->cur;
            s->cur = fresh;
            s->ok++;
            if (s->path)
                s->seen = st;
            next = jwks_mono() + s->refresh_s;
            pthread_mutex_unlock(&s->mu);
            wr_jwks_unref(old);
            pthread_mutex_lock(&s->mu);
        } else {
            s->failed++;
            if (s->path && rc != WEIR_EIO)
                s->seen = st; /* a bad file is not re-read until it changes again */
            next = jwks_mono() + (s->refresh_s < 60 ? s->refresh_s : 60);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* http(s) URL check: https anywhere, http only to a loopback host; no userinfo. */
static int jwks_url_ok(const char *url, weir_error *err)
{
    int https = strncmp(url, "https://", 8) == 0;
    if (!https && strncmp(url, "http://", 7) != 0)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "JWK Set URL must start with https://");
    const char *a = url + (https ? 8 : 7);
    size_t alen = strcspn(a, "/?#");
    if (alen == 0 || memchr(a, '@', alen))
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "JWK Set URL must have a host and no user:password@");
    for (size_t i = 0; url[i]; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
            return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                                "JWK Set URL has a space or control character");
    if (https)
        return 0;
    char host[256];
    size_t hlen;
    if (a[0] == '[') {
        const char *end = memchr(a, ']', alen);
        hlen = end ? (size_t)(end - a) + 1 : alen;
    } else {
        hlen = strcspn(a, ":/?#");
    }
    if (hlen >= sizeof host)
        hlen = sizeof host - 1;
    memcpy(host, a, hlen);
    host[hlen] = '\0';
    int loop = strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0;
    if (strncmp(host, "127.", 4) == 0) {
        int dots = 0, ok = 1;
        for (const char *c = host; *c; c++) {
            dots += *c == '.';
            ok &= (*c == '.' || (*c >= '0' && *c <= '9'));
        }
        loop = ok && dots == 3;
    }
    if (!loop)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "JWK Set URL must use https:// (plain http:// is allowed only "
                            "for a loopback host)");
    return 0;
}

static int jwks_opts_check(const wr_jwks_source_opts *o, weir_error *err)
{
    if (!o || o->version != WR_JWKS_SOURCE_OPTS_VERSION)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "JWK Set source options missing or of another version");
    if (!o->path == !o->url)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "a JWK Set source needs exactly one of a file and a URL");
    if (o->url && !o->fetch)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "a JWK Set URL source needs a fetch function");
    if (o->refresh_seconds < 0 || o->kid_refresh_seconds < 0 || o->poll_seconds < 0 ||
        o->timeout_seconds < 0)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0,
                            "JWK Set source intervals must not be negative");
    return o->url ? jwks_url_ok(o->url, err) : 0;
}

int wr_jwks_source_new(wr_jwks_source **out, const wr_jwks_source_opts *o, weir_error *err)
{
    if (!out)
        return wr_error_set(err, WEIR_EINVAL, JWKS_SRC, 0, 0, "invalid argument");
    *out = NULL;
    int rc = jwks_opts_check(o, err);
    if (rc != 0)
        return rc;
    wr_jwks_source *s = wr_calloc(1, sizeof *s);
    if (!s)
        return wr_error_set(err, WEIR_ENOMEM, JWKS_SRC, 0, 0, "out of memory");
    s->path = o->path ? wr_strdup(o->path) : NULL;
    s->url = o->url ? wr_strdup(o->url) : NULL;
    s->fetch = o->fetch;
    s->fetch_ctx = o->fetch_ctx;
    s->refresh_s = o->refresh_seconds ? o->refresh_seconds : 3600;
    s->kid_s = o->kid_refresh_seconds ? o->kid_refresh_seconds : 30;
    s->poll_s = o->poll_seconds ? o->poll_seconds : 5;
    s->timeout_s = o->timeout_seconds ? o->timeout_seconds : 5;
    s->last_kick = -1e9;
    if ((o->path && !s->path) || (o->url && !s->url)) {
        free(s->path);
        free(s->url);
        free(s);
        return wr_error_set(err, WEIR_ENOMEM, JWKS_SRC, 0, 0, "out of memory");
    }
    rc = jwks_load(s, &s->cur, &s->seen, err);
    pthread_condattr_t ca;
    int threaded = 0;
    if (rc == 0) {
        s->ok = 1;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, &ca);
        pthread_condattr_destroy(&ca);
        threaded = 1;
        if (pthread_create(&s->thread, NULL, jwks_thread, s) != 0)
            rc = wr_error_set(err, WEIR_ENOMEM, JWKS_SRC, 0, 0,
                              "cannot start the JWK Set refresh thread");
    }
    if (rc != 0) {
        if (threaded) {
            pthread_cond_destroy(&s->cv);
            pthread_mutex_destroy(&s->mu);
        }
        wr_jwks_unref(s->cur);
        free(s->path);
        free(s->url);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void wr_jwks_source_free(wr_jwks_source *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    wr_jwks_unref(s->cur);
    free(s->path);
    free(s->url);
    free(s);
}

wr_jwks *wr_jwks_source_get(wr_jwks_source *s)
{
    pthread_mutex_lock(&s->mu);
    wr_jwks *k = wr_jwks_ref(s->cur);
    pthread_mutex_unlock(&s->mu);
    return k;
}

int wr_jwks_source_kick(wr_jwks_source *s)
{
    int scheduled = 0;
    pthread_mutex_lock(&s->mu);
    double now = jwks_mono();
    if (now - s->last_kick >= s->kid_s) {
        s->last_kick = now;
        s->kick = 1;
        scheduled = 1;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return scheduled;
}

void wr_jwks_source_stats(wr_jwks_source *s, unsigned long *ok, unsigned long *failed)
{
    pthread_mutex_lock(&s->mu);
    if (ok)
        *ok = s->ok;
    if (failed)
        *failed = s->failed;
    pthread_mutex_unlock(&s->mu);
}

int wr_jwt_verify_source(wr_jwks_source *s, const char *token, size_t len,
                         const wr_jwt_rules *rules, json_t **claims_out, weir_error *err)
{
    if (!s) {
        if (claims_out)
            *claims_out = NULL;
        return wr_error_set(err, WEIR_EINVAL, JWT_SRC, 0, 0, "invalid argument");
    }
    wr_jwks *k = wr_jwks_source_get(s);
    int rc = wr_jwt_verify(k, token, len, rules, claims_out, err);
    wr_jwks_unref(k);
    if (rc == WEIR_ENOTFOUND)
        wr_jwks_source_kick(s);
    return rc;
}
