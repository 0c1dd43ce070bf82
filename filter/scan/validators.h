/*
 * validators.h - checksum and context validators behind the builtin detectors. Internal.
 *
 * Two layers:
 *   - pure checks on a value (digits only or the raw token): wr_luhn_ok, wr_iban_ok, ...
 *     They take a pointer and a length, never read outside it, and are exposed for tests;
 *   - wr_validate_* functions with the scanner's wr_validate_fn signature: they get the
 *     whole normalized subject and the match span, strip separators, run the checks and
 *     look at context around the match when the format alone is too ambiguous.
 * Every function here is pure and thread-safe (date_of_birth reads the clock).
 */
#ifndef WEIR_SCAN_VALIDATORS_H
#define WEIR_SCAN_VALIDATORS_H

#include <stddef.h>

/* ----------------------------------------------------------------- value checks */

/* Luhn (mod 10) over n ASCII digits. 0 when n == 0 or a byte is not a digit. */
int wr_luhn_ok(const char *digits, size_t n);

/* Card number of n digits: known IIN range for that length (Visa, Mastercard incl. 2-series,
 * Amex, Discover, Diners, JCB, UnionPay, Maestro, Mir, RuPay) and Luhn. */
int wr_card_ok(const char *digits, size_t n);

/* IBAN without spaces: known country, that country's length, mod 97 == 1. Upper case. */
int wr_iban_ok(const char *s, size_t n);
/* Registered IBAN length for a two-letter country code, 0 when none. */
int wr_iban_length(const char *cc);

/* US SSN of 9 digits: area not 000/666/900-999, group not 00, serial not 0000, not one of
 * the well-known invalid or advertised numbers, not one digit repeated. */
int wr_ssn_ok(const char *d9);
/* US ITIN of 9 digits: 9xx, group 50-65, 70-88, 90-92, 94-99. */
int wr_itin_ok(const char *d9);
/* ABA routing number of 9 digits: 3-7-1 weighted checksum and a Federal Reserve prefix
 * (01-12, 21-32, 61-72, 80). */
int wr_aba_ok(const char *d9);
/* NHS number of 10 digits: mod 11 check digit (a computed 10 is invalid). */
int wr_nhs_ok(const char *d10);
/* Canadian SIN of 9 digits: first digit not 0 or 8, Luhn. */
int wr_sin_ok(const char *d9);
/* VIN of 17 characters: alphabet without I/O/Q, check digit at position 9, model-year code,
 * at least one digit and one letter. */
int wr_vin_ok(const char *s17);
/* ISO 3166-1 alpha-2 code (upper case), as used in BIC/SWIFT codes (plus XK). */
int wr_country_ok(const char *cc);
/* Real calendar date. year >= 1. */
int wr_date_ok(int year, int month, int day);

/* Case-insensitive: is one of the words in `words` (NULL-terminated) within `before`
 * bytes before s[start] or `after` bytes after s[end]? Words match whole (a word
 * ending in a letter must not be followed by one). Used for context-gated detectors. */
int wr_context_near(const char *s, size_t len, size_t start, size_t end, size_t before,
                    size_t after, const char *const *words);

/* Is `w` (n bytes, e.g. "Mary") in the first-name list? Case-sensitive on the first letter
 * (names are capitalised), exact otherwise. */
int wr_first_name_ok(const char *w, size_t n);

/* ----------------------------------------------------------------- scanner validators */

int wr_validate_email(const char *s, size_t len, size_t start, size_t end);
int wr_validate_phone(const char *s, size_t len, size_t start, size_t end);
int wr_validate_credit_card(const char *s, size_t len, size_t start, size_t end);
int wr_validate_us_ssn(const char *s, size_t len, size_t start, size_t end);
int wr_validate_us_itin(const char *s, size_t len, size_t start, size_t end);
int wr_validate_iban(const char *s, size_t len, size_t start, size_t end);
int wr_validate_us_bank_routing(const char *s, size_t len, size_t start, size_t end);
int wr_validate_ipv4(const char *s, size_t len, size_t start, size_t end);
int wr_validate_ipv6(const char *s, size_t len, size_t start, size_t end);
int wr_validate_mac(const char *s, size_t len, size_t start, size_t end);
int wr_validate_url(const char *s, size_t len, size_t start, size_t end);
int wr_validate_aws_access_key_id(const char *s, size_t len, size_t start, size_t end);
int wr_validate_aws_secret_key(const char *s, size_t len, size_t start, size_t end);
int wr_validate_jwt(const char *s, size_t len, size_t start, size_t end);
int wr_validate_api_token(const char *s, size_t len, size_t start, size_t end);
int wr_validate_date_of_birth(const char *s, size_t len, size_t start, size_t end);
/* Anchor for email: a match holding the '@' at `at` starts where the local-part run begins. */
int wr_anchor_email(const char *s, size_t len, size_t at, size_t *start);
/* 0 when s[from..to) holds no birth cue word where the date_of_birth regex could start. */
int wr_window_date_of_birth(const char *s, size_t len, size_t from, size_t to);
int wr_validate_swift(const char *s, size_t len, size_t start, size_t end);
int wr_validate_uk_nhs(const char *s, size_t len, size_t start, size_t end);
int wr_validate_ca_sin(const char *s, size_t len, size_t start, size_t end);
int wr_validate_uk_nino(const char *s, size_t len, size_t start, size_t end);
int wr_validate_vin(const char *s, size_t len, size_t start, size_t end);
int wr_validate_address(const char *s, size_t len, size_t start, size_t end);
int wr_validate_person_name(const char *s, size_t len, size_t start, size_t end);

#endif
