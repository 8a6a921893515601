"""Python `websockets` as an agent and a human: exec.run streaming, then an
approval answered from a second connection.

Usage: py_exec.py URL TOKEN FILE. Prints one JSON line per step; exits
non-zero on any deviation from PROTOCOL.md.
"""
import asyncio
import json
import sys

import websockets


async def open_client(url, token, client_id, scopes):
    ws = await websockets.connect(url, max_size=2**22)
    challenge = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert challenge["event"] == "connect.challenge", challenge
    await ws.send(json.dumps({
        "type": "req", "id": "c1", "method": "connect",
        "params": {"minProtocol": 3, "maxProtocol": 4,
                   "client": {"id": client_id, "version": "1", "platform": sys.platform, "mode": "cli"},
                   "auth": {"token": token}, "scopes": scopes},
    }))
    hello = json.loads(await asyncio.wait_for(ws.recv(), 20))
    assert hello["ok"] is True, hello
    return ws


async def until(ws, pred):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if pred(frame):
            return frame


async def main(url, token, path):
    agent = await open_client(url, token, "py-agent", ["operator.read", "operator.write"])
    human = await open_client(url, token, "py-human", ["operator.read", "operator.approvals"])
    # Streaming: three lines, events carry contiguous offsets, then the exit.
    await agent.send(json.dumps({"type": "req", "id": "r1", "method": "exec.run",
                                 "params": {"command": "for i in 1 2 3; do echo line $i; done", "yieldMs": 0}}))
    res = await until(agent, lambda f: f.get("type") == "res" and f["id"] == "r1")
    assert res["ok"] is True, res
    pid = res["payload"]["processId"]
    text, offset = "", 0
    while True:
        f = await until(agent, lambda f: f.get("type") == "event" and f["payload"].get("processId") == pid)
        if f["event"] == "process.exit":
            assert f["payload"]["exitCode"] == 0, f
            break
        assert f["payload"]["offset"] == offset, f
        text += f["payload"]["data"]
        offset += len(f["payload"]["data"].encode())
    assert text == "line 1\nline 2\nline 3\n", text
    print(json.dumps({"step": "stream", "bytes": offset}))
    # Approval: the agent waits, the human allows once from another socket.
    await agent.send(json.dumps({"type": "req", "id": "r2", "method": "exec.run",
                                 "params": {"command": f"chmod 777 {path}"}}))
    asked = await until(human, lambda f: f.get("event") == "exec.approval.requested")
    assert asked["payload"]["coach"]["decision"] == "approve", asked
    await human.send(json.dumps({"type": "req", "id": "a1", "method": "exec.approval.resolve",
                                 "params": {"id": asked["payload"]["id"], "decision": "allow-once"}}))
    ok = await until(human, lambda f: f.get("type") == "res" and f["id"] == "a1")
    assert ok["ok"] is True, ok
    res = await until(agent, lambda f: f.get("type") == "res" and f["id"] == "r2")
    assert res["ok"] is True and res["payload"]["exitCode"] == 0, res
    print(json.dumps({"step": "approved", "status": res["payload"]["status"]}))
    await agent.close()
    await human.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
