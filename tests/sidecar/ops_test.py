#!/usr/bin/env python3
"""ops_test.py WEIR_BIN - weir serve's operations with real sockets: admin endpoints, bad
input answered in the provider's shape, policy reload (SIGHUP and file change, a bad
policy refused while the old one keeps serving), and SIGTERM draining an in-flight call."""
import http.client, json, os, signal, socket, subprocess, sys, tempfile, threading, time

WEIR = sys.argv[1] if len(sys.argv) > 1 else "weir"
failures = []

def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        failures.append(what)

class Upstream(threading.Thread):
    """Azure-like upstream: echoes the last user message; 'SLOW' waits 2 s."""
    daemon = True
    def __init__(self):
        super().__init__()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.count = 0
    def run(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.handle, args=(c,), daemon=True).start()
    BIG_DELTAS = 48 * 1024   # x ~1 KiB of text: a 48 MiB completion

    def stream_big(self, c):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        word = "lorem ipsum dolor sit amet " * 38
        ev = ("data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1,
              "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": word},
              "finish_reason": None}]}) + "\n\n").encode()
        frame = b"%x\r\n%s\r\n" % (len(ev), ev)
        batch = frame * 64
        for _ in range(self.BIG_DELTAS // 64):
            c.sendall(batch)
        done = b"data: [DONE]\n\n"
        c.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))

    def handle(self, c):
        try:
            while True:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, body = buf.partition(b"\r\n\r\n")
                n = next((int(l.split(b":")[1]) for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")), 0)
                while len(body) < n:
                    body += c.recv(65536)
                self.count += 1
                req = json.loads(body)
                text = req["messages"][-1]["content"]
                if req.get("stream"):
                    self.stream_big(c)
                    continue
                if "SLOW" in text:
                    time.sleep(2)
                out = json.dumps({"id": "c1", "object": "chat.completion", "created": 1,
                                  "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text}}]}).encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(out), out))
        except OSError:
            pass
        finally:
            c.close()

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

PATH = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"

def request(port, body, path=PATH, headers=None, method="POST"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"Content-Type": "application/json", "api-key": "caller"}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data

def chat(port, text):
    return request(port, json.dumps({"messages": [{"role": "user", "content": text}]}))

def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read().decode()

def metric(port, name):
    _, text = get(port, "/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(name))

REDACT = "weir: 1\nname: ops-redact\nrules:\n  - id: emails\n    detect: email\n    action: redact\n"
BLOCK = "weir: 1\nname: ops-block\nrules:\n  - id: emails\n    detect: email\n    action: block\n"

def main():
    up = Upstream(); up.start()
    tmp = tempfile.mkdtemp(prefix="weir-ops-")
    pol = os.path.join(tmp, "policy.yaml")
    open(pol, "w").write(REDACT)
    port, admin = free_port(), free_port()
    cfg = os.path.join(tmp, "weir.yaml")
    open(cfg, "w").write(f"""policy: {pol}
admin: 127.0.0.1:{admin}
workers: 2
audit: {{ dir: {tmp}/audit, jsonl_stdout: true }}
limits: {{ max_body_bytes: 64KiB, max_header_bytes: 8KiB, drain_timeout_ms: 10000 }}
upstreams:
  - name: azure
    kind: azure
    listen: 127.0.0.1:{port}
    endpoint: http://127.0.0.1:{up.port}
    region: swedencentral
    deployment_type: datazone
    api_key_env: OPS_KEY
""")
    out = open(os.path.join(tmp, "stdout"), "w+")
    err = open(os.path.join(tmp, "stderr"), "w+")
    env = dict(os.environ, OPS_KEY="upstream-key")
    # under ASan, freed memory sits in a quarantine that would read as buffering
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "quarantine_size_mb=1"]))
    w = subprocess.Popen([WEIR, "serve", "--config", cfg], stdout=out, stderr=err, env=env)
    try:
        for _ in range(100):
            try:
                if get(admin, "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        check(get(admin, "/healthz")[0] == 200, "/healthz answers 200")
        check(get(admin, "/readyz")[0] == 200, "/readyz answers 200 once the policy is loaded")

        st, h, body = chat(port, "mail jane.doe@example.com")
        check(st == 200 and b"[EMAIL]" in body and b"jane.doe" not in body,
              "a prompt's e-mail address is redacted before the upstream sees it")
        check(h.get("x-weir-action") == "redact", "the answer says x-weir-action: redact")

        # bad input, each in Azure's error shape
        st, h, body = request(port, b"{not json")
        check(st == 400 and "error" in json.loads(body), "malformed JSON: 400 with an error object")
        st, h, body = request(port, b"{}", path="/openai/deployments/x/images/generations")
        check(st == 404 and "error" in json.loads(body), "unknown route: 404 with an error object")
        st, h, body = request(port, b"{}", method="GET")
        check(st == 405, "GET on a POST route: 405")
        big = json.dumps({"messages": [{"role": "user", "content": "x" * 70000}]})
        st, h, body = request(port, big)
        check(st == 413 and "error" in json.loads(body), "body over max_body_bytes: 413 with an error object")
        st, h, body = request(port, b"{}", headers={"X-Big": "a" * 9000})
        check(st == 431, "headers over max_header_bytes: 431")
        n = metric(admin, "weir_requests_total")
        check(n >= 5, f"/metrics counts requests (weir_requests_total = {n:g})")

        # reload: a bad policy is refused, the old one keeps serving
        open(pol, "w").write("weir: 1\nname: broken\nrules: [ {id: x, detect: nope, action: block} ]\n")
        w.send_signal(signal.SIGHUP)
        time.sleep(1)
        check(metric(admin, 'weir_policy_reloads_total{result="refused"}') >= 1,
              "SIGHUP with a bad policy: the reload is refused and counted")
        st, h, body = chat(port, "mail jane.doe@example.com")
        check(st == 200 and b"[EMAIL]" in body, "the previous policy keeps serving")
        # a good policy through SIGHUP
        open(pol, "w").write(BLOCK)
        w.send_signal(signal.SIGHUP)
        time.sleep(1)
        st, h, body = chat(port, "mail jane.doe@example.com")
        check(st == 400 and json.loads(body)["error"]["code"] == "content_filter",
              "SIGHUP with a good policy: the new policy blocks at once")
        # a file change alone
        open(pol, "w").write(REDACT + "# changed\n")
        deadline = time.time() + 10
        while time.time() < deadline:
            st, h, body = chat(port, "mail jane.doe@example.com")
            if st == 200:
                break
            time.sleep(0.5)
        check(st == 200 and b"[EMAIL]" in body, "a changed policy file is reloaded without a signal")

        # backpressure: a client that stops reading a 48 MiB stream does not make weir buffer it
        def rss_kb(pid):
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        base = rss_kb(w.pid)
        sk = socket.create_connection(("127.0.0.1", port))
        sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        body = json.dumps({"stream": True, "messages": [{"role": "user", "content": "big"}]}).encode()
        sk.sendall(b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        first = sk.recv(4096)
        time.sleep(3)  # not reading: weir must pause the upstream, not buffer
        stalled = rss_kb(w.pid)
        total, tail = len(first), b""
        sk.settimeout(60)
        while True:
            d = sk.recv(1 << 20)
            if not d:
                break
            total += len(d)
            tail = (tail + d)[-64:]
        sk.close()
        check(first.startswith(b"HTTP/1.1 200"), "a 48 MiB completion streams through")
        check(stalled - base < 24 * 1024,
              f"while the client does not read, weir's memory stays bounded (+{(stalled - base) // 1024} MiB)")
        check(total > 48 * 1024 * 1024 and b"[DONE]" in tail,
              f"every byte arrives once the client reads again ({total // (1024 * 1024)} MiB)")

        # drain: a slow call in flight finishes; new connections are refused
        result = {}
        def slow():
            result["r"] = chat(port, "SLOW please")
        t = threading.Thread(target=slow); t.start()
        time.sleep(0.5)
        w.send_signal(signal.SIGTERM)
        t.join(15)
        check(result.get("r", (0,))[0] == 200, "SIGTERM: the in-flight call still completes")
        try:
            rc = w.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"weir exits 0 after draining (exit {rc})")
        out.seek(0)
        trail = out.read()
        check("PolicyReloadRefused" in trail and "PolicyReloadAccepted" in trail and
              "GateStop" in trail, "reloads (refused and accepted) and the stop are audited")
        check("jane.doe@example.com" not in trail, "the trail holds no raw e-mail address")
        err.seek(0)
        check("jane.doe@example.com" not in err.read(), "the logs hold no raw e-mail address")
    finally:
        if w.poll() is None:
            w.kill()
    if failures:
        err.seek(0)
        print("--- weir stderr\n" + err.read()[-3000:])
        sys.exit(1)

if __name__ == "__main__":
    main()
