#!/usr/bin/env python3
"""Generates detect.txt, the labelled detection corpus (see README.md).

Deterministic (fixed seed). Every value is synthetic: test card numbers and Luhn-valid
numbers made here, RFC 5737 / RFC 3849 addresses, example.com / example.org mails,
registry example IBANs and IBANs computed for made-up accounts, AWS's documented example
keys, tokens of random characters. Run: python3 gen.py > detect.txt
"""
import random, string, base64, json

R = random.Random(20261126)

def luhn_digit(body):
    s = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:
            v *= 2
            if v > 9: v -= 9
        s += v
    return str((10 - s % 10) % 10)

def card(prefix, length):
    body = prefix + "".join(R.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn_digit(body)

def bad_luhn(n):
    last = int(n[-1]); return n[:-1] + str((last + 1) % 10)

def group(n, sizes, sep):
    out, i = [], 0
    for s in sizes:
        out.append(n[i:i+s]); i += s
    return sep.join(out)

def iban(cc, bban):
    rearr = bban + cc + "00"
    num = "".join(str(int(c, 36)) for c in rearr)
    check = 98 - int(num) % 97
    return f"{cc}{check:02d}{bban}"

def spaced(s):
    return " ".join(s[i:i+4] for i in range(0, len(s), 4))

def aba():
    while True:
        p = R.choice(["01","02","03","04","05","06","07","08","09","10","11","12","21","22","26","31","32","61","67"])
        body = p + "".join(R.choice(string.digits) for _ in range(6))
        w = [3,7,1,3,7,1,3,7]
        s = sum(int(c)*w[i] for i, c in enumerate(body))
        d = (10 - s % 10) % 10
        return body + str(d)

def nhs():
    while True:
        body = "".join(R.choice(string.digits) for _ in range(9))
        s = sum(int(c) * (10 - i) for i, c in enumerate(body))
        c = 11 - s % 11
        if c == 11: c = 0
        if c == 10: continue
        return body + str(c)

def sin():
    body = R.choice("1234567") + "".join(R.choice(string.digits) for _ in range(7))
    return body + luhn_digit(body)

VINMAP = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", [1,2,3,4,5,6,7,8,1,2,3,4,5,7,9,2,3,4,5,6,7,8,9]))
def vin():
    al = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    while True:
        v = list(R.choice(["1HG","JH4","WVW","1FT","2T1","5YJ","3VW","1G1"]) + "".join(R.choice(al) for _ in range(5)) + "0" + R.choice("ABCDEFGHJKLMNPRSTVWXY123456789") + R.choice(al) + "".join(R.choice(string.digits) for _ in range(6)))
        w = [8,7,6,5,4,3,2,10,0,9,8,7,6,5,4,3,2]
        s = sum((int(c) if c.isdigit() else VINMAP[c]) * w[i] for i, c in enumerate(v))
        c = s % 11
        v[8] = "X" if c == 10 else str(c)
        return "".join(v)

def ssn():
    while True:
        a = R.randint(1, 899)
        if a == 666: continue
        g = R.randint(1, 99); s = R.randint(1, 9999)
        v = f"{a:03d}{g:02d}{s:04d}"
        if v in ("078051120", "219099999", "123456789"): continue
        return v

def itin():
    g = R.choice(list(range(50,66)) + list(range(70,89)) + [90,91,92] + list(range(94,100)))
    return f"9{R.randint(0,99):02d}{g:02d}{R.randint(1,9999):04d}"

def rnd(alpha, n):
    return "".join(R.choice(alpha) for _ in range(n))

AN = string.ascii_letters + string.digits

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def jwt(alg="HS256"):
    h = b64u(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    p = b64u(json.dumps({"sub": str(R.randint(10**6, 10**7)), "name": "Test User", "iat": 1700000000 + R.randint(0, 10**6)}, separators=(",", ":")).encode())
    s = b64u(bytes(R.getrandbits(8) for _ in range(32)))
    return f"{h}.{p}.{s}"

FIRST = ["Maria", "James", "Aisha", "Robert", "Linda", "Michael", "Sofia", "David", "Emily", "Daniel", "Olivia", "Thomas", "Hannah", "Peter", "Laura", "Kevin", "Sarah", "Brian", "Nancy", "George"]
LAST = ["Garcia", "Thompson", "Okafor", "Nguyen", "Kowalski", "Fischer", "Rossi", "Johnson", "Patel", "Murphy", "Andersen", "Schmidt", "Dubois", "Bennett", "Hughes", "Carter"]
STREETS = ["Main Street", "Oak Avenue", "Maple Drive", "Elm St", "Cedar Lane", "Washington Blvd", "Park Road", "Lakeview Ct", "Sunset Boulevard", "Pine Street", "Hillcrest Way", "Mill Road", "5th Avenue", "Highland Ave"]
CITIES = [("Springfield", "IL", "62704"), ("Austin", "TX", "73301"), ("Portland", "OR", "97205"), ("Denver", "CO", "80202"), ("Columbus", "OH", "43215"), ("Madison", "WI", "53703")]

def m(det, v):
    return "{{" + det + "|" + v + "}}"

lines = []
def add(s):
    lines.append(s)

def name():
    return R.choice(FIRST) + " " + R.choice(LAST)

# ------------------------------------------------------------------ positives
for _ in range(12):
    u = R.choice(["j.doe", "maria.garcia", "ops-team", "billing+invoices", "a_b", "first.last2"])
    d = R.choice(["example.com", "example.org", "mail.example.net", "example.co.uk"])
    add(R.choice(["Please write to {} with the details.", "Contact: {}", "cc {}; thanks", "<{}>", "Send it to {}."]).format(m("email", f"{u}@{d}")))

intl = ["+44 20 7946 0958", "+1 (415) 555-0132", "+49 30 12345678", "+33 1 23 45 67 89", "+14155550199", "+61 2 9876 5432", "+81 3-1234-5678", "+1-212-555-0147", "+353 1 234 5678", "+91 98765 43210"]
nanp = ["(415) 555-0132", "415-555-0176", "212.555.0188", "1-800-555-0199", "(646) 555-0123", "312 555 0154", "1 (617) 555-0110"]
for p in intl + nanp:
    add(R.choice(["Call me at {} tomorrow.", "Phone: {}", "You can reach the front desk on {}.", "My cell is {}, text first.", "Fax {} (office hours only)"]).format(m("phone", p)))
add("Ring our London office on " + m("phone", "020 7946 0958") + ".")
add("Mobile: " + m("phone", "07700 900123"))

cards = [("4111111111111111", [4,4,4,4]), ("5555555555554444", [4,4,4,4]), ("378282246310005", [4,6,5]), ("6011111111111117", [4,4,4,4]),
         ("3530111333300000", [4,4,4,4]), ("30569309025904", [4,6,4]), ("5105105105105100", [4,4,4,4]), ("4012888888881881", [4,4,4,4]),
         ("2223003122003222", [4,4,4,4]), ("4222222222222", None)]
for _ in range(8):
    cards.append((card(R.choice(["4", "51", "52", "55", "2221", "6011"]), 16), [4,4,4,4]))
for c, g in cards:
    sep = R.choice(["", " ", "-"]) if g else ""
    v = group(c, g, sep) if (g and sep) else c
    add(R.choice(["Card number {} exp 12/27", "charge {} please", "my visa is {}", "Payment: {} (test)", "use card {}."]).format(m("credit_card", v)))

for _ in range(10):
    s = ssn()
    sep = R.choice(["-", "-", " "])
    add(R.choice(["SSN: {}", "Her social security number is {}.", "ssn {} on file", "Employee SSN {}"]).format(m("us_ssn", s[:3] + sep + s[3:5] + sep + s[5:])))
add("SSN 412" + "" + "" + " and more: my SSN is " + m("us_ssn", "412567890"))

for _ in range(6):
    t = itin()
    add(R.choice(["ITIN: {}", "Taxpayer id (ITIN) {} was issued", "file with ITIN {}"]).format(m("us_itin", t[:3] + "-" + t[3:5] + "-" + t[5:])))

ibans = ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NL91ABNA0417164300", "CH9300762011623852957", "ES9121000418450200051332", "IT60X0542811101000000123456", "BE68539007547034", "NO9386011117947", "AT611904300234573201"]
for cc, blen in [("DE", 18), ("PL", 24), ("SE", 20), ("IE", 18), ("PT", 21)]:
    if cc == "IE":
        ibans.append(iban(cc, "AIBK" + rnd(string.digits, 14)))
    else:
        ibans.append(iban(cc, rnd(string.digits, blen)))
for i, b in enumerate(ibans):
    v = spaced(b) if i % 2 else b
    add(R.choice(["IBAN: {}", "please wire it to {} by Friday", "Account {}", "Beneficiary IBAN {}."]).format(m("iban", v)))

for _ in range(8):
    a = aba()
    add(R.choice(["Routing number: {}", "ABA {} account 000123456789", "routing {}", "Bank routing no. {} for ACH"]).format(m("us_bank_routing", a)))

v4 = ["192.0.2.1", "198.51.100.23", "203.0.113.254", "10.0.0.1", "172.16.254.3", "192.168.1.10", "8.8.8.8", "203.0.113.7"]
for ip in v4:
    add(R.choice(["The server at {} refused the connection.", "ssh admin@{}", "allow from {}/32", "client ip={} port=443", "Ping {}:8080 now"]).format(m("ipv4", ip)))
v6 = ["2001:db8::1", "2001:db8:85a3::8a2e:370:7334", "fe80::1ff:fe23:4567:890a%eth0", "::ffff:192.0.2.128", "2001:0db8:0000:0000:0000:ff00:0042:8329", "::1", "2001:db8:0:1:1:1:1:1"]
for ip in v6:
    add(R.choice(["Listening on [{}]:443", "IPv6 {} is up", "route via {} dev eth0", "peer address {}."]).format(m("ipv6", ip)))

macs = ["00:1A:2B:3C:4D:5E", "3c-22-fb-9a-10-7e", "0050.56c0.0001", "a4:83:e7:12:bc:0f", "F0-18-98-AB-CD-EF", "AA:BB:CC:DD:EE:01"]
for mac in macs:
    add(R.choice(["NIC {} on vlan 20", "hwaddr {}", "MAC address: {}", "The device ({}) joined."]).format(m("mac_address", mac)))

urls = ["https://example.com/path?q=1", "http://www.example.org/a/b.html", "www.example.net/login", "https://docs.example.com/v2/api#auth", "ftp://files.example.com/pub/readme.txt", "https://example.com", "wss://stream.example.com:8443/ws", "https://user@example.com/private"]
for u in urls:
    add(R.choice(["See {} for details.", "Docs: {}", "(mirror: {})", "Open {}, then sign in."]).format(m("url", u)))

for k in ["AKIAIOSFODNN7EXAMPLE", "ASIA" + rnd(string.ascii_uppercase + "234567", 16), "AKIA" + rnd(string.ascii_uppercase + "234567", 16), "ABIA" + rnd(string.ascii_uppercase + "234567", 16)]:
    add(R.choice(["aws_access_key_id = {}", "export AWS_ACCESS_KEY_ID={}", "key id {} was rotated"]).format(m("aws_access_key_id", k)))

for s in ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"] + [rnd(AN + "/+", 38) + "a1" for _ in range(4)]:
    add(R.choice(["aws_secret_access_key = {}", "export AWS_SECRET_ACCESS_KEY={}", "\"SecretAccessKey\": \"{}\",", "the secret key is {}"]).format(m("aws_secret_access_key", s)))

body = "\\n".join(rnd(string.ascii_letters + string.digits + "+/", 64) for _ in range(6))
add("Here is my key: " + m("private_key", "-----BEGIN RSA PRIVATE KEY-----\\n" + body + "\\n-----END RSA PRIVATE KEY-----") + " do not share")
add(m("private_key", "-----BEGIN PRIVATE KEY-----\\n" + body + "\\n-----END PRIVATE KEY-----"))
add("pasted: " + m("private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\\n" + body + "\\n-----END OPENSSH PRIVATE KEY-----"))
add("truncated: " + m("private_key", "-----BEGIN EC PRIVATE KEY-----\\n" + body))

for alg in ["HS256", "RS256", "ES384", "none"]:
    add(R.choice(["Authorization: Bearer {}", "token={}", "jwt: {}"]).format(m("jwt", jwt(alg))))

toks = ["ghp_" + rnd(AN, 36), "gho_" + rnd(AN, 36), "github_pat_" + rnd(AN, 22) + "_" + rnd(AN, 59), "glpat-" + rnd(AN, 20), "xoxb-" + rnd(string.digits, 12) + "-" + rnd(string.digits, 13) + "-" + rnd(AN, 24),
        "sk_live_" + rnd(AN, 24), "rk_live_" + rnd(AN, 24), "sk-proj-" + rnd(AN + "_-", 48), "sk-" + rnd(AN, 48), "sk-ant-api03-" + rnd(AN + "_-", 93) + "AA", "AIza" + rnd(AN + "_-", 35),
        "npm_" + rnd(AN, 36), "hf_" + rnd(AN, 34), "SG." + rnd(AN, 22) + "." + rnd(AN, 43), "dop_v1_" + rnd("0123456789abcdef", 64), "gsk_" + rnd(AN, 52)]
for t in toks:
    add(R.choice(["token: {}", "export TOKEN={}", "I accidentally pasted {} into chat", "\"api_key\": \"{}\""]).format(m("api_token", t)))

dobs = ["03/14/1985", "1990-07-04", "14.03.1985", "March 5, 1990", "5 March 1990", "Jan 2, 1978", "12/31/1969", "21st of June, 2001", "2/9/77"]
for d in dobs:
    add(R.choice(["Date of birth: {}", "DOB {}", "born on {} in Ohio", "Birthday: {}", "She was born {}."]).format(m("date_of_birth", d)))

for b in ["DEUTDEFF", "NWBKGB2L", "BNPAFRPPXXX", "COBADEFFXXX", "CHASUS33"]:
    add(R.choice(["SWIFT: {}", "BIC {}", "bank SWIFT code {} for the transfer"]).format(m("swift_code", b)))

for _ in range(6):
    n = nhs()
    v = R.choice([n, n[:3] + " " + n[3:6] + " " + n[6:]])
    add(R.choice(["NHS number {}", "Patient NHS no: {}", "her NHS number is {}."]).format(m("uk_nhs", v)))
add("NHS number " + m("uk_nhs", "943 476 5919"))

for _ in range(6):
    s = sin()
    v = R.choice([s[:3] + " " + s[3:6] + " " + s[6:], s[:3] + "-" + s[3:6] + "-" + s[6:], s])
    add(R.choice(["SIN: {}", "Social insurance number {}", "my SIN is {}"]).format(m("ca_sin", v)))

for nino in ["AB123456C", "CE 12 34 56 A", "JG103759A", "PR987654D", "TW 01 23 45 B"]:
    add(R.choice(["NI number: {}", "National Insurance {}", "NINO {}"]).format(m("uk_nino", nino)))

for _ in range(6):
    add(R.choice(["VIN {}", "vehicle identification number: {}", "The car ({}) was towed."]).format(m("vin", vin())))
add("VIN " + m("vin", "1M8GDM9AXKP042788"))

for _ in range(12):
    num = str(R.randint(1, 9999)); st = R.choice(STREETS); c = R.choice(CITIES)
    form = R.randint(0, 3)
    if form == 0: a = f"{num} {st}"
    elif form == 1: a = f"{num} {st}, {c[0]}, {c[1]} {c[2]}"
    elif form == 2: a = f"{num} {st}, Apt 4B, {c[0]}, {c[1]} {c[2]}"
    else: a = f"{num} N {st}, Suite 200"
    add(R.choice(["Ship to {}.", "I live at {}", "Address: {}", "Our office moved to {} last year."]).format(m("address", a)))

for _ in range(10):
    n = name()
    add(R.choice(["My name is {}.", "Dear {},", "Please ask {} to review it.", "Regards,\\n{}", "Name: {}", "{} will join the call."]).format(m("person_name", n)))
for t in ["Mr. ", "Dr ", "Mrs. ", "Ms "]:
    add("Appointment with " + t + m("person_name", R.choice(LAST)) + " at noon.")
add("Meeting notes: " + m("person_name", "Emily Carter") + " and " + m("person_name", "Kevin Hughes") + " agreed.")


# ------------------------------------------------------------------ hand-written, free-form
# Written without looking at the patterns: prose the way users type it. Expect misses here.
hand = [
 "Hi team, {{person_name|Margaret}} from accounting says the refund went out.",
 "I spoke with {{person_name|Luis Fernández}} and {{person_name|Chloé Martin}} this morning.",
 "Forward this to {{person_name|Priya Raghunathan}}, she owns the budget.",
 "{{person_name|Jonathan Blake}}'s laptop was stolen.",
 "The patient, {{person_name|Eleanor Whitfield}}, age 67, was admitted.",
 "Thanks! -- {{person_name|Sam}}",
 "Prof. {{person_name|Ada Lovelace}} wrote the first program.",
 "cc: {{person_name|Rachel Green}}, {{person_name|Ross Geller}}",
 "Our CEO {{person_name|Tim Cook}} will speak.",
 "Landlord: {{person_name|Olusegun Adebayo}}",
 "The Smith Foundation funded the Johnson Library.",
 "{{person_name|Washington Irving}} wrote stories; Washington is also a state.",
 "Jordan River and Victoria Falls are on the list.",
 "Send the package to {{address|221 Baker Street}}, please.",
 "HQ: {{address|1600 Amphitheatre Parkway, Mountain View, CA 94043}}",
 "We met at {{address|350 Fifth Avenue, New York, NY 10118}} for the tour.",
 "Mail checks to PO Box 1234, Springfield, IL 62704.",
 "Her place is {{address|77 Massachusetts Ave, Cambridge, MA 02139}}.",
 "Deliver to {{address|4 Privet Drive}} before noon.",
 "Return address: {{address|10 Rue de la Paix}}, Paris",
 "Turn left after 3 Mile Road and go 2 blocks.",
 "The 7 Dwarfs Mine Train is at Magic Kingdom.",
 "We need 12 Park Avenue style apartments.",
 "Reach me at {{email|first.o'last@sub.example.co.uk}} or {{email|x@example.io}}.",
 "Email: {{email|ÉLODIE.dupont@example.fr}}",
 "Phone {{phone|+44 (0)20 7946 0958}} or fax {{phone|+44 (0)20 7946 0959}}.",
 "Call {{phone|415.555.0123}} ext. 12 or {{phone|(415)555-0145}}.",
 "Whatsapp {{phone|+55 11 91234-5678}}",
 "tel:{{phone|+15555550100}}",
 "The ticket id is 4155550199 and the phone-less record stays.",
 "Wire to IBAN {{iban|GB33BUKB20201555555555}} (BIC {{swift_code|BUKBGB22}}).",
 "IBAN: de89 3704 0044 0532 0130 00 in lower case is not matched (upper case only).",
 "{\"card\": \"{{credit_card|4242424242424242}}\", \"cvc\": \"123\"}",
 "Amex {{credit_card|3714 496353 98431}} and Diners {{credit_card|3056 930902 5904}}.",
 "card=4242-4242 4242-4242 mixed separators",
 "Server logs: 2024-05-01 12:00:01 GET /index from {{ipv4|198.51.100.77}} took 12ms",
 "Docker bridge {{ipv4|172.17.0.1}}, and IPv6 {{ipv6|fd00:dead:beef::1}}.",
 "my date of birth is the {{date_of_birth|4th of July 1976}}",
 "DOB: 1985-02-30 was rejected by the form (no such day).",
 "b. {{date_of_birth|1952-11-03}}, d. 2019-06-09",
 "Born: {{date_of_birth|07/08/1969}}; Married: 06/12/1995.",
 "Here's the AWS config:\\n[default]\\naws_access_key_id={{aws_access_key_id|AKIAI44QH8DHBEXAMPLE}}\\naws_secret_access_key={{aws_secret_access_key|je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY}}",
 "export OPENAI_API_KEY={{api_token|sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vX7zB9cD1fG3hJ5kL7nP9rS1tV3}}",
 "GITHUB_TOKEN: {{api_token|ghs_16C7e42F292c6912E7710c838347Ae178B4a}}",
 "social security: {{us_ssn|536 22 8716}}",
 "routing/transit: {{us_bank_routing|0110-0001-5}}",
 "NINO {{uk_nino|ab123456c}} in lower case",
 "My car's VIN is {{vin|1HGCM82633A004352}}.",
]
lines.extend(hand)

# ------------------------------------------------------------------ near-misses (no spans)
neg = [
 "Order #4111-1111-1111-1112 could not be found.",
 "The tracking number is 1Z999AA10123456784.",
 "Card 4111 1111 1111 1112 was declined (bad check digit).",
 "Invoice 2024-0001-7788 is due on 2024-03-01.",
 "Version 1.2.3.4 of the firmware fixed it.",
 "Upgrade to release 10.0.19041.1234 first.",
 "Chrome/120.0.6099.109 Safari/537.36",
 "OID 1.3.6.1.4.1.311 identifies Microsoft.",
 "Temperature readings: 999.999.999.999 are sentinel values.",
 "Request id 550e8400-e29b-41d4-a716-446655440000 failed.",
 "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 fixed the build",
 "sha1 e83c5163316f89bfbde7d9ab23ca2e25604af290 matches",
 "The epoch timestamp 1700000000 is in November 2023.",
 "Logged at 2024-01-15T10:30:00Z and again at 12:45:10.",
 "The meeting is on 03/14/2025 at 10:00.",
 "Invoice date 2023-11-02, due 2023-12-02.",
 "The project started on March 5, 1990 and ended in 1995.",
 "Part number ABC-123-4567-X is back in stock.",
 "Model SKU 555-123-4567 ships in a week.",
 "The total was $1,234.56 plus 8.25% tax.",
 "ISBN 978-0-306-40615-7 is on the shelf.",
 "ISBN-10: 0-306-40615-2",
 "Population: 8,336,817 (2020 census).",
 "Coordinates 40.7128, -74.0060 are in New York.",
 "Call the function with args 123, 456, 7890.",
 "Order 123-456-789 shipped.",
 "Serial number 123-45-6789 on the label.",
 "The number 078-05-1120 from the wallet card is not a real SSN.",
 "SSN 000-12-3456 is invalid, as is 666-12-3456 and 912-34-5678.",
 "Use 123-45-6789 as a placeholder, never a real one.",
 "Routing of packets through 021000021 hops is odd.",
 "Checksum 987654321 computed.",
 "IBAN DE89370400440532013001 fails the check.",
 "Account GB82WEST1234569876543 is one digit short.",
 "Reference DE00 0000 0000 0000 0000 00 is a template.",
 "Timestamp 12:34:56 and ratio 16:9.",
 "In C++ write std::vector or a::b; in Rust use crate::mod.",
 "The IPv6 loopback is written :: in some docs.",
 "MAC 00:00:00:00:00:00 and FF:FF:FF:FF:FF:FF are reserved.",
 "Time codes 01:02:03:04:05 are five fields.",
 "Send it to user@localhost or @channel.",
 "Retina image icon@2x.png and logo@3x.jpg.",
 "npm install lodash@4.17.21 and @types/node@20.1.0",
 "git@ is not a complete address.",
 "The secret is out: e83c5163316f89bfbde7d9ab23ca2e25604af290 is just a commit.",
 "Base64 blob: QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkw without context.",
 "The key AKIAXXXXXXXXXXXXXXXX is a placeholder.",
 "Set GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx in your env.",
 "sk-your-api-key-here goes in the config.",
 "-----BEGIN CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGUgZXhhbXBsZQ==\\n-----END CERTIFICATE-----",
 "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\\n-----END PUBLIC KEY-----",
 "A markdown rule:\\n-----\\nNext section.",
 "eyJhbGciOi is a truncated header and abc.def.ghi is not a token.",
 "The file config.yaml.bak was copied to backup.tar.gz.",
 "STANDARD DEVIATION and POSITIVE RESULTS were ANYTHING but NEGATIVE.",
 "The DEUTDEFF-like string in lowercase deutdeff is nothing.",
 "NHS number 943 476 5910 has a bad check digit.",
 "Order 415 555 0132 is an order number, not a phone.",
 "Call +1 (123) 456-7890 is a fake format.",
 "Dial 911 or 112 in an emergency.",
 "The code 1234 5678 is not a phone.",
 "There are 3 Main reasons and 2 Big ideas.",
 "In 2024 Apple Park hosted 1200 guests.",
 "Chapter 12 Green Eggs and Ham.",
 "Will you review Monday? Grant Park is closed. May Day parade. Mark the box.",
 "The Great Wall and New York City are famous.",
 "Microsoft Word and Google Docs both work.",
 "VIN 1M8GDM9AXKP042789 has a wrong check digit.",
 "Product code ABCDEFGHJKLMNPRST is 17 letters.",
 "Order id 12345678901234567 is 17 digits.",
 "Nino: QQ123456C is the documented dummy prefix.",
 "Prefix GB123456A is never issued.",
 "SIN 046 454 287 fails Luhn.",
 "Price list: 10.00, 20.00, 30.00.",
 "Room 404 and 2B or not 2B.",
 "Flight LH400 departs 09:35 from gate B22.",
 "Lot 00012345 expires 2026-08-31.",
 "I was born in 1990 and moved in 2001.",
 "Birthday party on 2099-05-05 will be fun.",
 "born 31/02/1990 is not a real date",
 "UUID 123e4567-e89b-12d3-a456-426614174000",
 "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
 "Pi is 3.14159265358979 and e is 2.718281828.",
 "The host 10.0.0.300 is invalid, as is 256.1.1.1.",
 "ratio 1:2:3:4:5:6:7:8:9 of parts",
 "See section 4.2.1.3 for details.",
 "Build 2023.11.26.1 passed.",
 "Payment of 4111111111111111.00 units failed.",
 "Area code 415 and exchange 555 alone.",
 "ABA is the American Bar Association; 123456789 is a number.",
 "http:// alone is not a URL, nor is https://.",
 "The ratio www. is not a site.",
 "Check john.smith at example dot com.",
]
lines.extend(neg)

print("# weir detection corpus, generated by gen.py (deterministic). Format: README.md")
for l in lines:
    print(l)
