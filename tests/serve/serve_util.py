"""serve_util.py - starts `nvlm serve` on a free loopback port (--port 0:
the server prints the port it got) with the bundled model, and talks to it
with the standard library only. Shared by tests/serve/*.py."""
import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

NVLM = os.environ["NVLM_BIN"]
ROOT = os.environ["NV_SOURCE_ROOT"]
SAMPLES = os.path.join(ROOT, "assets", "samples")


def data_url(path, kind="png"):
    with open(path, "rb") as f:
        return "data:image/%s;base64,%s" % (kind, base64.b64encode(f.read()).decode())


class Server:
    def __init__(self, *args, log=None):
        self.log_path = log or os.path.join(
            os.environ.get("MESON_BUILD_ROOT", "/tmp"), "serve-%d.log" % os.getpid())
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([NVLM, "serve", "--port", "0", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        self.port = None
        while time.time() < deadline and self.port is None:
            if self.proc.poll() is not None:
                raise RuntimeError("nvlm serve exited %d:\n%s" % (self.proc.returncode, self.text()))
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", self.text())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.1)
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("nvlm serve did not start:\n" + self.text())

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def conn(self, timeout=300):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=300):
        """(status, headers dict, parsed JSON or text)."""
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c = self.conn(timeout)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        hd = {k.lower(): v for k, v in r.getheaders()}
        if hd.get("content-type", "").startswith("application/json"):
            data = json.loads(data)
        else:
            data = data.decode("utf-8", "replace")
        return r.status, hd, data

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends sig and returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def chat_body(image, text, model="nvlm-tables:d", **kw):
    content = [{"type": "text", "text": text}]
    if image:
        content.insert(0, {"type": "image_url", "image_url": {"url": image}})
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    body.update(kw)
    return body


def sse_events(resp):
    """The data: payloads of a server-sent event stream, as they come."""
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if ev.startswith(b"data: "):
                yield ev[6:].decode()


class Checks:
    def __init__(self):
        self.failures = 0
        self.count = 0

    def check(self, ok, what):
        self.count += 1
        if not ok:
            self.failures += 1
            print("FAILED:", what, file=sys.stderr)
        return ok

    def done(self, name):
        print("%s: %d checks, %d failed" % (name, self.count, self.failures))
        sys.exit(1 if self.failures else 0)
