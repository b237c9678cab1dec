"""`python -m bot [run|migrate]`: config → logging → runner. Errors in the configuration stop
the bot with one line naming the variable and exit code 2, without a traceback."""

from __future__ import annotations

import asyncio
import sys

from bot.cli import build_parser, dispatch_command
from bot.config import ConfigError
from bot.suppliers.loader import CatalogError


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(dispatch_command(args))
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    except CatalogError as exc:
        print(f"Supplier catalog error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
