"""``python -m awu.cli``: the ``awu`` command without the installed script."""

from awu.cli import main

raise SystemExit(main())
