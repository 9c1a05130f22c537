"""serve_load.py - a bounded load test of `nvlm serve`: 200 requests from 16
concurrent clients, a mix of valid chat completions (every head, some
streamed), /v1/tables, and broken ones (malformed JSON, bad base64,
non-image bytes, unknown model, http URLs, wrong types, a client that
leaves mid-stream). No crash, every valid request answered with the same
greedy text as alone, every broken one a 4xx, p50/p99 latency printed, and
a clean exit 0 on SIGTERM (the sanitizer build checks for leaks there)."""
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from serve_util import SAMPLES, Checks, Server, chat_body, data_url, sse_events  # noqa: E402

N_REQUESTS = 200
N_CLIENTS = 16
Q = "Read the cell."
t = Checks()
url = data_url(os.path.join(SAMPLES, "table1.png"))
url4 = data_url(os.path.join(SAMPLES, "table4.png"))

s = Server("--parallel", "2", "--queue", "64")
try:
    # The answers alone, one at a time: what every valid request must get.
    expect = {}
    for head in "dxh":
        code, _, body = s.request("POST", "/v1/chat/completions", chat_body(url, Q, head, max_tokens=4))
        t.check(code == 200, "warm-up %s: %s" % (head, body))
        expect[head] = body["choices"][0]["message"]["content"] if code == 200 else None
    code, _, body = s.request("POST", "/v1/tables", {"image": url4, "model": "d"})
    expect["table"] = body.get("markdown") if code == 200 else None

    broken = [
        ("malformed JSON", b"{\"messages\": [", 400),
        ("bad base64", chat_body("data:image/png;base64,%%%%", Q), 400),
        ("truncated base64", chat_body(url[:-2], Q), 400),
        ("non-image", chat_body("data:image/png;base64,aGVsbG8gd29ybGQh", Q), 400),
        ("unknown model", chat_body(url, Q, "nvlm-tables:z"), 404),
        ("http URL", chat_body("http://example.com/a.png", Q), 400),
        ("wrong type", chat_body(url, Q, max_tokens="many"), 400),
        ("no messages", {"model": "d"}, 400),
    ]
    rng = random.Random(16)
    plan = []
    for i in range(N_REQUESTS):
        r = rng.random()
        if r < 0.45:
            plan.append(("chat", "dxh"[i % 3]))
        elif r < 0.6:
            plan.append(("stream", "dxh"[i % 3]))
        elif r < 0.63:
            plan.append(("table", "d"))
        elif r < 0.68:
            plan.append(("leave", "d"))
        else:
            plan.append(("broken", rng.randrange(len(broken))))

    lock = threading.Lock()
    latencies = []
    outcomes = {"ok": 0, "refused": 0}
    problems = []
    next_job = [0]

    def run(kind, arg):
        if kind == "chat":
            code, _, body = s.request("POST", "/v1/chat/completions", chat_body(url, Q, arg, max_tokens=4))
            return code == 200 and body["choices"][0]["message"]["content"] == expect[arg], (code, body)
        if kind == "table":
            code, _, body = s.request("POST", "/v1/tables", {"image": url4, "model": arg})
            return code == 200 and body.get("markdown") == expect["table"], (code, body)
        if kind in ("stream", "leave"):
            c = s.conn()
            c.request("POST", "/v1/chat/completions",
                      body=json.dumps(chat_body(url, Q, arg, max_tokens=4, stream=True)),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            if kind == "leave":
                r.read1(5)
                c.sock.close()
                c.close()
                return r.status == 200, r.status
            events = list(sse_events(r))
            c.close()
            text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "")
                           for e in events[:-1] if e.startswith("{"))
            return r.status == 200 and events[-1:] == ["[DONE]"] and text == expect[arg], (r.status, text)
        what, body, want = broken[arg]
        code, _, resp = s.request("POST", "/v1/chat/completions", body)
        return code == want and isinstance(resp, dict) and "error" in resp, (what, code, resp)

    def client():
        while True:
            with lock:
                if next_job[0] >= len(plan):
                    return
                kind, arg = plan[next_job[0]]
                next_job[0] += 1
            t0 = time.time()
            try:
                ok, detail = run(kind, arg)
            except Exception as e:  # a dropped connection is a failure
                ok, detail = False, repr(e)
            dt = time.time() - t0
            with lock:
                latencies.append(dt)
                outcomes["ok" if kind != "broken" else "refused"] += 1
                if not ok:
                    problems.append((kind, arg, str(detail)[:300]))

    start = time.time()
    threads = [threading.Thread(target=client) for _ in range(N_CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.time() - start
    for p in problems[:10]:
        print("problem:", p, file=sys.stderr)
    t.check(not problems, "%d of %d requests went wrong" % (len(problems), len(plan)))
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print("serve_load: %d requests (%d valid, %d broken) from %d clients in %.1f s: p50 %.3f s, p99 %.3f s"
          % (len(latencies), outcomes["ok"], outcomes["refused"], N_CLIENTS, wall, p50, p99))
    # A client that left mid-stream returns at once, but the server only
    # notices at its next token: under a sanitizer build the vision encoder
    # alone takes seconds, so the last requests may still hold a slot here.
    # The server must become idle, not be idle at this instant.
    deadline = time.time() + 120
    while True:
        code, _, body = s.request("GET", "/health")
        idle = code == 200 and body["running"] == 0 and body["waiting"] == 0
        if idle or time.time() > deadline:
            break
        time.sleep(0.25)
    t.check(idle, "health 120 s after the load: %s" % body)
    status = s.stop(signal.SIGTERM)
    t.check(status == 0, "exit status %s after SIGTERM:\n%s" % (status, s.text()[-3000:]))
finally:
    if s.proc.poll() is None:
        s.proc.kill()
t.done("serve_load")
