"""A real JupyterLab session against a running server: a python3 kernel runs a cell over its websocket."""

from __future__ import annotations

import json
import uuid

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


class KernelGone(Exception):
    """The kernel's websocket closed before the cell finished (the kernel died, or the server)."""


async def run_cell(ws_url: str, headers: dict[str, str], code: str) -> str:
    """Execute `code` over a kernel's channels websocket, as JupyterLab does; return its output."""
    ws = await websocket_connect(HTTPRequest(ws_url, headers=headers))
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "mlops-hub-test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    output: list[str] = []
    reply = None
    idle = False
    # the reply (shell channel) may come before the output (iopub): done when both are in
    while reply is None or not idle:
        raw = await ws.read_message()
        if raw is None:
            raise KernelGone("kernel websocket closed; output so far: " + "".join(output))
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            output.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            output.append("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status":
            idle = msg["content"]["execution_state"] == "idle"
        elif msg["msg_type"] == "execute_reply":
            reply = msg
    ws.close()
    if reply["content"]["status"] != "ok":
        raise RuntimeError("cell failed: " + "".join(output))
    return "".join(output)


def start_kernel(base_url: str, headers: dict[str, str], kernel: str = "python3") -> str:
    """A kernel in a new notebook session (as JupyterLab opens one); its channels URL."""
    r = requests.post(f"{base_url}api/sessions", headers=headers, timeout=60, json={
        "path": f"bench-{uuid.uuid4().hex[:8]}.ipynb", "type": "notebook", "name": "",
        "kernel": {"name": kernel}})
    r.raise_for_status()
    kernel_id = r.json()["kernel"]["id"]
    return kernel_channels_url(base_url, kernel_id)


def kernel_channels_url(base_url: str, kernel_id: str) -> str:
    """The kernel's websocket: wss:// behind the front door's https, ws:// on a plain server."""
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}api/kernels/{kernel_id}/channels"
