#!/usr/bin/env python3
"""bench/proxy/stream.py WEIR_BIN - what the gate adds to a streamed completion.

A local upstream streams an Azure chat completion (SSE) of 60 deltas of ~16 bytes, one every
2 ms, with an e-mail address split across three deltas. The same request goes N times
directly to the upstream and N times through `weir serve` (default policy). Prints the time
to first token (first content delta) and to the last byte, as p50/p99, the difference, and
the most bytes one stream held back (weir_stream_held_bytes_max from /metrics)."""
import json, os, socket, subprocess, sys, tempfile, threading, time, urllib.request

N = int(os.environ.get("N", "200"))
WEIR = sys.argv[1] if len(sys.argv) > 1 else "build/weir"

TEXT = ("The migration plan looks sound. Please send the runbook to ops.lead"
        "@example.com before Friday so the on-call team can review the rollback "
        "steps and the dashboards that need updating during the cut-over window.")
DELTAS = [TEXT[i:i + 16] for i in range(0, len(TEXT), 16)]

def sse(obj):
    data = b"data: " + json.dumps(obj).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)

def chunk_of(text, finish=None):
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "delta": ({"content": text} if text is not None else {}),
                         "finish_reason": finish}]}

def serve_upstream(sock):
    def handle(c):
        try:
            while True:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, rest = buf.partition(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                while len(rest) < n:
                    rest += c.recv(65536)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n")
                c.sendall(sse(chunk_of("")))
                for d in DELTAS:
                    time.sleep(0.002)
                    c.sendall(sse(chunk_of(d)))
                c.sendall(sse(chunk_of(None, "stop")))
                done = b"data: [DONE]\n\n"
                c.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
                if b"connection: close" in head.lower():
                    return
        except OSError:
            pass
        finally:
            c.close()
    while True:
        c, _ = sock.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(c,), daemon=True).start()

BODY = json.dumps({"model": "gpt-4o", "stream": True,
                   "messages": [{"role": "user", "content": "Summarise the plan."}]}).encode()

def one(port):
    """(seconds to the first content delta, seconds to the end, body)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    s.sendall(b"POST /openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21 HTTP/1.1\r\n"
              b"Host: x\r\nContent-Type: application/json\r\napi-key: caller\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
    data, first = b"", None
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
        if data.endswith(b"\r\n0\r\n\r\n"):
            break
        if first is None and b'"content": "The' in data.replace(b'"content":"', b'"content": "'):
            first = time.perf_counter() - t0
    s.close()
    return first, time.perf_counter() - t0, data

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]

def main():
    up = socket.socket()
    up.bind(("127.0.0.1", 0))
    up.listen(128)
    uport = up.getsockname()[1]
    threading.Thread(target=serve_upstream, args=(up,), daemon=True).start()
    free = []
    for _ in range(2):
        t = socket.socket(); t.bind(("127.0.0.1", 0)); free.append(t.getsockname()[1]); t.close()
    wport, aport = free
    tmp = tempfile.mkdtemp()
    cfg = os.path.join(tmp, "weir.yaml")
    with open(cfg, "w") as f:
        f.write(f"""admin: 127.0.0.1:{aport}
workers: 1
log_level: warn
upstreams:
  - name: azure
    kind: azure
    listen: 127.0.0.1:{wport}
    endpoint: http://127.0.0.1:{uport}
    region: swedencentral
    deployment_type: datazone
    api_key_env: BENCH_AZURE_KEY
""")
    env = dict(os.environ, BENCH_AZURE_KEY="k")
    w = subprocess.Popen([WEIR, "serve", "--config", cfg], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{aport}/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        res = {}
        for name, port in (("direct", uport), ("weir", wport)):
            one(port)
            firsts, totals = [], []
            for _ in range(N):
                f, t, body = one(port)
                firsts.append(f); totals.append(t)
            res[name] = (firsts, totals, body)
        body = res["weir"][2]
        assert b"ops.lead" not in body and b"[EMAIL]" in body, "the split e-mail must be redacted"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{aport}/metrics").read().decode()
        held = [l for l in metrics.splitlines() if l.startswith("weir_stream_held_bytes_max")]
        print(f"| {N} streams, 60 deltas of 16 B, 2 ms apart | p50 | p99 |")
        print("|---|---|---|")
        for name in ("direct", "weir"):
            f, t, _ = res[name]
            print(f"| {name}: time to first token | {pct(f,50)*1e3:.2f} ms | {pct(f,99)*1e3:.2f} ms |")
        for name in ("direct", "weir"):
            f, t, _ = res[name]
            print(f"| {name}: time to last byte | {pct(t,50)*1e3:.2f} ms | {pct(t,99)*1e3:.2f} ms |")
        d50 = pct(res["weir"][0], 50) - pct(res["direct"][0], 50)
        print(f"\nadded time to first token (p50): {d50*1e3:.2f} ms")
        print("hold-back: " + (held[0] if held else "(no metric)") + " bytes")
    finally:
        w.terminate()
        w.wait(timeout=30)

main()
