"""A local FC runtime in-process: start(), url, stop(); what tests and `make run` use."""

from __future__ import annotations

import threading
from types import TracebackType

from local.fc_runtime.config import RuntimeConfig
from local.fc_runtime.gateway import Gateway
from local.fc_runtime.instances import Pool
from local.fc_runtime.server import Server


class Runtime:
    """Serves one function over HTTP on `host:port` (port 0 picks a free one)."""

    def __init__(self, config: RuntimeConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.pool = Pool(config)
        self.server = Server((host, port), Gateway(config, self.pool), config.max_body_bytes)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="fc-runtime", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Runtime:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        self.pool.close()

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
