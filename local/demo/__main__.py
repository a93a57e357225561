"""python -m local.demo --port 8080 --api URL --inbox URL"""

import argparse
import contextlib

from local.demo.server import DemoServer


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the verification demo page.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--api", required=True, help="the function's URL")
    parser.add_argument("--inbox", required=True, help="the DM emulator's inbox URL")
    args = parser.parse_args()
    server = DemoServer(args.host, args.port, args.api, args.inbox)
    print(f"demo page on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
