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
    parser.add_argument("--captcha", help="the captcha stand-in's URL (human check on)")
    parser.add_argument("--captcha-provider", default="turnstile")
    parser.add_argument("--captcha-site", default="", help="site key, or scene ID for aliyun")
    args = parser.parse_args()
    captcha = None
    if args.captcha:
        captcha = {
            "provider": args.captcha_provider,
            "site": args.captcha_site,
            "url": args.captcha,
        }
    server = DemoServer(args.host, args.port, args.api, args.inbox, captcha)
    print(f"demo page on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
