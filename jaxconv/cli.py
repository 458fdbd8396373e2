"""The ``jaxconv`` command: ``jaxconv check`` (and the commands of later modules)."""

from __future__ import annotations

import sys

_COMMANDS = {
    "check": ("jaxconv.check", "verify every hand-written rule against jax.grad and finite differences"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: jaxconv {" + ",".join(_COMMANDS) + "} [options]\n")
        for name, (_, text) in _COMMANDS.items():
            print(f"  {name:<7} {text}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in _COMMANDS:
        print(f"jaxconv: unknown command {name!r}; choose from {', '.join(_COMMANDS)}",
              file=sys.stderr)
        return 2
    import importlib
    return importlib.import_module(_COMMANDS[name][0]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
