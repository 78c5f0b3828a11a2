"""The sandbox AWS: moto's server with the sandbox's CloudFormation extensions loaded.

    python -m sandbox.moto_server -H 127.0.0.1 -p 5000

Takes moto_server's options unchanged. Set MOTO_PORT to the port (Step Functions service
integrations call back to it); sandbox.processes does this.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from sandbox import moto_ext

    moto_ext.install()

    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
