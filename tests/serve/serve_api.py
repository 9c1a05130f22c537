"""serve_api.py - `nvlm serve` end to end with the bundled model: models,
health, the page, chat completions with an image on every head (greedy
answers identical to `nvlm ask`), streaming (the same text, role first,
usage and nvlm's numbers last, [DONE]), stop strings, /v1/tables on
assets/samples (identical to `nvlm table`, JSON and raw-image bodies),
every refusal as a 4xx OpenAI error object with the server still serving,
the API key, the queue's 503 + Retry-After, a client leaving mid-stream
freeing its slot, /metrics, and SIGTERM during a request: exit 0."""
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from serve_util import NVLM, SAMPLES, Checks, Server, chat_body, data_url, sse_events  # noqa: E402

KEY = "test-key-123"
AUTH = {"Authorization": "Bearer " + KEY}
Q = "Read the cell."
t = Checks()


def png(width, height):
    """A white greyscale PNG of the given size (compresses to little)."""
    raw = b"".join(b"\0" + b"\xff" * width for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def is_error(resp, status, what):
    code, hd, body = resp
    ok = (code == status and isinstance(body, dict) and isinstance(body.get("error"), dict)
          and isinstance(body["error"].get("message"), str) and body["error"].get("type"))
    t.check(ok, "%s: expected %d with an error object, got %d %s" % (what, status, code, str(body)[:300]))
    return ok


def cli_ask(image, head, n):
    out = subprocess.run([NVLM, "ask", "--image", image, "-p", Q, "--fusion", head, "-n", str(n), "--json"],
                         capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)


def cli_table(image, head):
    out = subprocess.run([NVLM, "table", "--fusion", head, image], capture_output=True, text=True, timeout=300)
    return out.stdout


s = Server("--api-key", KEY, "--max-body", "300000", "--max-pixels", "2000000",
           "--parallel", "1", "--queue", "1", "--grace", "30")
try:
    # -- basics and the key
    code, _, body = s.request("GET", "/health", headers=AUTH)
    t.check(code == 200 and body.get("status") == "ok", "health: %s" % body)
    code, _, body = s.request("GET", "/v1/models", headers=AUTH)
    ids = [m["id"] for m in body.get("data", [])] if code == 200 else []
    t.check(ids == ["nvlm-tables:d", "nvlm-tables:x", "nvlm-tables:h"], "models: %s" % body)
    code, hd, page = s.request("GET", "/")
    t.check(code == 200 and "<title>nvlm" in page and hd["content-type"].startswith("text/html"),
            "GET / without a key: the page")
    is_error(s.request("GET", "/v1/models"), 401, "no key")
    is_error(s.request("GET", "/health", headers={"Authorization": "Bearer wrong"}), 401, "wrong key")
    is_error(s.request("POST", "/v1/chat/completions", chat_body(None, Q),
                       headers={"Authorization": "Bearer " + KEY + "x"}), 401, "longer key")

    # -- chat completions on every head, against nvlm ask
    img = os.path.join(SAMPLES, "table1.png")
    url = data_url(img)
    answers = {}
    for head in "dxh":
        code, _, body = s.request("POST", "/v1/chat/completions",
                                  chat_body(url, Q, "nvlm-tables:" + head, max_tokens=24), AUTH)
        if not t.check(code == 200, "chat %s: %d %s" % (head, code, body)):
            continue
        text = body["choices"][0]["message"]["content"]
        answers[head] = body
        ref = cli_ask(img, head, 24)
        t.check(text == ref["text"], "chat %s: %r over HTTP, %r from nvlm ask" % (head, text, ref["text"]))
        u = body["usage"]
        t.check(u["prompt_tokens"] == len(ref["prompt_ids"]) and u["completion_tokens"] > 0
                and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], "usage %s: %s" % (head, u))
        n = body["nvlm"]
        t.check(n["fusion"] == head and n["tiles"] == ref["tiles"]
                and n["image_tokens_in_stream"] == ref["image_tokens_in_stream"]
                and n["xattn_tokens"] == ref["xattn_tokens"]
                and all(k in n["timings_ms"] for k in ("vision", "prefill", "decode")),
                "nvlm field %s: %s" % (head, n))
        t.check(body["choices"][0]["finish_reason"] in ("stop", "length") and body["object"] == "chat.completion",
                "finish_reason %s" % head)
    # the bare head name and a JPEG data: URL type also work
    code, _, body = s.request("POST", "/v1/chat/completions",
                              chat_body(url.replace("image/png", "image/jpeg"), Q, "D", max_tokens=24), AUTH)
    t.check(code == 200 and "d" in answers and body["choices"][0]["message"]["content"]
            == answers["d"]["choices"][0]["message"]["content"], "model 'D' with image/jpeg type")

    # -- streaming: the same text
    for head in "dh":
        c = s.conn()
        c.request("POST", "/v1/chat/completions",
                  body=json.dumps(chat_body(url, Q, "nvlm-tables:" + head, max_tokens=24, stream=True)),
                  headers=dict(AUTH, **{"Content-Type": "application/json"}))
        r = c.getresponse()
        t.check(r.status == 200 and r.getheader("Content-Type") == "text/event-stream", "stream %s status" % head)
        events = list(sse_events(r))
        c.close()
        chunks = [json.loads(e) for e in events[:-1]]
        t.check(events and events[-1] == "[DONE]", "stream %s ends with [DONE]" % head)
        t.check(chunks and chunks[0]["choices"][0]["delta"].get("role") == "assistant", "stream %s role first" % head)
        text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks)
        if head in answers:
            t.check(text == answers[head]["choices"][0]["message"]["content"],
                    "stream %s: %r, whole %r" % (head, text, answers[head]["choices"][0]["message"]["content"]))
        last = chunks[-1] if chunks else {}
        t.check(last.get("choices", [{}])[0].get("finish_reason") in ("stop", "length")
                and "usage" in last and "nvlm" in last and last.get("object") == "chat.completion.chunk",
                "stream %s: last chunk %s" % (head, last))

    # -- stop strings cut the answer before them
    full = answers.get("d", {}).get("choices", [{}])[0].get("message", {}).get("content", "")
    if len(full) >= 4:
        stop = full[2:4]
        code, _, body = s.request("POST", "/v1/chat/completions",
                                  chat_body(url, Q, "d", max_tokens=24, stop=[stop]), AUTH)
        t.check(code == 200 and body["choices"][0]["message"]["content"] == full[:full.find(stop)]
                and body["choices"][0]["finish_reason"] == "stop", "stop %r: %s" % (stop, body))

    # -- tables, against nvlm table
    for name, heads in (("table1.png", "dxh"), ("table4.png", "d")):
        path = os.path.join(SAMPLES, name)
        for head in heads:
            code, _, body = s.request("POST", "/v1/tables", {"image": data_url(path), "model": head}, AUTH)
            ref = cli_table(path, head)
            t.check(code == 200 and body.get("markdown") == ref,
                    "tables %s %s: %d %r, nvlm table %r" % (name, head, code, body, ref))
    with open(os.path.join(SAMPLES, "table1.png"), "rb") as f:
        raw = f.read()
    code, _, body = s.request("POST", "/v1/tables?model=nvlm-tables:x", raw,
                              dict(AUTH, **{"Content-Type": "image/png"}))
    t.check(code == 200 and body.get("model") == "nvlm-tables:x"
            and body.get("markdown") == cli_table(os.path.join(SAMPLES, "table1.png"), "x"),
            "tables with the image as the body: %s" % body)

    # -- refusals: 4xx, an error object, the server keeps serving
    def chat(body, **kw):
        return s.request("POST", "/v1/chat/completions", body, AUTH, **kw)
    is_error(chat(b"{not json"), 400, "malformed JSON")
    is_error(chat(b""), 400, "empty body")
    is_error(chat(b"[1, 2]"), 400, "not an object")
    # 290 KB of "[0,0,...]" (within --max-body) would parse to ~11 MB
    r = chat(b"[" + b"0," * 145000 + b"0]")
    if is_error(r, 400, "JSON over the memory budget"):
        t.check("above the limit of 12x its size" in r[2]["error"]["message"],
                "memory budget message: %s" % r[2]["error"]["message"])
    is_error(chat({"messages": 5}), 400, "messages not an array")
    is_error(chat({"messages": []}), 400, "no messages")
    is_error(chat(chat_body(url, Q, max_tokens="ten")), 400, "max_tokens a string")
    is_error(chat(chat_body(url, Q, max_tokens=1.5)), 400, "max_tokens not whole")
    is_error(chat(chat_body(url, Q, temperature=7)), 400, "temperature out of range")
    is_error(chat(chat_body(url, Q, stream="yes")), 400, "stream not a bool")
    is_error(chat(chat_body(url, Q, n=2)), 400, "n = 2")
    is_error(chat(chat_body(url, Q, tools=[{"type": "function"}])), 400, "tools")
    is_error(chat(chat_body(url, Q, stop=[1])), 400, "stop not strings")
    is_error(chat({"messages": [{"role": "system", "content": "be nice"}]}), 400, "system role")
    is_error(chat({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}), 400, "audio part")
    is_error(chat({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                                            {"type": "image_url", "image_url": {"url": url}}]}]}),
             400, "two images")
    is_error(chat(chat_body(url, Q, "nvlm-tables:q")), 404, "unknown model")
    is_error(chat(chat_body(url, Q, model=7)), 400, "model not a string")
    is_error(chat(chat_body("https://example.com/t.png", Q)), 400, "https URL")
    is_error(chat(chat_body("http://example.com/t.png", Q)), 400, "http URL")
    is_error(chat(chat_body("data:text/plain;base64,aGVsbG8=", Q)), 400, "data: URL of text")
    is_error(chat(chat_body("data:image/png;base64,aGVsbG8gd29ybGQh", Q)), 400, "non-image bytes")
    is_error(chat(chat_body(url[:-3], Q)), 400, "truncated base64")
    is_error(chat(chat_body(url[:len(url) // 2 // 4 * 4], Q)), 400, "truncated image")
    is_error(chat(chat_body("data:image/png;base64,@@@@", Q)), 400, "invalid base64")
    big = "data:image/png;base64," + __import__("base64").b64encode(png(2000, 1200)).decode()
    is_error(chat(chat_body(big, Q)), 400, "image over --max-pixels")
    is_error(chat(chat_body(url, "x" * 400000)), 413, "body over --max-body")
    is_error(s.request("POST", "/v1/tables", {"model": "d"}, AUTH), 400, "tables without an image")
    is_error(s.request("POST", "/v1/tables", {"image": 5}, AUTH), 400, "tables image not a string")
    is_error(s.request("POST", "/v1/tables", b"not an image", dict(AUTH, **{"Content-Type": "image/png"})),
             400, "tables non-image body")
    is_error(s.request("GET", "/v1/chat/completions", headers=AUTH), 405, "GET on chat")
    is_error(s.request("GET", "/v2/nothing", headers=AUTH), 404, "unknown path")
    code, _, body = s.request("GET", "/health", headers=AUTH)
    t.check(code == 200, "still serving after the refusals")

    # -- the queue: --parallel 1 --queue 1: a third request at once gets 503
    results = {}
    def slow(i):
        results[i] = s.request("POST", "/v1/tables", {"image": data_url(os.path.join(SAMPLES, "table3.png"))}, AUTH)
    threads = [threading.Thread(target=slow, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
        time.sleep(0.3)
    busy = chat(chat_body(url, Q, max_tokens=4))
    for th in threads:
        th.join()
    if is_error(busy, 503, "third request with --parallel 1 --queue 1"):
        t.check(busy[1].get("retry-after") == "1", "503 has Retry-After")
    t.check(all(r[0] == 200 for r in results.values()), "the running and the queued request: %s"
            % [r[0] for r in results.values()])

    # -- a client that leaves mid-stream frees its slot
    c = s.conn()
    c.request("POST", "/v1/chat/completions",
              body=json.dumps(chat_body(url, Q, max_tokens=2000, stream=True)),
              headers=dict(AUTH, **{"Content-Type": "application/json"}))
    r = c.getresponse()
    r.read1(10)
    c.sock.close()
    c.close()
    freed = False
    for _ in range(100):
        code, _, body = s.request("GET", "/health", headers=AUTH)
        if code == 200 and body["running"] == 0:
            freed = True
            break
        time.sleep(0.1)
    t.check(freed, "slot freed after the client left: %s" % body)
    code, _, body = chat(chat_body(url, Q, max_tokens=4))
    t.check(code == 200, "answers after the client left")

    # -- metrics
    code, hd, text = s.request("GET", "/metrics", headers=AUTH)
    t.check(code == 200 and hd["content-type"].startswith("text/plain")
            and 'nvlm_requests_total{path="/v1/chat/completions",code="200"}' in text
            and 'nvlm_request_duration_seconds_bucket{model="nvlm-tables:d",le="+Inf"}' in text
            and "nvlm_queue_length 0" in text and 'code="400"' in text, "metrics:\n" + text[:2000])

    # -- SIGTERM while a request runs: it finishes, exit 0
    done = {}
    th = threading.Thread(target=lambda: done.setdefault("r", s.request(
        "POST", "/v1/tables", {"image": data_url(os.path.join(SAMPLES, "table2.png"))}, AUTH)))
    th.start()
    for _ in range(300):  # until the request holds its slot
        if s.request("GET", "/health", headers=AUTH)[2].get("running") == 1:
            break
        time.sleep(0.05)
    status = s.stop(signal.SIGTERM)
    th.join()
    t.check(status == 0, "exit status after SIGTERM: %s\n%s" % (status, s.text()[-2000:]))
    t.check(done.get("r", (0,))[0] == 200, "the request running at SIGTERM finished: %s" % (done.get("r"),))
finally:
    if s.proc.poll() is None:
        s.proc.kill()
t.done("serve_api")
