"""A minimal QMP client for the tools' experiments with plain QEMUs
(no Godwit code in the path): connect to a QMP server socket, negotiate,
run commands."""
import json
import socket
import time


class Qmp:
    def __init__(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("r")
        self.file.readline()  # the greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None, **kwargs):
        """Runs a command (arguments as a dict or as keywords) and returns
        its "return" value; a QMP error or a closed socket raises."""
        msg = {"execute": name}
        if args is not None or kwargs:
            msg["arguments"] = dict(args or {}, **kwargs)
        self.sock.sendall((json.dumps(msg) + "\n").encode())
        while True:
            line = self.file.readline()
            if not line:
                raise RuntimeError("QEMU closed QMP during %s" % name)
            reply = json.loads(line)
            if "error" in reply:
                raise RuntimeError("%s: %s" % (name, reply["error"].get("desc", reply["error"])))
            if "return" in reply:
                return reply["return"]

    def close(self):
        self.sock.close()
