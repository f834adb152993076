"""``python -m nbchannel.relay``: see :mod:`nbchannel.relay.app`."""

from .app import main

if __name__ == "__main__":
    main()
