"""python -m local.captcha --port 8090 --site KEY:SECRET --scene ID --key ID:SECRET"""

import argparse
import contextlib

from local.acs3 import KeyPair
from local.captcha.server import CaptchaStandIn


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the captcha verify API stand-ins.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--site", action="append", default=[], help="SITE_KEY:SECRET")
    parser.add_argument("--scene", action="append", default=[], help="Captcha 2.0 scene ID")
    parser.add_argument("--key", action="append", default=[], help="ACCESS_KEY_ID:SECRET")
    args = parser.parse_args()
    server = CaptchaStandIn(
        args.host,
        args.port,
        sites=dict(item.split(":", 1) for item in args.site),
        scenes=set(args.scene),
        keys={k: KeyPair(s) for k, s in (item.split(":", 1) for item in args.key)},
    )
    print(f"captcha stand-ins on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
