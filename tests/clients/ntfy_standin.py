"""A local HTTP server standing in for ntfy (or any webhook receiver):
prints `PORT n`, then one JSON line per POST it receives
({path, authorization, body}) and answers 200 like ntfy's publish.
Exits when stdin closes (the test ends)."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        print(json.dumps({"path": self.path, "authorization": self.headers.get("Authorization"),
                          "contentType": self.headers.get("Content-Type"), "body": body}), flush=True)
        out = b'{"id":"standin","event":"message"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print("PORT", srv.server_address[1], flush=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
sys.stdin.read()
srv.shutdown()
