/* test_detectors_tech.c - network identifiers, URLs and secrets. */
#include "helpers.h"

static void test_ipv4(void **state)
{
    (void)state;
    det_value("ipv4", "192.0.2.1");
    det_value("ipv4", "203.0.113.254");
    det_found("ipv4", "ssh admin@198.51.100.23:22", "198.51.100.23", (const char *)NULL);
    det_found("ipv4", "allow 10.0.0.0/8", "10.0.0.0", (const char *)NULL);
    /* decision: a dotted quad is an address unless a version word stands before it */
    det_none("ipv4", "version 1.2.3.4 and release 10.0.19041.1234");
    det_none("ipv4", "Chrome/120.0.6099.109 OID 1.3.6.1.4.1.311 v1.2.3.4");
    det_none("ipv4", "256.1.1.1 10.0.0.300 01.02.03.04 1.2.3");
    det_none("ipv4", "see section 4.2.1.3");
    det_none("ipv4", "::ffff:192.0.2.128"); /* that one is an IPv6 address */
}

static void test_ipv6(void **state)
{
    (void)state;
    det_value("ipv6", "2001:db8::1");
    det_value("ipv6", "2001:db8:85a3::8a2e:370:7334");
    det_value("ipv6", "fe80::1ff:fe23:4567:890a%eth0");
    det_value("ipv6", "::ffff:192.0.2.128");
    det_value("ipv6", "2001:0db8:0000:0000:0000:ff00:0042:8329");
    det_found("ipv6", "listen [2001:db8::1]:443", "2001:db8::1", (const char *)NULL);
    det_none("ipv6", "at 12:34:56, ratio 16:9, ::, std::vector, dead::beef");
    det_none("ipv6", "2001:db8::1::2 and 1:2:3:4:5:6:7:8:9");
    det_none("ipv6", "00:1A:2B:3C:4D:5E"); /* a MAC */
}

static void test_mac(void **state)
{
    (void)state;
    det_value("mac_address", "00:1A:2B:3C:4D:5E");
    det_value("mac_address", "3c-22-fb-9a-10-7e");
    det_value("mac_address", "0050.56c0.0001");
    det_value("mac_address", "aa-bb-cc-dd-ee-ff"); /* no digit: found through the token trigger */
    det_none("mac_address", "00:00:00:00:00:00 ff:ff:ff:ff:ff:ff");
    det_none("mac_address", "00:1A:2B-3C:4D:5E 00:1A:2B:3C:4D:5E:6F 01:02:03:04:05");
}

static void test_url(void **state)
{
    (void)state;
    det_value("url", "https://example.com/path?q=1");
    det_value("url", "www.example.net/login");
    det_value("url", "HTTP://EXAMPLE.COM/A");
    det_value("url", "https://docs.example.com/ask/sk?k=s#ks"); /* s and k: no caseless folding */
    det_value("url", "wss://stream.example.com:8443/ws");
    det_found("url", "(mirror: https://example.com/a).", "https://example.com/a",
              (const char *)NULL);
    det_found("url", "See https://example.com, then www.example.org.", "https://example.com",
              "www.example.org", (const char *)NULL);
    det_none("url", "http:// alone, https://. and www. too, file.txt, example.com");
}

static void test_aws(void **state)
{
    (void)state;
    det_value("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE");
    det_value("aws_access_key_id", "ASIAY34FZKBOKMUTVV7A");
    det_none("aws_access_key_id", "AKIAXXXXXXXXXXXXXXXX AKIAIOSFODNN7EXAMPLE1 xAKIAIOSFODNN7EXAMPLE");
    det_none("aws_access_key_id", "AKIAiosfodnn7example");
    det_found("aws_secret_access_key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
              "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", (const char *)NULL);
    det_found("aws_secret_access_key", "{\"SecretAccessKey\": \"je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\"}",
              "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", (const char *)NULL);
    /* a bare 40-character base64 string is too ambiguous */
    det_none("aws_secret_access_key", "blob wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    /* a git hash next to the word secret is still a hash */
    det_none("aws_secret_access_key", "secret commit e83c5163316f89bfbde7d9ab23ca2e25604af290");
}

static void test_private_key(void **state)
{
    (void)state;
    const char *full = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
                       "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0\n-----END RSA PRIVATE KEY-----\nthanks";
    det_found("private_key", full,
              "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
              "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0\n-----END RSA PRIVATE KEY-----",
              (const char *)NULL);
    det_found("private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n-----END OPENSSH PRIVATE KEY-----",
              "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n-----END OPENSSH PRIVATE KEY-----",
              (const char *)NULL); /* JSON-escaped newlines */
    /* truncated: the BEGIN line and the base64 lines after it, not the prose */
    det_found("private_key", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04\nand then",
              "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04",
              (const char *)NULL);
    det_none("private_key", "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----");
    det_none("private_key", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n-----END PUBLIC KEY-----");
    det_none("private_key", "a rule\n-----\nand text");
}

static void test_jwt(void **state)
{
    (void)state;
    det_value("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
    det_value("jwt", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIn0."); /* alg none */
    /* header {"typ":"JWT","x":"yyyyyy"} has no alg */
    det_none("jwt", "eyJ0eXAiOiJKV1QiLCJ4IjoieXl5eXl5In0.eyJzdWIiOiIxIn0.c2ln");
    det_none("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9 alone, abc.def.ghi, a.b.c");
}

static void test_api_token(void **state)
{
    (void)state;
    det_value("api_token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a");
    det_value("api_token", "glpat-Xy7Qw3Er5Ty8Ui9Op1As");
    det_value("api_token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx");
    det_value("api_token", "sk_live_4eC39HqLyjWDarjtT1zdp7dc");
    det_value("api_token", "sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vX7zB9cD1fG3hJ5kL7nP9rS1tV3");
    det_value("api_token", "sk-ant-api03-Ab3dE5gH7jK9mN1pQ3sT5vX7zB9cD1fG3hJ5kL7nP9rS1tV3wY5");
    det_value("api_token", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q");
    det_value("api_token", "npm_Ab3dE5gH7jK9mN1pQ3sT5vX7zB9cD1fG3hJ5");
    det_none("api_token", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");   /* placeholder */
    det_none("api_token", "sk-your-api-key-here and sk_live_short");
    det_none("api_token", "ghp_16C7e42F292c6912E7710c838347Ae178B4"); /* one short */
    det_none("api_token", "xghp_16C7e42F292c6912E7710c838347Ae178B4a");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_mac),         cmocka_unit_test(test_url),
        cmocka_unit_test(test_aws),         cmocka_unit_test(test_private_key),
        cmocka_unit_test(test_jwt),         cmocka_unit_test(test_api_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
