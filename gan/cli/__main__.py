"""``python -m gan.cli``: the ``divergences`` command."""

from gan.cli import main

raise SystemExit(main())
