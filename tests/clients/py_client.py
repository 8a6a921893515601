"""A raw Python `websockets` client: handshake, health, a bad frame, close.

Usage: py_client.py URL TOKEN [CAFILE]. With a wss:// URL, CAFILE is the only
certificate trusted (the gateway's self-signed one). Prints one JSON line per step; exits non-zero
on any deviation from PROTOCOL.md.
"""
import asyncio
import json
import ssl
import sys

import websockets


async def main(url: str, token: str, cafile: "str | None") -> None:
    tls = ssl.create_default_context(cafile=cafile) if url.startswith("wss://") else None
    async with websockets.connect(url, max_size=2**20, ssl=tls) as ws:
        challenge = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert challenge["event"] == "connect.challenge", challenge
        assert challenge["payload"]["nonce"], challenge
        await ws.send(json.dumps({
            "type": "req", "id": "c1", "method": "connect",
            "params": {
                "minProtocol": 3, "maxProtocol": 4,
                "client": {"id": "python-websockets", "version": websockets.__version__,
                           "platform": sys.platform, "mode": "cli"},
                "auth": {"token": token}, "scopes": ["operator.read"],
            },
        }))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert hello["ok"] is True and hello["payload"]["type"] == "hello-ok", hello
        print(json.dumps({"step": "hello", "protocol": hello["payload"]["protocol"]}))
        await ws.send(json.dumps({"type": "req", "id": "h1", "method": "health"}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if frame.get("type") == "res" and frame["id"] == "h1":
                break
        assert frame["ok"] is True and frame["payload"]["ok"] is True, frame
        print(json.dumps({"step": "health", "active": frame["payload"]["gateway"]["connections"]["active"]}))
        await ws.send("not json")
        bad = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert bad["ok"] is False and bad["error"]["code"] == "INVALID_REQUEST", bad
        print(json.dumps({"step": "bad-frame", "code": bad["error"]["code"]}))
        pong = await ws.ping(b"py")
        await asyncio.wait_for(pong, 20)
        print(json.dumps({"step": "ping"}))
    print(json.dumps({"step": "closed", "code": ws.close_code}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
