/*
 * detectors.c - the builtin detector table.
 *
 * Each entry is a PCRE2 pattern that finds candidates by shape, the prefilter triggers
 * every match contains, a bound on match length, and a validator (validators.c) that
 * decides what shape cannot: checksums, registries, context words. The patterns start
 * with a fixed-length lookbehind so a match never begins in the middle of a longer token
 * (the scanner may start a window there) and end at a boundary, because a candidate the
 * validator drops is skipped as a whole.
 *
 * Entity types are Bedrock Guardrails names where one exists; weir-only types (API_TOKEN,
 * JWT, PRIVATE_KEY, DATE_OF_BIRTH) say so in their description.
 */
#include <stddef.h>
#include <strings.h>

#include "scan/scan.h"
#include "scan/validators.h"

/* A digit-ish value must not start right after a word character, a dot, comma or dash,
 * nor end before one that continues it ("1.5", "-2"). */
#define NUM_BEFORE "(?<![\\w.-])(?<!\\d,)"
#define NUM_AFTER "(?![\\w]|[.-]\\d)"

#define MONTHS                                                                             \
    "(?:january|february|march|april|may|june|july|august|september|october|november|"     \
    "december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"

#define STREET_SUFFIX                                                                      \
    "(?:Street|St|Avenue|Ave|Av|Boulevard|Blvd|Road|Rd|Drive|Dr|Lane|Ln|Court|Ct|Place|"   \
    "Pl|Way|Circle|Cir|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Plaza|"    \
    "Plz|Alley|Aly|Expressway|Expy|Freeway|Fwy|Turnpike|Tpke|Pike|Loop|Row|Run|Path|Pass|" \
    "Crossing|Xing|Crescent|Cres|Center|Ctr|Cove|Cv|Creek|Crk|Heights|Hts|Hill|Hl|Hollow|" \
    "Holw|Junction|Jct|Landing|Lndg|Manor|Mnr|Meadows|Mdws|Mill|Park|Point|Pt|Ridge|Rdg|"  \
    "Station|Sta|Valley|Vly|View|Vw|Village|Vlg|Walk|Grove|Grv|Green|Grn|Harbor|Hbr|"      \
    "Bend|Bluff|Blf|Branch|Brg|Bridge|Brook|Brk|Canyon|Cyn|Causeway|Cswy|Commons|Common|"  \
    "Estates|Est|Field|Fld|Glen|Gln|Knoll|Mount|Mt|Orchard|Orch|Oval|Shore|Shr|Summit|"    \
    "Smt|Trace|Trce|Vista|Vis)"

#define US_STATE                                                                           \
    "(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|"  \
    "NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|" \
    "MP)"

/* One capitalised name word: Anne, O'Brien, McDonald, Smith-Jones, José. */
#define NAME_WORD                                                                          \
    "(?:[A-Z]')?\\p{Lu}\\p{Ll}{1,20}(?:\\p{Lu}\\p{Ll}{1,20})?(?:-\\p{Lu}\\p{Ll}{1,20})?"
#define NAME_WORDS NAME_WORD "(?: (?:\\p{Lu}\\. )?" NAME_WORD "){0,2}"
/* Capitalised words that often stand before a name and are not part of it. */
#define NAME_LEAD                                                                          \
    "(?:Hello|Hi|Hey|Dear|Thanks|Thank|Contact|Meet|Ask|Call|Email|Tell|Customer|Patient|" \
    "Client|Employee|User|Member|Applicant|Candidate|Tenant|Student|Officer|Agent|Coach|"  \
    "Judge|Senator|President|Governor|Mayor|Professor|Doctor|Nurse|Captain|Uncle|Aunt|"    \
    "Cousin|Brother|Sister|Mom|Dad|Mother|Father|Son|Daughter|Wife|Husband|Friend|CEO|"    \
    "CTO|CFO|Manager|Director|Attn|Cc|From|To|By|With|For|And|Or|But|The|When|If|So|"      \
    "After|Before|Today|Yesterday|Also|Then|Now|Please|Yes|No|Sorry|Welcome|Per|Via|"      \
    "Signed|Approved|Reviewed|Assigned|Cheers|Love|Best|Yours|Regards|Sincerely)"

const wr_detector_def wr_builtin_detectors[] = {
    {
        .name = "email",
        .entity = "EMAIL",
        .label = "EMAIL",
        .pattern = "(?<![\\p{Latin}0-9._%+-])[\\p{Latin}0-9_%+-][\\p{Latin}0-9._%+-]{0,63}@"
                   "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.){1,8}"
                   "[A-Za-z]{2,24}(?![A-Za-z0-9-]|\\.[A-Za-z0-9])",
        .triggers = WR_TRIG_AT,
        .max_len = 64 * 4 + 1 + 8 * 64 + 24, /* local part: 64 characters of up to 4 bytes */
        .validate = wr_validate_email,
        .anchor = wr_anchor_email,
        .aliases = "EMAIL_ADDRESS EMAIL",
        .description = "E-mail address (local@domain.tld); rejects file names like icon@2x.png",
    },
    {
        .name = "phone",
        .entity = "PHONE",
        .label = "PHONE",
        .pattern = "(?<![\\w+./-])(?<!\\d,)(?:"
                   /* international: +44 20 7946 0958, +1 (415) 555-0132, +14155550132 */
                   "\\+[1-9]\\d{0,3}+(?:[ .-]?\\(\\d{1,4}\\))?(?:[ .-]?\\d{1,8}+){1,5}+"
                   /* NANP: (415) 555-0132, 415-555-0132, 1-800-555-0199 */
                   "|(?:1[ .-]?)?\\(\\d{3}\\) ?\\d{3}[ .-]\\d{4}"
                   "|(?:1[ .-])?\\d{3}([ .-])\\d{3}\\1\\d{4}"
                   /* national with trunk 0, only next to a phone word: 020 7946 0958 */
                   "|0\\d{1,4}(?:[ -]\\d{2,8}){1,3}"
                   ")(?![\\w-]|\\.\\d)",
        .triggers = WR_TRIG_DIGIT,
        .max_len = 64,
        .max_lead = WR_LEAD(1),
        .min_digits = 7,
        .validate = wr_validate_phone,
        .aliases = "PHONE_NUMBER PHONE",
        .description = "Phone number: +CC international (8-15 digits), NANP with separators "
                       "(area/exchange 2-9), 0-prefixed national only beside a phone word; "
                       "never bare digit runs, part or order numbers",
    },
    {
        .name = "credit_card",
        .entity = "CREDIT_DEBIT_CARD_NUMBER",
        .label = "CREDIT_CARD",
        .pattern = NUM_BEFORE "\\d(?:[ -]?\\d){12,18}" NUM_AFTER,
        .triggers = WR_TRIG_DIGIT,
        .max_len = 19 + 18,
        .max_lead = WR_LEAD(0),
        .min_digits = 13,
        .one_cluster = 1,
        .validate = wr_validate_credit_card,
        .aliases = "CREDIT_CARD CREDIT_DEBIT_CARD_NUMBER CARD_NUMBER",
        .description = "Payment card number: issuer range and length, Luhn, one consistent "
                       "separator (space or dash) in standard groups",
    },
    {
        .name = "us_ssn",
        .entity = "US_SOCIAL_SECURITY_NUMBER",
        .label = "US_SSN",
        .pattern = NUM_BEFORE "\\d{3}([ -]?)\\d{2}\\1\\d{4}" NUM_AFTER,
        .triggers = WR_TRIG_DIGIT,
        .max_len = 11,
        .max_lead = WR_LEAD(0),
        .min_digits = 9,
        .one_cluster = 1,
        .validate = wr_validate_us_ssn,
        .aliases = "US_SSN US_SOCIAL_SECURITY_NUMBER SSN",
        .description = "US Social Security number AAA-GG-SSSS: no 000/666/9xx area, 00 group, "
                       "0000 serial or known-invalid numbers; 9 bare digits only after "
                       "\"SSN\"/\"social security\"",
    },
    {
        .name = "us_itin",
        .entity = "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
        .label = "US_ITIN",
        .pattern = NUM_BEFORE "9\\d{2}([ -]?)\\d{2}\\1\\d{4}" NUM_AFTER,
        .triggers = WR_TRIG_DIGIT,
        .max_len = 11,
        .max_lead = WR_LEAD(0),
        .min_digits = 9,
        .one_cluster = 1,
        .validate = wr_validate_us_itin,
        .aliases = "US_ITIN US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER ITIN",
        .description = "US ITIN 9XX-GG-XXXX with IRS group ranges; 9 bare digits only after "
                       "\"ITIN\"/\"taxpayer\"",
    },
    {
        .name = "iban",
        .entity = "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
        .label = "IBAN",
        .pattern = "(?<![A-Za-z0-9])[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}+(?: ?[A-Z0-9]{1,3})?"
                   "(?![A-Za-z0-9])",
        .triggers = WR_TRIG_CCDIGITS, /* country code + check digits: "DE89" */
        .max_len = 4 + 7 * 5 + 4,
        .max_lead = WR_LEAD(0),
        .min_digits = 0,
        .validate = wr_validate_iban,
        .aliases = "IBAN_CODE INTERNATIONAL_BANK_ACCOUNT_NUMBER IBAN",
        .description = "IBAN, compact or in groups of four: registered country length and "
                       "ISO 13616 mod-97",
    },
    {
        .name = "us_bank_routing",
        .entity = "US_BANK_ROUTING_NUMBER",
        .label = "US_BANK_ROUTING",
        .pattern = NUM_BEFORE "\\d{4}-?\\d{4}-?\\d" NUM_AFTER,
        .triggers = WR_TRIG_DIGIT,
        .max_len = 11,
        .max_lead = WR_LEAD(0),
        .min_digits = 9,
        .one_cluster = 1,
        .validate = wr_validate_us_bank_routing,
        .aliases = "ABA_ROUTING_NUMBER US_BANK_ROUTING_NUMBER ROUTING_NUMBER",
        .description = "ABA routing number: Federal Reserve prefix and 3-7-1 checksum, only "
                       "within 48 bytes after routing/ABA/RTN/transit/bank/ACH/wire (a bare "
                       "9-digit number is too ambiguous)",
    },
    {
        .name = "ipv4",
        .entity = "IP_ADDRESS",
        .label = "IP_ADDRESS",
        .pattern = "(?<![\\w.])(?<!::)(?<!:[0-9A-Fa-f]:)(?<!:[0-9A-Fa-f]{2}:)(?<!:[0-9A-Fa-f]{3}:)"
                   "(?<!:[0-9A-Fa-f]{4}:)(?:\\d{1,3}\\.){3}\\d{1,3}(?![\\w]|\\.\\d)",
        .triggers = WR_TRIG_DIGIT,
        .max_len = 15,
        .max_lead = WR_LEAD(0),
        .min_digits = 4,
        .validate = wr_validate_ipv4,
        .aliases = "IP_ADDRESS IPV4 IPV4_ADDRESS",
        .description = "IPv4 dotted quad, octets 0-255 without leading zeros; not when part "
                       "of a longer dotted number or right after version/build/release",
    },
    {
        .name = "ipv6",
        .entity = "IP_ADDRESS",
        .label = "IP_ADDRESS",
        .pattern = "(?<![\\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}"
                   "(?:\\d{1,3}(?:\\.\\d{1,3}){3}|[0-9A-Fa-f]{0,4})(?:%[0-9A-Za-z]{1,16})?"
                   "(?![\\w:]|\\.\\d)",
        .triggers = WR_TRIG_COLON,
        .max_len = 7 * 5 + 15 + 17,
        .max_lead = WR_LEAD(4),
        .validate = wr_validate_ipv6,
        .aliases = "IPV6 IPV6_ADDRESS",
        .description = "IPv6 address (inet_pton), incl. compressed, v4-mapped and zone ids; "
                       "needs a digit, so \"::\" and \"dead::beef\" are not addresses",
    },
    {
        .name = "mac_address",
        .entity = "MAC_ADDRESS",
        .label = "MAC_ADDRESS",
        .pattern = "(?<![\\w:.-])(?:[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\\1[0-9A-Fa-f]{2}){4}"
                   "|[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4})"
                   "(?![\\w]|[:.-][0-9A-Fa-f])",
        .triggers = WR_TRIG_DIGIT | WR_TRIG_COLON | WR_TRIG_TOKEN,
        .max_len = 17,
        .validate = wr_validate_mac,
        .aliases = "MAC_ADDRESS MAC",
        .description = "MAC address aa:bb:cc:dd:ee:ff, aa-bb-.. or Cisco aabb.ccdd.eeff; not "
                       "all-zero or broadcast",
    },
    {
        .name = "url",
        .entity = "URL",
        .label = "URL",
        .pattern = "(?<![\\w.+-])(?i:(?:https?|ftps?|sftp|wss?)://|www\\.)"
                   "[^\\s<>\"'`{}|\\\\^\\x{80}-\\x{10ffff}]{0,1000}"
                   "[^\\s<>\"'`{}|\\\\^.,;:!?)\\]*\\x{80}-\\x{10ffff}]",
        /* not PCRE2_CASELESS: under it the non-ASCII exclusion would also drop 's'
         * (U+017F) and 'k' (U+212A) */
        .triggers = WR_TRIG_COLON | WR_TRIG_WWW,
        .max_len = 1024,
        .max_lead = WR_LEAD(5),
        .validate = wr_validate_url,
        .aliases = "URL URI",
        .description = "URL with a scheme (http, https, ftp, ws, ...) or starting www.; "
                       "trailing punctuation is not part of it; at most 1 KiB",
    },
    {
        .name = "aws_access_key_id",
        .entity = "AWS_ACCESS_KEY",
        .label = "AWS_ACCESS_KEY",
        .pattern = "(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        .triggers = WR_TRIG_TOKEN,
        .max_len = 20,
        .max_lead = WR_LEAD(0),
        .validate = wr_validate_aws_access_key_id,
        .aliases = "AWS_ACCESS_KEY AWS_ACCESS_KEY_ID",
        .description = "AWS access key id (AKIA/ASIA/ABIA/ACCA + 16); not placeholders "
                       "like AKIAXXXXXXXXXXXXXXXX",
    },
    {
        .name = "aws_secret_access_key",
        .entity = "AWS_SECRET_KEY",
        .label = "AWS_SECRET_KEY",
        .pattern = "(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
        .triggers = WR_TRIG_TOKEN,
        .max_len = 40,
        .max_lead = WR_LEAD(0),
        .validate = wr_validate_aws_secret_key,
        .aliases = "AWS_SECRET_KEY AWS_SECRET_ACCESS_KEY",
        .description = "AWS secret access key: 40 base64 characters with upper, lower and "
                       "digits, only within 96 bytes after \"secret\" (aws_secret_access_key, "
                       "SecretAccessKey, ...)",
    },
    {
        .name = "private_key",
        .entity = "PRIVATE_KEY",
        .label = "PRIVATE_KEY",
        .pattern = "-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?-----"
                   "(?:[\\x00-\\x7f]{0,20000}?-----END (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY"
                   "(?: BLOCK)?-----"
                   "|(?:(?:\\\\[rn]|\\r?\\n)[A-Za-z0-9+/=]{16,100}+){0,150}+)",
        .triggers = WR_TRIG_DASHES,
        .max_len = 84 + 20000 + 84, /* the fallback: 84 + 150 lines of <= 102 */
        .max_lead = WR_LEAD(0),
        .aliases = "PRIVATE_KEY PEM_PRIVATE_KEY",
        .description = "weir type PRIVATE_KEY: PEM/OpenSSH/PGP private key block from BEGIN to "
                       "END; when truncated, the BEGIN line and the base64 lines that follow",
    },
    {
        .name = "jwt",
        .entity = "JWT",
        .label = "JWT",
        .pattern = "(?<![A-Za-z0-9_-])e[wy][A-Za-z0-9_-]{14,1000}\\.[A-Za-z0-9_-]{2,6000}"
                   "\\.[A-Za-z0-9_-]{0,1500}(?![A-Za-z0-9_-])",
        .triggers = WR_TRIG_TOKEN,
        .max_len = 1002 + 1 + 6000 + 1 + 1500,
        .max_lead = WR_LEAD(0),
        .validate = wr_validate_jwt,
        .aliases = "JWT JSON_WEB_TOKEN BEARER_TOKEN",
        .description = "weir type JWT: three base64url segments whose header decodes to a "
                       "JSON object with \"alg\"",
    },
    {
        .name = "api_token",
        .entity = "API_TOKEN",
        .label = "API_TOKEN",
        .pattern = "(?<![A-Za-z0-9_-])(?:"
                   "gh[pousr]_[A-Za-z0-9]{36,251}"      /* GitHub classic */
                   "|github_pat_[A-Za-z0-9_]{50,255}"   /* GitHub fine-grained */
                   "|glpat-[A-Za-z0-9_-]{20,64}"        /* GitLab */
                   "|xox[abposr]-[A-Za-z0-9-]{10,250}"  /* Slack */
                   "|xapp-\\d-[A-Za-z0-9-]{10,250}"     /* Slack app-level */
                   "|[sr]k_(?:live|test)_[A-Za-z0-9]{20,250}" /* Stripe */
                   "|sk-ant-[A-Za-z0-9_-]{32,250}"      /* Anthropic */
                   "|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,250}" /* OpenAI */
                   "|sk-[A-Za-z0-9]{48}"                /* OpenAI legacy */
                   "|AIza[A-Za-z0-9_-]{35}"             /* Google API key */
                   "|npm_[A-Za-z0-9]{36}"               /* npm */
                   "|hf_[A-Za-z0-9]{34}"                /* Hugging Face */
                   "|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,250}" /* PyPI */
                   "|SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}" /* SendGrid */
                   "|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" /* Shopify */
                   "|do[opr]_v1_[a-f0-9]{64}"           /* DigitalOcean */
                   "|gsk_[A-Za-z0-9]{52}"               /* Groq */
                   "|r8_[A-Za-z0-9]{37}"                /* Replicate */
                   "|lin_api_[A-Za-z0-9]{40}"           /* Linear */
                   "|dapi[a-f0-9]{32}"                  /* Databricks */
                   "|\\d{8,10}:AA[A-Za-z0-9_-]{33}"     /* Telegram bot */
                   ")(?![A-Za-z0-9_-])",
        .triggers = WR_TRIG_TOKEN,
        .max_len = 300,
        .max_lead = WR_LEAD(11),
        .validate = wr_validate_api_token,
        .aliases = "API_TOKEN API_KEY SECRET_TOKEN",
        .description = "weir type API_TOKEN: provider tokens with distinctive prefixes (GitHub, "
                       "GitLab, Slack, Stripe, OpenAI, Anthropic, Google, npm, Hugging Face, "
                       "PyPI, SendGrid, Shopify, DigitalOcean, Groq, Replicate, Linear, "
                       "Databricks, Telegram); not xxxx placeholders",
    },
    {
        .name = "date_of_birth",
        .entity = "DATE_OF_BIRTH",
        .label = "DATE_OF_BIRTH",
        /* the regex finds the date; the validator requires a birth cue in the same clause
         * within 40 bytes before it, and the window check skips windows with no cue */
        .pattern = "(?<![\\w/.-])(?:"
                   "\\d{4}([-/.])\\d{1,2}\\1\\d{1,2}"
                   "|\\d{1,2}([-/.])\\d{1,2}\\2(?:\\d{4}|\\d{2})"
                   "|(?i:" MONTHS ")\\.? \\d{1,2}(?:st|nd|rd|th)?,? \\d{4}"
                   "|\\d{1,2}(?:st|nd|rd|th)? (?:of )?(?i:" MONTHS ")\\.?,? \\d{4}"
                   "|\\d{1,2}-(?i:" MONTHS ")-(?:\\d{4}|\\d{2})"
                   ")(?![\\w]|[-/.]\\d)",
        .triggers = WR_TRIG_DIGIT,
        .max_len = 32,
        .max_lead = WR_LEAD(12), /* "September. 5, 1990": the month name before the digit */
        .min_digits = 4,
        .validate = wr_validate_date_of_birth,
        .window = wr_window_date_of_birth,
        .aliases = "DATE_OF_BIRTH DOB BIRTH_DATE",
        .description = "weir type DATE_OF_BIRTH: a real past date (numeric, with a month "
                       "name, or 12-Mar-1985; age <= 130) within 40 bytes after a birth cue in "
                       "the same clause (born/birth/DOB; geboren, ne(e), nacido, nato, ...)",
    },
    {
        .name = "swift_code",
        .entity = "SWIFT_CODE",
        .label = "SWIFT_CODE",
        .pattern = "(?<![A-Za-z0-9])[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])",
        .triggers = WR_TRIG_ALWAYS,
        .max_len = 11,
        .validate = wr_validate_swift,
        .aliases = "SWIFT_CODE BIC SWIFT",
        .description = "SWIFT/BIC (8 or 11) with an ISO 3166 country, only within 64 bytes "
                       "after SWIFT/BIC/bank/IBAN/wire (upper-case words look the same)",
    },
    {
        .name = "uk_nhs",
        .entity = "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
        .label = "UK_NHS",
        .pattern = NUM_BEFORE "\\d{3}([ -]?)\\d{3}\\1\\d{4}" NUM_AFTER,
        .triggers = WR_TRIG_DIGIT,
        .max_len = 12,
        .max_lead = WR_LEAD(0),
        .min_digits = 10,
        .one_cluster = 1,
        .validate = wr_validate_uk_nhs,
        .aliases = "UK_NHS UK_NATIONAL_HEALTH_SERVICE_NUMBER NHS_NUMBER",
        .description = "NHS number (3-3-4 or 10 digits) with its mod-11 check digit, only "
                       "within 64 bytes after NHS/health/patient/hospital (phone-shaped)",
    },
    {
        .name = "ca_sin",
        .entity = "CA_SOCIAL_INSURANCE_NUMBER",
        .label = "CA_SIN",
        .pattern = NUM_BEFORE "\\d{3}([ -]?)\\d{3}\\1\\d{3}" NUM_AFTER,
        .triggers = WR_TRIG_DIGIT,
        .max_len = 11,
        .max_lead = WR_LEAD(0),
        .min_digits = 9,
        .one_cluster = 1,
        .validate = wr_validate_ca_sin,
        .aliases = "CA_SIN CA_SOCIAL_INSURANCE_NUMBER",
        .description = "Canadian SIN 3-3-3 with Luhn, first digit not 0/8; 9 bare digits "
                       "only after SIN/social insurance",
    },
    {
        .name = "uk_nino",
        .entity = "UK_NATIONAL_INSURANCE_NUMBER",
        .label = "UK_NINO",
        .pattern = "(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\\d{2} ?\\d{2} ?\\d{2}"
                   " ?[A-D](?![A-Za-z0-9])",
        .options = PCRE2_CASELESS,
        .triggers = WR_TRIG_DIGIT,
        .max_len = 13,
        .max_lead = WR_LEAD(3),
        .min_digits = 6,
        .validate = wr_validate_uk_nino,
        .aliases = "UK_NINO UK_NATIONAL_INSURANCE_NUMBER NINO",
        .description = "UK National Insurance number: HMRC prefix letters (no BG/GB/NK/KN/NT/"
                       "TN/ZZ), 6 digits, suffix A-D",
    },
    {
        .name = "vin",
        .entity = "VEHICLE_IDENTIFICATION_NUMBER",
        .label = "VIN",
        .pattern = "(?<![A-Za-z0-9])[A-HJ-NPR-Z0-9]{17}(?![A-Za-z0-9])",
        .triggers = WR_TRIG_TOKEN,
        .max_len = 17,
        .max_lead = WR_LEAD(0),
        .validate = wr_validate_vin,
        .aliases = "VEHICLE_IDENTIFICATION_NUMBER VIN",
        .description = "Vehicle identification number (ISO 3779, 17 characters, no I/O/Q) with "
                       "the North American check digit",
    },
    {
        .name = "address",
        .entity = "ADDRESS",
        .label = "ADDRESS",
        .pattern = "(?<![\\w.,/-])\\d{1,6}[A-Z]?(?:-\\d{1,4})? "
                   "(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\\.? )?"
                   "(?:(?:[A-Z][a-z']{1,20}|\\d{1,3}(?:st|nd|rd|th)) ){1,4}"
                   STREET_SUFFIX "(?![A-Za-z])(?:\\.(?=,))?"
                   "(?:,? (?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Rm|Room|Bldg|#)\\.? ?#?"
                   "[A-Za-z0-9-]{1,6}(?![A-Za-z0-9-]))?"
                   "(?:,?\\s{1,3}(?:[A-Z][a-z]{1,20} ){0,2}[A-Z][a-z]{1,20},? "
                   "(?:" US_STATE "(?: \\d{5}(?:-\\d{4})?)?|[A-Z][a-z]{3,13}(?: [A-Z][a-z]{3,13})?"
                   " \\d{5}(?:-\\d{4})?)(?![\\w-]))?",
        .triggers = WR_TRIG_DIGIT,
        .max_len = 256,
        .max_lead = WR_LEAD(0),
        .min_digits = 1,
        .validate = wr_validate_address,
        .aliases = "ADDRESS STREET_ADDRESS US_ADDRESS",
        .description = "US street address: house number, street name, USPS suffix, optional "
                       "unit and city, state, ZIP (heuristic; see bench/detect for its figures)",
    },
    {
        .name = "person_name",
        .entity = "NAME",
        .label = "NAME",
        .pattern = "(?<![A-Za-z])(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Rev|Lady|Lord)\\.? \\K"
                   NAME_WORDS
                   "|(?i:(?<![a-z])(?:my name is|my name's|name:|signed,?|regards,|sincerely,))"
                   "\\s{1,3}\\K" NAME_WORDS
                   "|(?<![\\w'-])(?:" NAME_LEAD " \\K)?" NAME_WORD "(?: \\p{Lu}\\.)? " NAME_WORD
                   "(?: " NAME_WORD ")?",
        .triggers = WR_TRIG_ALWAYS,
        .max_len = 160,
        .validate = wr_validate_person_name,
        .aliases = "NAME PERSON PERSON_NAME",
        .description = "Person name (heuristic): after a title (Mr/Mrs/Ms/Dr/...) or \"my name "
                       "is\"/\"Name:\"/sign-offs, or First [M.] Last with First in an English "
                       "given-name list (Moby, public domain)",
    },
};

const size_t wr_builtin_detector_count = sizeof wr_builtin_detectors / sizeof wr_builtin_detectors[0];

/* Is `name` one of the space-separated words of `list`? Case-insensitive. */
static int in_list(const char *list, const char *name, size_t n)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && n && strncasecmp(p, name, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

const wr_detector_def *wr_builtin_find(const char *name)
{
    if (!name)
        return NULL;
    size_t n = 0;
    while (name[n])
        n++;
    for (size_t i = 0; i < wr_builtin_detector_count; i++)
        if (strcasecmp(wr_builtin_detectors[i].name, name) == 0)
            return &wr_builtin_detectors[i];
    for (size_t i = 0; i < wr_builtin_detector_count; i++)
        if (wr_builtin_detectors[i].aliases && in_list(wr_builtin_detectors[i].aliases, name, n))
            return &wr_builtin_detectors[i];
    return NULL;
}

const char *weir_detector_name(size_t i, const char **entity)
{
    if (i >= wr_builtin_detector_count) {
        if (entity)
            *entity = NULL;
        return NULL;
    }
    if (entity)
        *entity = wr_builtin_detectors[i].entity;
    return wr_builtin_detectors[i].name;
}
