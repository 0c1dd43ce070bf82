#!/usr/bin/env python3
"""redact_test.py WEIR_BIN - a match that spans two messages of one request (the policy's
regex allows whitespace between words, and the words sit in two messages) is still
redacted in both before the upstream sees the request: weir checks the messages as one
text and never forwards what that check wants redacted."""
import json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_test as O

WEIR = sys.argv[1]

def main():
    up = O.Upstream(); up.start()
    tmp = tempfile.mkdtemp(prefix="weir-redact-")
    pol = os.path.join(tmp, "policy.yaml")
    open(pol, "w").write("weir: 1\nname: codenames\nrules:\n  - id: codename\n"
                         "    detect: { regex: 'project\\s+falcon', caseless: true, label: CODENAME }\n"
                         "    action: redact\n")
    port, admin = O.free_port(), O.free_port()
    cfg = os.path.join(tmp, "weir.yaml")
    open(cfg, "w").write(f"""policy: {pol}
admin: 127.0.0.1:{admin}
upstreams:
  - name: azure
    kind: azure
    listen: 127.0.0.1:{port}
    endpoint: http://127.0.0.1:{up.port}
    region: swedencentral
    deployment_type: datazone
    api_key_env: K
""")
    err = open(os.path.join(tmp, "stderr"), "w+")
    w = subprocess.Popen([WEIR, "serve", "--config", cfg], env=dict(os.environ, K="k"),
                         stderr=err, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if O.get(admin, "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        one = json.dumps({"messages": [{"role": "user", "content": "status of project falcon?"}]})
        st, h, b = O.request(port, one)
        O.check(st == 200 and b"[CODENAME]" in b and b"falcon" not in b,
                "a match inside one message is redacted with the policy's label")
        two = json.dumps({"messages": [{"role": "system", "content": "Answer questions about project"},
                                       {"role": "user", "content": "falcon launch dates"}]})
        st, h, b = O.request(port, two)
        msg = json.loads(b)["choices"][0]["message"]["content"] if st == 200 else ""
        O.check(st == 200 and "falcon" not in msg.lower() and "launch dates" in msg,
                f"a match spanning two messages is redacted in both: {msg!r}")
        w.terminate()
        O.check(w.wait(30) == 0, "weir exits 0")
    finally:
        if w.poll() is None:
            w.kill()
    if O.failures:
        err.seek(0)
        print("--- weir stderr\n" + err.read()[-2000:])
        sys.exit(1)

main()
