/* test_validators.c - checksums, registries and context rules behind the detectors. */
#include "helpers.h"
#include "scan/validators.h"

#define OK(call) assert_true(call)
#define NO(call) assert_false(call)

static void test_luhn_and_cards(void **state)
{
    (void)state;
    OK(wr_luhn_ok("4111111111111111", 16));
    NO(wr_luhn_ok("4111111111111112", 16));
    NO(wr_luhn_ok("", 0));
    NO(wr_luhn_ok("41111111a1111111", 16));
    OK(wr_card_ok("4111111111111111", 16));    /* Visa */
    OK(wr_card_ok("4222222222222", 13));       /* Visa, 13 digits */
    OK(wr_card_ok("5555555555554444", 16));    /* Mastercard */
    OK(wr_card_ok("2223003122003222", 16));    /* Mastercard 2-series */
    OK(wr_card_ok("378282246310005", 15));     /* Amex */
    OK(wr_card_ok("6011111111111117", 16));    /* Discover */
    OK(wr_card_ok("3530111333300000", 16));    /* JCB */
    OK(wr_card_ok("30569309025904", 14));      /* Diners */
    NO(wr_card_ok("378282246310005", 15 - 1)); /* truncated */
    NO(wr_card_ok("4111111111111112", 16));    /* Luhn */
    NO(wr_card_ok("3782822463100050", 16));    /* Amex prefix, wrong length */
    NO(wr_card_ok("9111111111111111", 16));    /* no issuer starts with 9 */
    NO(wr_card_ok("0000000000000000", 16));    /* Luhn-valid but all one digit */
    NO(wr_card_ok("41111111111111", 14));      /* Visa is 13, 16 or 19 */
}

static void test_iban(void **state)
{
    (void)state;
    OK(wr_iban_ok("DE89370400440532013000", 22));
    OK(wr_iban_ok("GB82WEST12345698765432", 22));
    OK(wr_iban_ok("NO9386011117947", 15));
    OK(wr_iban_ok("FR1420041010050500013M02606", 27));
    NO(wr_iban_ok("DE89370400440532013001", 22)); /* mod 97 */
    NO(wr_iban_ok("DE8937040044053201300", 21));  /* DE is 22 long */
    NO(wr_iban_ok("XX89370400440532013000", 22)); /* no such country */
    NO(wr_iban_ok("de89370400440532013000", 22)); /* callers upper-case first */
    assert_int_equal(wr_iban_length("DE"), 22);
    assert_int_equal(wr_iban_length("RU"), 33);
    assert_int_equal(wr_iban_length("US"), 0);
}

static void test_us_numbers(void **state)
{
    (void)state;
    OK(wr_ssn_ok("536228716"));
    NO(wr_ssn_ok("000123456")); /* area 000 */
    NO(wr_ssn_ok("666123456")); /* area 666 */
    NO(wr_ssn_ok("912345678")); /* 9xx is ITIN territory */
    NO(wr_ssn_ok("536008716")); /* group 00 */
    NO(wr_ssn_ok("536220000")); /* serial 0000 */
    NO(wr_ssn_ok("078051120")); /* Woolworth wallet card */
    NO(wr_ssn_ok("123456789"));
    NO(wr_ssn_ok("111111111"));
    OK(wr_itin_ok("912701234"));
    OK(wr_itin_ok("900501234"));
    NO(wr_itin_ok("912931234")); /* group 93 is not issued */
    NO(wr_itin_ok("912401234"));
    NO(wr_itin_ok("812701234"));
    OK(wr_aba_ok("021000021")); /* JPMorgan Chase NY */
    OK(wr_aba_ok("011000015")); /* Federal Reserve Boston */
    NO(wr_aba_ok("021000022")); /* checksum */
    NO(wr_aba_ok("000000000")); /* prefix 00 */
    NO(wr_aba_ok("500000005")); /* prefix 50 is not a Fed district */
}

static void test_other_national(void **state)
{
    (void)state;
    OK(wr_nhs_ok("9434765919"));
    NO(wr_nhs_ok("9434765910"));
    NO(wr_nhs_ok("0000000000"));
    OK(wr_sin_ok("130692544"));
    NO(wr_sin_ok("130692545")); /* Luhn */
    NO(wr_sin_ok("046454286")); /* Luhn-valid, but 0 is not an issued first digit */
    OK(wr_vin_ok("1HGCM82633A004352"));
    OK(wr_vin_ok("1M8GDM9AXKP042788")); /* check digit X */
    NO(wr_vin_ok("1M8GDM9AXKP042789"));
    NO(wr_vin_ok("1HGCM82633A00435I")); /* I is not in the VIN alphabet */
    NO(wr_vin_ok("11111111111111111")); /* no letter */
    OK(wr_country_ok("DE"));
    OK(wr_country_ok("XK"));
    NO(wr_country_ok("XX"));
    NO(wr_country_ok("UK")); /* the ISO code is GB */
}

static void test_dates_and_context(void **state)
{
    (void)state;
    OK(wr_date_ok(2000, 2, 29));
    NO(wr_date_ok(1900, 2, 29));
    NO(wr_date_ok(2023, 4, 31));
    NO(wr_date_ok(2023, 13, 1));
    const char *t = "Customer SSN: 536-22-8716";
    size_t s = 14, e = strlen(t);
    static const char *const w[] = {"ssn", NULL};
    static const char *const w2[] = {"customer", NULL};
    static const char *const w3[] = {"cust", NULL};
    OK(wr_context_near(t, strlen(t), s, e, 8, 0, w));
    NO(wr_context_near(t, strlen(t), s, e, 2, 0, w));   /* too far */
    OK(wr_context_near(t, strlen(t), s, e, 20, 0, w2));
    NO(wr_context_near(t, strlen(t), s, e, 20, 0, w3)); /* whole words only */
    OK(wr_first_name_ok("Mary", 4));
    OK(wr_first_name_ok("Aaron", 5));
    NO(wr_first_name_ok("mary", 4));
    NO(wr_first_name_ok("Table", 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_luhn_and_cards),
        cmocka_unit_test(test_iban),
        cmocka_unit_test(test_us_numbers),
        cmocka_unit_test(test_other_national),
        cmocka_unit_test(test_dates_and_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
