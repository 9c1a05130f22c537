"""serve_page.py - the page of `nvlm serve` (GET /) in headless Chromium,
driven over the DevTools protocol (a small WebSocket client below, standard
library only): load the page, put assets/samples/table1.png into its file
input, press Run in "table" mode and then in "question" mode, wait for the
D, X and H columns, and check them in the DOM: each table equals what
/v1/tables answers, each streamed answer what a plain chat completion
answers, with the numbers shown. Saves a screenshot, serve_page.png, in
the test's build folder. Exit 77 (skip) when Chromium is not installed."""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from serve_util import SAMPLES, Checks, Server, chat_body, data_url  # noqa: E402

chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    print("SKIP: chromium is not installed (Debian package chromium; .ci/run installs it)")
    sys.exit(77)

t = Checks()
IMAGE = os.path.join(SAMPLES, "table1.png")
Q = "Read the cell."


class DevTools:
    """One WebSocket to one page target: send a command, wait for its reply."""

    def __init__(self, ws_url):
        host, rest = ws_url[len("ws://"):].split("/", 1)
        h, p = host.split(":")
        self.sock = socket.create_connection((h, int(p)), timeout=120)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (rest, host, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("DevTools handshake: %r" % head)
        self.next_id = 0

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise RuntimeError("DevTools connection closed")
            buf += chunk
        return buf

    def _recv_message(self):
        data = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._recv_exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._recv_exact(8), "big")
            data += self._recv_exact(n)
            if b0 & 0x80:
                return data

    def call(self, method, **params):
        self.next_id += 1
        payload = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + n.to_bytes(2, "big") if n < 65536 else
                                bytes([0x80 | 127]) + n.to_bytes(8, "big"))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while True:
            msg = json.loads(self._recv_message())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg["result"]

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        return r["result"].get("value")


def wait_for(dt, expr, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if dt.js(expr):
            return True
        time.sleep(0.2)
    t.check(False, "timed out waiting for " + what)
    return False


COLUMNS = """JSON.stringify([...document.querySelectorAll('.col')].map(c => ({
    id: c.id, model: c.dataset.model, state: c.dataset.state,
    answer: c.querySelector('.answer').textContent,
    stats: c.querySelector('.stats').textContent})))"""

s = Server("--parallel", "3")
profile = tempfile.mkdtemp(prefix="nvlm-chromium-")
browser = None
try:
    # What the page must show: the server's own answers.
    tables, answers = {}, {}
    for head in "dxh":
        _, _, body = s.request("POST", "/v1/tables", {"image": data_url(IMAGE), "model": head})
        tables[head] = body.get("markdown")
        _, _, body = s.request("POST", "/v1/chat/completions", chat_body(data_url(IMAGE), Q, head, temperature=0))
        answers[head] = body["choices"][0]["message"]["content"]

    browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                "--remote-debugging-port=0", "--user-data-dir=" + profile,
                                "--window-size=1400,900", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 60
    while not os.path.exists(port_file) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)
    devtools_port = int(open(port_file).read().split()[0])
    targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % devtools_port, timeout=30))
    page = [x for x in targets if x.get("type") == "page"][0]
    dt = DevTools(page["webSocketDebuggerUrl"])
    dt.call("Page.enable")
    dt.call("Page.navigate", url="http://127.0.0.1:%d/" % s.port)
    wait_for(dt, "document.querySelectorAll('.col').length === 3", 60, "the three columns")

    # Put the sample into the file input, as a user picking it would.
    doc = dt.call("DOM.getDocument")
    node = dt.call("DOM.querySelector", nodeId=doc["root"]["nodeId"], selector="#file")
    dt.call("DOM.setFileInputFiles", files=[IMAGE], nodeId=node["nodeId"])
    wait_for(dt, "document.getElementById('preview').src.startsWith('data:image/png')", 30, "the image preview")

    for mode in ("table", "ask"):
        dt.js("delete document.body.dataset.done; document.getElementById('mode').value = '%s';"
              "document.getElementById('q').value = %s; document.getElementById('go').click(); true"
              % (mode, json.dumps(Q)))
        wait_for(dt, "document.body.dataset.done === '1'", 240, "three %s answers" % mode)
        cols = json.loads(dt.js(COLUMNS))
        t.check([c["id"] for c in cols] == ["col-d", "col-x", "col-h"], "columns: %s" % cols)
        for c in cols:
            head = c["id"][-1]
            want = tables[head] if mode == "table" else answers[head]
            t.check(c["state"] == "done" and c["answer"] == want,
                    "%s %s: page shows %r (%s), server answers %r" % (mode, head, c["answer"], c["state"], want))
            if mode == "ask":
                t.check("image tokens in the stream" in c["stats"] and "cross-attention keys" in c["stats"]
                        and "first token" in c["stats"] and "tokens/s" in c["stats"],
                        "%s stats: %r" % (head, c["stats"]))
        t.check(dt.js("document.getElementById('status').textContent") == "done", "status done")

    shot = dt.call("Page.captureScreenshot", format="png")
    out = os.path.join(os.getcwd(), "serve_page.png")
    with open(out, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print("serve_page: screenshot in", out)
    t.check(os.path.getsize(out) > 1000, "screenshot written")
finally:
    if browser:
        browser.kill()
        browser.wait()
    shutil.rmtree(profile, ignore_errors=True)
    status = s.stop()
    t.check(status == 0, "server exit status %s" % status)
t.done("serve_page")
