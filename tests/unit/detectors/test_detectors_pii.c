/* test_detectors_pii.c - personal-data detectors: what they find, and what they must not. */
#include "helpers.h"

static void test_email(void **state)
{
    (void)state;
    det_value("email", "jane.doe@example.com");
    det_value("email", "billing+invoices@mail.example.co.uk");
    det_found("email", "write to <ops@example.org>, or a@example.net.", "ops@example.org",
              "a@example.net", (const char *)NULL);
    det_none("email", "user@localhost and @channel");
    det_none("email", "icon@2x.png, logo@3x.jpg");             /* file names */
    det_none("email", "npm i lodash@4.17.21 @types/node@20.1.0"); /* versions */
    det_none("email", "john..smith@example.com");
    det_none("email", "see https://user@example.com/x");         /* URL userinfo */
}

static void test_phone(void **state)
{
    (void)state;
    det_value("phone", "+44 20 7946 0958");
    det_value("phone", "+1 (415) 555-0132");
    det_value("phone", "+44 (0)20 7946 0958");
    det_value("phone", "+14155550132");
    det_value("phone", "(415) 555-0132");
    det_value("phone", "415-555-0176");
    det_value("phone", "1-800-555-0199");
    det_found("phone", "Mobile: 07700 900123", "07700 900123", (const char *)NULL);
    det_none("phone", "07700 900123 units in stock");     /* national form needs a phone word */
    det_none("phone", "call 4155550132");                 /* bare digit run */
    det_none("phone", "Part ABC-123-4567-X in stock");    /* part number */
    det_none("phone", "Order 415-555-0132 shipped");      /* an order number */
    det_none("phone", "firmware 1.415.555.0132");         /* version-ish */
    det_none("phone", "call (123) 456-7890");             /* area code cannot start with 1 */
    det_none("phone", "415-555.0132");                    /* mixed separators */
    det_none("phone", "ISBN 978-0-306-40615-7, SSN 536-22-8716, date 2024-01-15");
    det_none("phone", "+1 555 0132");                     /* too short for +1 */
}

static void test_credit_card(void **state)
{
    (void)state;
    det_value("credit_card", "4111111111111111");
    det_value("credit_card", "4111 1111 1111 1111");
    det_value("credit_card", "5555-5555-5555-4444");
    det_value("credit_card", "3782 822463 10005"); /* Amex 4-6-5 */
    det_value("credit_card", "4222222222222");     /* Visa 13 */
    det_found("credit_card", "cards 4111111111111111 and 6011111111111117, exp 4111",
              "4111111111111111", "6011111111111117", (const char *)NULL);
    det_found("credit_card", "4111 1111 1111 1111 2027", "4111 1111 1111 1111",
              (const char *)NULL);
    det_none("credit_card", "4111111111111112");      /* Luhn */
    det_none("credit_card", "4111 1111-1111 1111");   /* mixed separators */
    det_none("credit_card", "41 1111 1111 1111 11");  /* odd grouping */
    det_none("credit_card", "9111111111111111");      /* no issuer */
    det_none("credit_card", "id 41111111111111119");  /* Visa cannot be 17 digits */
    det_none("credit_card", "ref 4111111111111111.5");
}

static void test_us_ids(void **state)
{
    (void)state;
    det_value("us_ssn", "536-22-8716");
    det_value("us_ssn", "536 22 8716");
    det_found("us_ssn", "SSN 536228716", "536228716", (const char *)NULL);
    det_none("us_ssn", "id 536228716");            /* bare digits without the word */
    det_none("us_ssn", "000-12-3456 666-12-3456 912-34-5678 536-00-8716 536-22-0000");
    det_none("us_ssn", "078-05-1120 and 123-45-6789");
    det_none("us_ssn", "536-22 8716");             /* mixed */
    det_none("us_ssn", "Serial number 536-22-8716");
    det_value("us_itin", "912-70-1234");
    det_found("us_itin", "ITIN 912701234", "912701234", (const char *)NULL);
    det_none("us_itin", "912-93-1234 and 536-22-8716");
    det_found("us_bank_routing", "Routing number: 021000021", "021000021", (const char *)NULL);
    det_found("us_bank_routing", "ABA 011000015 account 12345", "011000015", (const char *)NULL);
    det_none("us_bank_routing", "021000021");                 /* no context */
    det_none("us_bank_routing", "routing number 021000022");  /* checksum */
    det_none("us_bank_routing", "Routing of packets: 8 hops"); /* no number */
}

static void test_iban(void **state)
{
    (void)state;
    det_value("iban", "DE89370400440532013000");
    det_value("iban", "DE89 3704 0044 0532 0130 00");
    det_value("iban", "GB82 WEST 1234 5698 7654 32");
    det_value("iban", "NO9386011117947");
    det_none("iban", "de89 3704 0044 0532 0130 00"); /* upper case only: speed */
    det_none("iban", "DE89370400440532013001");       /* mod 97 */
    det_none("iban", "GB82WEST1234569876543");        /* one short */
    det_none("iban", "DE89 370 40044 0532 0130 00");  /* bad grouping */
    det_none("iban", "US12345678901234567890");       /* no IBAN country */
}

static void test_date_of_birth(void **state)
{
    (void)state;
    det_found("date_of_birth", "Date of birth: 03/14/1985", "03/14/1985", (const char *)NULL);
    det_found("date_of_birth", "DOB 1990-07-04", "1990-07-04", (const char *)NULL);
    det_found("date_of_birth", "born on 14.03.1985 in Ohio", "14.03.1985", (const char *)NULL);
    det_found("date_of_birth", "She was born March 5, 1990.", "March 5, 1990", (const char *)NULL);
    det_found("date_of_birth", "birthday: 21st of June, 2001", "21st of June, 2001",
              (const char *)NULL);
    det_none("date_of_birth", "The meeting is on 03/14/1985.");      /* no cue */
    det_none("date_of_birth", "DOB: 1985-02-30");                     /* no such day */
    det_none("date_of_birth", "born 2099-05-05");                     /* future */
    det_none("date_of_birth", "born 1820-05-05");                     /* implausible */
    det_found("date_of_birth", "Born: 07/08/1969; Married: 06/12/1995", "07/08/1969",
              (const char *)NULL); /* the cue belongs to its own clause */
    det_none("date_of_birth", "adobe 1990-07-04 reborn 1990-07-04"); /* not the words */
    det_found("date_of_birth", "b. 1952-11-03, d. 2019-06-09", "1952-11-03",
              (const char *)NULL); /* the death date is not a birth date */
    det_found("date_of_birth", "geboren am 12.03.1985 in Köln", "12.03.1985", (const char *)NULL);
    det_found("date_of_birth", "Date de naissance : 23/07/1994", "23/07/1994", (const char *)NULL);
    det_found("date_of_birth", "d.o.b: 12-Mar-1985", "12-Mar-1985", (const char *)NULL);
}

static void test_other_national(void **state)
{
    (void)state;
    det_found("uk_nhs", "NHS number 943 476 5919", "943 476 5919", (const char *)NULL);
    det_none("uk_nhs", "NHS number 943 476 5910");  /* check digit */
    det_none("uk_nhs", "call 943 476 5919");        /* no context */
    det_found("ca_sin", "SIN: 130 692 544", "130 692 544", (const char *)NULL);
    det_found("ca_sin", "my SIN is 130692544", "130692544", (const char *)NULL);
    det_value("ca_sin", "130-692-544");
    det_none("ca_sin", "since 130692544");          /* bare digits need the word */
    det_none("ca_sin", "SIN 130 692 545");           /* Luhn */
    det_value("uk_nino", "AB123456C");
    det_value("uk_nino", "AB 12 34 56 C");
    det_none("uk_nino", "QQ123456C GB123456A AB123456E AB12 3456C");
    det_value("vin", "1HGCM82633A004352");
    det_none("vin", "1HGCM82633A004353 12345678901234567 ABCDEFGHJKLMNPRST");
    det_found("swift_code", "SWIFT: DEUTDEFF", "DEUTDEFF", (const char *)NULL);
    det_found("swift_code", "BIC COBADEFFXXX please", "COBADEFFXXX", (const char *)NULL);
    det_none("swift_code", "STANDARD and POSITIVE results");       /* no context */
    det_none("swift_code", "bank code ABCDXXFF");                  /* XX is no country */
}

static void test_address_and_name(void **state)
{
    (void)state;
    det_found("address", "Ship to 123 Main Street, Springfield, IL 62704 today",
              "123 Main Street, Springfield, IL 62704", (const char *)NULL);
    det_found("address", "I live at 42 N Oak Ave, Apt 4B", "42 N Oak Ave, Apt 4B",
              (const char *)NULL);
    det_found("address", "meet at 350 5th Avenue.", "350 5th Avenue", (const char *)NULL);
    det_none("address", "There are 3 Main reasons and 2 Big ideas.");
    det_none("address", "In 2024 Apple Park hosted guests.");
    det_found("person_name", "My name is Maria Garcia.", "Maria Garcia", (const char *)NULL);
    det_found("person_name", "Appointment with Dr. Okafor at noon", "Okafor",
              (const char *)NULL);
    det_found("person_name", "Please ask Emily Carter to review", "Emily Carter",
              (const char *)NULL);
    det_found("person_name", "Regards,\nJane Doe", "Jane Doe", (const char *)NULL);
    det_none("person_name", "Grant Park is closed. May Day parade. Mark the box.");
    det_none("person_name", "The Great Wall and Microsoft Word are famous.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),       cmocka_unit_test(test_phone),
        cmocka_unit_test(test_credit_card), cmocka_unit_test(test_us_ids),
        cmocka_unit_test(test_iban),        cmocka_unit_test(test_date_of_birth),
        cmocka_unit_test(test_other_national), cmocka_unit_test(test_address_and_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
