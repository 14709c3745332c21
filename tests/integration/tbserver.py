"""Start the real TensorBoard on a log directory and talk to its HTTP API."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

TB_SAMPLES = "scalars=100000,images=1000,histograms=1000,audio=1000,text=1000,pr_curves=1000,tensors=1000"


class TensorBoard:
    """One tensorboard process on 127.0.0.1 with an OS-chosen port."""

    def __init__(self, logdir, load_fast, extra_args=()):
        self.logdir = str(logdir)
        self.load_fast = load_fast
        self._log = tempfile.NamedTemporaryFile(prefix="tb-", suffix=".log", delete=False)
        exe = os.path.join(os.path.dirname(sys.executable), "tensorboard")
        args = [exe, "--logdir", self.logdir, "--host", "127.0.0.1", "--port", "0",
                f"--load_fast={load_fast}", "--reload_interval", "1",
                f"--samples_per_plugin={TB_SAMPLES}", *extra_args]
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.base = self._wait_for_port()

    def _output(self):
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def _wait_for_port(self, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(r"TensorBoard \S+ at (http://127\.0\.0\.1:\d+)/", self._output())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited {self.proc.returncode}:\n{self._output()}")
            time.sleep(0.2)
        raise RuntimeError(f"tensorboard did not start in {timeout}s:\n{self._output()}")

    def url(self, path, **params):
        query = urllib.parse.urlencode(params, doseq=True)
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def get(self, path, **params):
        with urllib.request.urlopen(self.url(path, **params), timeout=60) as r:
            return r.read(), r.headers.get("Content-Type", "")

    def json(self, path, **params):
        body, _ = self.get(path, **params)
        return json.loads(body)

    def post_json(self, path, payload):
        req = urllib.request.Request(self.base + path, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def wait_for(self, fn, what, timeout=90):
        """Polls fn() until it returns a truthy value; data loads asynchronously."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = fn()
                if last:
                    return last
            except Exception as e:  # not served yet
                last = e
            time.sleep(0.5)
        raise AssertionError(f"TensorBoard (load_fast={self.load_fast}) never showed {what}; last: {last!r}\n"
                             f"{self._output()[-3000:]}")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self._log.name)
