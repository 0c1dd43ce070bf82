#!/usr/bin/env python3
"""identity_test.py WEIR_BIN - who the caller is: a principal header believed only from
trusted peers (missing -> 401, untrusted -> 403, the role-scoped policy decides on the
principal), a Bedrock caller whose SigV4 scope names another region (403); and an upstream
that does not answer in time (504)."""
import json, os, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_test as O

WEIR = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def main():
    up = O.Upstream(); up.start()
    tmp = tempfile.mkdtemp(prefix="weir-id-")
    trusted, untrusted, bedrock, admin = (O.free_port() for _ in range(4))
    role_scoped = os.path.join(ROOT, "policies", "role-scoped.yaml")
    cfg = os.path.join(tmp, "weir.yaml")
    open(cfg, "w").write(f"""policy: {role_scoped}
admin: 127.0.0.1:{admin}
audit: {{ dir: {tmp}/audit, jsonl_stdout: true }}
limits: {{ upstream_first_byte_timeout_ms: 1000 }}
upstreams:
  - name: trusted
    kind: azure
    listen: 127.0.0.1:{trusted}
    endpoint: http://127.0.0.1:{up.port}
    region: swedencentral
    deployment_type: datazone
    api_key_env: ID_KEY
    identity: {{ source: header, header: x-caller-arn, trusted_peers: [127.0.0.1/32] }}
  - name: untrusted
    kind: azure
    listen: 127.0.0.1:{untrusted}
    endpoint: http://127.0.0.1:{up.port}
    region: swedencentral
    deployment_type: datazone
    api_key_env: ID_KEY
    identity: {{ source: header, header: x-caller-arn, trusted_peers: [10.0.0.0/8] }}
  - name: bedrock
    kind: bedrock
    listen: 127.0.0.1:{bedrock}
    endpoint: http://127.0.0.1:{up.port}
    region: eu-central-1
    principal: arn:aws:iam::111122223333:role/llm-app
""")
    out = open(os.path.join(tmp, "stdout"), "w+")
    err = open(os.path.join(tmp, "stderr"), "w+")
    env = dict(os.environ, ID_KEY="k", AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
               AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    w = subprocess.Popen([WEIR, "serve", "--config", cfg], stdout=out, stderr=err, env=env)
    try:
        for _ in range(100):
            try:
                if O.get(admin, "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]})
        app = "arn:aws:sts::111122223333:assumed-role/llm-app/session-7"
        intern = "arn:aws:iam::111122223333:role/llm-intern-bob"
        st, h, b = O.request(trusted, body, headers={"x-caller-arn": app})
        O.check(st == 200, f"a trusted peer's principal header is believed (assumed-role -> role allowed): {st}")
        st, h, b = O.request(trusted, body, headers={"x-caller-arn": intern})
        O.check(st == 403 and "error" in json.loads(b), f"the role-scoped policy denies the intern role: {st}")
        st, h, b = O.request(trusted, body)
        O.check(st == 401 and "error" in json.loads(b), f"no principal header: 401 in Azure's error shape: {st}")
        st, h, b = O.request(trusted, body, headers={"x-caller-arn": "not an arn"})
        O.check(st == 403, f"a principal header that is not an ARN: 403: {st}")
        st, h, b = O.request(untrusted, body, headers={"x-caller-arn": app})
        O.check(st == 403 and b"untrusted" in b, f"the header from a peer outside trusted_peers: 403: {st}")
        slow = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "SLOW"}]})
        st, h, b = O.request(trusted, slow, headers={"x-caller-arn": app})
        O.check(st == 504 and "error" in json.loads(b),
                f"an upstream silent past upstream_first_byte_timeout_ms: 504 in Azure's shape: {st}")
        n0 = up.count
        conv = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        st, h, b = O.request(bedrock, conv, path="/model/amazon.nova-pro-v1%3A0/converse", headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/bedrock/"
                             "aws4_request, SignedHeaders=host, Signature=" + "0" * 64})
        O.check(st == 403 and h.get("x-amzn-ErrorType") == "AccessDeniedException" and
                b"us-east-1" in b and up.count == n0,
                f"a Bedrock call signed for us-east-1 on an eu-central-1 listener: 403, not forwarded: {st}")
        w.send_signal(signal.SIGTERM)
        O.check(w.wait(30) == 0, "weir exits 0")
        out.seek(0)
        recs = [json.loads(l) for l in out if l.startswith("{")]
        calls = [r for r in recs if r.get("eventType") == "AwsApiCall"]
        arns = [r.get("userIdentity", {}).get("arn") for r in calls]
        O.check(any(a and "llm-intern-bob" in a for a in arns) and
                any(r.get("errorCode") in ("AuthenticationRequired", "AccessDenied") for r in calls),
                "denials and refusals are audited with the caller's identity")
    finally:
        if w.poll() is None:
            w.kill()
    if O.failures:
        err.seek(0)
        print("--- weir stderr\n" + err.read()[-3000:])
        sys.exit(1)

main()
