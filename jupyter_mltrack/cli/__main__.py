"""``python -m jupyter_mltrack.cli``: the ``mltrack`` command."""

from . import main

main()
