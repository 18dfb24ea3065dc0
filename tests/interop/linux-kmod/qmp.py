#!/usr/bin/env python3
# qmp.py SOCKET COMMAND [JSON-ARGUMENTS] [--wait-event NAME]: one QMP command to a QEMU,
# printing its reply; with --wait-event, then waits (up to 60 s) for that event.
# Exit 0 when the command succeeded (and the event came), 1 otherwise.
import json
import socket
import sys


def main():
    args = sys.argv[1:]
    event = None
    if "--wait-event" in args:
        i = args.index("--wait-event")
        event = args[i + 1]
        del args[i:i + 2]
    path, command = args[0], args[1]
    arguments = json.loads(args[2]) if len(args) > 2 else None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(path)
    stream = sock.makefile("rw")

    def send(cmd, arguments=None):
        msg = {"execute": cmd}
        if arguments is not None:
            msg["arguments"] = arguments
        stream.write(json.dumps(msg) + "\n")
        stream.flush()

    def receive():
        line = stream.readline()
        if not line:
            raise RuntimeError("QMP connection closed")
        return json.loads(line)

    receive()  # greeting
    send("qmp_capabilities")
    events = []
    for cmd, cmd_args in (("qmp_capabilities", None), (command, arguments)):
        if cmd != "qmp_capabilities":
            send(cmd, cmd_args)
        while True:
            msg = receive()
            if "event" in msg:
                events.append(msg)
                continue
            if "error" in msg:
                print(f"qmp.py: {cmd}: {msg['error'].get('desc')}", file=sys.stderr)
                return 1
            if cmd == command:
                print(json.dumps(msg))
            break
    if event:
        while not any(e["event"] == event for e in events):
            events.append(receive())
        print(json.dumps([e for e in events if e["event"] == event][0]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, RuntimeError, ValueError) as e:
        print(f"qmp.py: {e}", file=sys.stderr)
        sys.exit(1)
