/*
 * fuzz_jwt.c - bytes -> the JWT verifier, the JWK Set parser and the principal mapper
 * (filter/identity/jwt.c). The first byte picks what the rest is:
 *
 *   'K'   a JWK Set: parsed; when it parses, the fixed good tokens are verified against it
 *   'C'   a claims object: mapped to a principal by table and by template; a templated
 *         principal must never gain ARN segments (':' or '/')
 *   else  a token, verified against the fixed JWK Set below (one RSA-2048, one P-256 key)
 *
 * Every refusal must be one of the documented codes with a message and no claims; an
 * accepted token must carry the configured issuer. The corpus holds tokens signed with the
 * private halves of the fixed keys, so the signature and claim checks are reached.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "identity/jwt.h"

#define ISS "https://issuer.fuzz"
#define NOW ((time_t)1700000000)

static const char fixed_jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"fz-rsa\",\"use\":\"sig\",\"n\":\"nI1l7Rdsamwefb7qpeH"
    "UURWSOw4v4rmRjDnJKvXG46_VCgy6umHY1pt-y4As81_wEy_uC2JBvlQSQfLcGLXA7ILAaU5HhnPLVbERq0B-LXLv7"
    "AAoSbKygSQcGyMtYcqBdBs1Z-PNP-WKJWng0ep9Xarc087BG6bs86uKH54T2bcmfNGNyS4kLf-q7sPUtBkL3fHUn1K"
    "xh91GqbIrRmy7lfKrfLWxMHo6F0P5IwXJe6BMzbrBtsffF8CTNT4uJy3iCplgW7CGo8oNS7qH7sZMK6mAwcVlUO24G"
    "qXdxKPouEn5uwmZgx1t86apRSb5VBCpsUCmNHytmG5DMZPwyqWErw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\""
    "crv\":\"P-256\",\"kid\":\"fz-ec\",\"x\":\"XdOJHSIyxKmyPY203HT7td3MnuZX9ZwzapvevEdjxKY\",\""
    "y\":\"Mov4NIKGNC9wk0DrMlRi_1PFn65QDO175xLEfnGf5gs\"}]}";

static const char *const fixed_tokens[] = {
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZ6LXJzYSJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5"
    "mdXp6IiwiYXVkIjpbIndlaXIiLCJ4Il0sInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDpuczpzYSIsImV4cCI"
    "6NDEwMjQ0NDgwMCwibmJmIjoxNjAwMDAwMDAwLCJpYXQiOjE2MDAwMDAwMDAsIm9pZCI6ImFiYy0xMjMiLCJyb2x"
    "lcyI6WyJSMSJdfQ.BvCJMkLNjhWfOOdrLjsJ-yvMcJA4EtAKsfaQkHVyJGYHrrxI3g-oK1QmY62ka5NpjgNgAUBu"
    "ZW9tUREwR87wLEzj0dy9KOYFYyluaKz8KNyl6Y6-_x58UOkl4oXZuNbQAu6jtlk5B0duhL5ve9UZH0Cspj2o13Dx"
    "W0-lWciJJ_Y2Wp5DWD2YqVTxVXgKa_FhnvoFUbRjxHvMNwwK4lLfBKglEC9dc0FmkUOjUE2z8X4Jx7dlOXxcbJGe"
    "uJWWdvsHkp7C2G1mnt_9WkLH_ZyyFisfdULx4xAClY2GxEXYiVbubNlED06j7A0Gv4RzHSGtaPuwvDcd9Ujvw75y"
    "i7CdiQ",
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZ6LWVjIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5m"
    "dXp6IiwiYXVkIjpbIndlaXIiLCJ4Il0sInN1YiI6InN5c3RlbTpzZXJ2aWNlYWNjb3VudDpuczpzYSIsImV4cCI6"
    "NDEwMjQ0NDgwMCwibmJmIjoxNjAwMDAwMDAwLCJpYXQiOjE2MDAwMDAwMDAsIm9pZCI6ImFiYy0xMjMiLCJyb2xl"
    "cyI6WyJSMSJdfQ.bUA6nGWiBPqADRewgZqaHRLkBITwTvvx4Gm9Fr_ZXXeThx5L-j_Yfa2eWl8jmqi4lzMbf1N4O"
    "ZLsx38SPqoZNA",
};

static const char *const audiences[] = {"weir", NULL};

static wr_jwt_rules rules(void)
{
    wr_jwt_rules r = WR_JWT_RULES_INIT;
    r.issuer = ISS;
    r.audiences = audiences;
    r.now = NOW;
    return r;
}

static void check_verify(const wr_jwks *k, const char *t, size_t n)
{
    wr_jwt_rules r = rules();
    weir_error e = {0};
    json_t *c = (json_t *)&e;
    int rc = wr_jwt_verify(k, t, n, &r, &c, &e);
    if (rc == 0) {
        const char *iss = json_string_value(json_object_get(c, "iss"));
        if (!json_is_object(c) || !iss || strcmp(iss, ISS) != 0)
            abort();
        json_decref(c);
        return;
    }
    if (c || !e.text[0] ||
        (rc != WEIR_EINVAL && rc != WEIR_ENOTFOUND && rc != WEIR_ELIMIT && rc != WEIR_ENOMEM))
        abort();
}

static void fuzz_jwks(const char *s, size_t n)
{
    wr_jwks *k = NULL;
    weir_error e = {0};
    int rc = wr_jwks_parse(&k, s, n, &e);
    if (rc != 0) {
        if (k || !e.text[0])
            abort();
        return;
    }
    if (wr_jwks_count(k) < 1 || wr_jwks_count(k) > WR_JWKS_MAX_KEYS)
        abort();
    for (size_t i = 0; i < sizeof fixed_tokens / sizeof *fixed_tokens; i++)
        check_verify(k, fixed_tokens[i], strlen(fixed_tokens[i]));
    wr_jwks_unref(k);
}

static void fuzz_claims(const char *s, size_t n)
{
    json_t *c = json_loadb(s, n, 0, NULL);
    if (!c)
        return;
    static const wr_jwt_map_entry table[] = {{"R1", "arn:aws:iam::111122223333:role/r1"}};
    const char *tmpl = "arn:aws:iam::111122223333:role/{value}";
    for (int claim = WR_JWT_CLAIM_SUB; claim <= WR_JWT_CLAIM_ROLES; claim++) {
        wr_jwt_map maps[] = {
            {(wr_jwt_claim)claim, table, 1, NULL},
            {(wr_jwt_claim)claim, NULL, 0, tmpl},
            {(wr_jwt_claim)claim, NULL, 0, "arn:aws:iam::111122223333:role/{namespace}.{name}"},
        };
        for (size_t m = 0; m < 3; m++) {
            char out[256];
            weir_error e = {0};
            int rc = wr_jwt_principal(c, &maps[m], out, sizeof out, &e);
            if (rc != 0) {
                if (out[0] || !e.text[0])
                    abort();
                continue;
            }
            if (m == 0 && strcmp(out, table[0].principal) != 0)
                abort();
            if (m > 0) { /* the substituted part adds no ARN segment */
                const char *tail = out + strlen("arn:aws:iam::111122223333:role/");
                if (strncmp(out, tmpl, (size_t)(tail - out)) != 0 || strpbrk(tail, ":/{}") ||
                    !*tail)
                    abort();
            }
        }
    }
    json_decref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static wr_jwks *keys;
    if (!keys) {
        weir_error e;
        if (wr_jwks_parse(&keys, fixed_jwks, strlen(fixed_jwks), &e) != 0)
            abort();
        wr_jwt_rules r = rules();
        for (size_t i = 0; i < sizeof fixed_tokens / sizeof *fixed_tokens; i++)
            if (wr_jwt_verify(keys, fixed_tokens[i], strlen(fixed_tokens[i]), &r, NULL, &e) != 0)
                abort(); /* the harness would only test refusals */
    }
    const char *s = (const char *)data + (size ? 1 : 0);
    size_t n = size ? size - 1 : 0;
    if (size && data[0] == 'K')
        fuzz_jwks(s, n);
    else if (size && data[0] == 'C')
        fuzz_claims(s, n);
    else
        check_verify(keys, s, n);
    return 0;
}
